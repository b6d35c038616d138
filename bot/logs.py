"""Own log setup and redaction: secrets (bot token, API key, ...) never reach any output.

Every log line is redacted after formatting (message, exception text and stack alike), and
uncaught exceptions (main thread and other threads) print a redacted traceback through
`install_excepthooks`. Must not import Telegram, conversations or the Skiplino client.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Iterable
from types import TracebackType
from urllib.parse import quote

REDACTED = "***"
# Shorter values would blank out ordinary words; no real secret is that short.
MIN_SECRET_LENGTH = 4
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Redactor:
    """Replace every known secret, raw or URL-encoded, in a text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        """Remember the secrets worth hiding (empty and very short ones are ignored)."""
        self.secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Hide these secrets too."""
        for secret in secrets:
            if not secret or len(secret) < MIN_SECRET_LENGTH:
                continue
            # A token in a URL path or query shows up percent-encoded (":" becomes "%3A").
            for form in (secret, quote(secret, safe=""), quote(secret)):
                if form not in self.secrets:
                    self.secrets.append(form)
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """Return ``text`` with every secret replaced by ``***``."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


class RedactSecrets(logging.Filter):
    """Replace every known secret in a record's message and exception text."""

    def __init__(self, secrets: Iterable[str] | Redactor) -> None:
        """Hide ``secrets`` (or share an existing redactor)."""
        super().__init__()
        self.redact = secrets if isinstance(secrets, Redactor) else Redactor(secrets)

    @property
    def secrets(self) -> list[str]:
        """Return the hidden values."""
        return self.redact.secrets

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message without the secrets; always keep the record."""
        if not self.redact.secrets:
            return True
        message = record.getMessage()
        cleaned = self.redact(message)
        if record.exc_info and record.exc_text is None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class RedactingFormatter(logging.Formatter):
    """A formatter whose every output line has the secrets replaced."""

    def __init__(self, redact: Redactor, fmt: str | None = LOG_FORMAT) -> None:
        """Format like ``fmt``, then redact with ``redact``."""
        super().__init__(fmt)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        """Return the formatted record without secrets."""
        return self.redact(super().format(record))


# One redactor per process: every handler, hook and later call shares what it hides.
_REDACTOR = Redactor()


def redactor() -> Redactor:
    """Return the process's redactor."""
    return _REDACTOR


def _redacted_traceback(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> str:
    """Return the traceback text of an exception with the secrets replaced."""
    return _REDACTOR("".join(traceback.format_exception(exc_type, exc, tb)))


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    """Print an uncaught exception's traceback without secrets."""
    sys.stderr.write(_redacted_traceback(exc_type, exc, tb))
    sys.stderr.flush()


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    """Print an uncaught exception of a thread without secrets."""
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "unknown"
    sys.stderr.write(f"Exception in thread {name}:\n")
    _excepthook(args.exc_type, args.exc_value, args.exc_traceback)


def install_excepthooks(secrets: Iterable[str] = ()) -> None:
    """Make uncaught exceptions print tracebacks with ``secrets`` replaced."""
    _REDACTOR.add(secrets)
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook


def setup_logging(secrets: Iterable[str] = (), level: int = logging.INFO) -> None:
    """Configure the root logger once; every handler redacts ``secrets`` from its lines."""
    _REDACTOR.add(secrets)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format=LOG_FORMAT)
    for handler in root.handlers:
        # The formatter sees the final text (message, exception, stack), so nothing a
        # library puts in a record can slip past it.
        current = handler.formatter
        if not isinstance(current, RedactingFormatter):
            fmt = current._fmt if current is not None else LOG_FORMAT
            handler.setFormatter(RedactingFormatter(_REDACTOR, fmt))
    # httpx logs every request URL at INFO, and Telegram URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
