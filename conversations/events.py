"""Own the plain-data events a conversation reacts to; the adapter builds them from Updates.

Must not import Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UserInfo:
    """Who sent the update, as far as the conversation needs to know."""

    id: int
    first_name: str = ""
    last_name: str = ""
    language_code: str | None = None

    @property
    def full_name(self) -> str:
        """Return the display name Telegram gave us."""
        return " ".join(part for part in (self.first_name, self.last_name) if part).strip()


@dataclass(frozen=True)
class Command:
    """A slash command and the text after it (``/start t_abc``: ``start``, ``t_abc``)."""

    name: str
    arg: str = ""


@dataclass(frozen=True)
class TextInput:
    """Text the user typed."""

    text: str


@dataclass(frozen=True)
class Tap:
    """A tap on an inline button, with its raw (untrusted) callback data."""

    data: str
    message_id: int | None = None


@dataclass(frozen=True)
class ContactShared:
    """A contact the user sent; ``user_id`` is whose contact it is (None: not a Telegram user)."""

    phone: str
    user_id: int | None


Event = Command | TextInput | Tap | ContactShared
