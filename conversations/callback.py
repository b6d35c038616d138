"""Own the compact, versioned callback-data format of inline buttons.

Format: ``<version>|<step>|<action>[|arg...]`` in ASCII, at most 64 bytes (Telegram's limit).
``step`` is the session step the button was drawn for, in base 36, so a tap on a button of an
earlier step is recognised. Nothing decoded here is trusted: handlers validate every argument.
Must not import Telegram.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VERSION = "1"
MAX_BYTES = 64
_SEP = "|"
_ARG = re.compile(r"^[A-Za-z0-9_.:\-]{0,40}$")
_ACTION = re.compile(r"^[a-z][a-z0-9_]{0,11}$")


@dataclass(frozen=True)
class CallbackData:
    """A decoded button payload."""

    step: int
    action: str
    args: tuple[str, ...] = ()

    def arg(self, index: int, default: str = "") -> str:
        """Return argument ``index`` or ``default`` when absent."""
        return self.args[index] if index < len(self.args) else default


def _to_base36(number: int) -> str:
    """Write a non-negative integer in base 36."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    if number == 0:
        return "0"
    out = []
    while number:
        number, rest = divmod(number, 36)
        out.append(digits[rest])
    return "".join(reversed(out))


def encode(step: int, action: str, *args: str) -> str:
    """Encode a button payload; raise ValueError when it would not fit Telegram's limit."""
    if not _ACTION.match(action):
        raise ValueError(f"bad action {action!r}")
    for arg in args:
        if not _ARG.match(arg):
            raise ValueError(f"bad argument {arg!r}")
    data = _SEP.join((VERSION, _to_base36(max(step, 0)), action, *args))
    if len(data.encode("ascii")) > MAX_BYTES:
        raise ValueError(f"callback data longer than {MAX_BYTES} bytes: {data!r}")
    return data


def decode(data: str | None) -> CallbackData | None:
    """Decode a button payload; return None for anything malformed or of another version."""
    if not data or len(data.encode("utf-8", "replace")) > MAX_BYTES:
        return None
    parts = data.split(_SEP)
    if len(parts) < 3 or parts[0] != VERSION:
        return None
    step_text, action, args = parts[1], parts[2], tuple(parts[3:])
    if not _ACTION.match(action) or not all(_ARG.match(a) for a in args):
        return None
    try:
        step = int(step_text, 36)
    except ValueError:
        return None
    return CallbackData(step=step, action=action, args=args)
