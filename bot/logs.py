"""Own log setup and redaction: secrets (bot token, API key, ...) never reach any output.

Every log line is redacted after formatting (message, exception text and stack alike), and
uncaught exceptions (main thread and other threads) print a redacted traceback through
`install_excepthooks`. Lines are text (default) or one JSON object per line
(``LOG_FORMAT=json``). While an update is handled, `update_context` puts its update id and a
keyed hash of its chat id in a context variable, and every line logged meanwhile carries
both (never the raw chat id, a name or a phone number). Must not import Telegram,
conversations or the Skiplino client.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import hmac
import logging
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

from pythonjsonlogger.json import JsonFormatter

REDACTED = "***"
# Shorter values would blank out ordinary words; no real secret is that short.
MIN_SECRET_LENGTH = 4
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The fields of a JSON line besides the update context; renamed to the usual short names.
JSON_FIELDS = ("asctime", "levelname", "name", "message")
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}
# 48 bits tell thousands of chats apart in the logs and cannot be reversed to a chat id.
CHAT_HASH_HEX = 12

LogFormat = Literal["text", "json"]


@dataclass(frozen=True)
class UpdateContext:
    """What every line logged while an update is handled says about it."""

    update_id: int | None
    chat: str | None  # the keyed hash of the chat id, never the id itself


_UPDATE: contextvars.ContextVar[UpdateContext | None] = contextvars.ContextVar(
    "log_update_context", default=None
)
# Replaced by `set_chat_hash_key` at start-up with a key derived from the bot token, so the
# same chat hashes alike across restarts and replicas but not across bots.
_CHAT_KEY = [b"skiplino-bot"]


def set_chat_hash_key(key: bytes) -> None:
    """Key the chat id hash with ``key`` (stable for one bot, secret to outsiders)."""
    _CHAT_KEY[0] = key


def chat_hash(chat_id: int) -> str:
    """Return the chat's pseudonym in the logs: the first hex digits of an HMAC-SHA256."""
    digest = hmac.new(_CHAT_KEY[0], str(chat_id).encode("ascii"), hashlib.sha256).hexdigest()
    return digest[:CHAT_HASH_HEX]


@contextlib.contextmanager
def update_context(update_id: int | None, chat_id: int | None) -> Iterator[UpdateContext]:
    """Tag every line logged inside the block with the update id and the hashed chat id."""
    context = UpdateContext(update_id, chat_hash(chat_id) if chat_id is not None else None)
    token = _UPDATE.set(context)
    try:
        yield context
    finally:
        _UPDATE.reset(token)


def current_update() -> UpdateContext | None:
    """Return the context of the update being handled by this task, if any."""
    return _UPDATE.get()


class UpdateFields(logging.Filter):
    """Add ``update_id`` and ``chat`` (hashed) to a record logged while an update runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Copy the current update context onto the record; always keep the record."""
        context = _UPDATE.get()
        if context is not None:
            if context.update_id is not None:
                record.update_id = context.update_id
            if context.chat is not None:
                record.chat = context.chat
        return True


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
        """Return the formatted record without secrets, with its update context if any."""
        text = super().format(record)
        tags = " ".join(
            f"{name}={getattr(record, name)}"
            for name in ("update_id", "chat")
            if hasattr(record, name)
        )
        if tags:
            first, newline, rest = text.partition("\n")
            text = f"{first} [{tags}]{newline}{rest}"
        return self.redact(text)


class RedactingJsonFormatter(JsonFormatter):
    """One JSON object per line, every string field (and the whole line) without secrets."""

    def __init__(self, redact: Redactor) -> None:
        """Format the usual fields plus any update context, then redact with ``redact``."""
        super().__init__(list(JSON_FIELDS), rename_fields=dict(JSON_RENAMES))
        self.redact = redact

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        """Redact every string value before it is serialised."""
        for key, value in log_data.items():
            if isinstance(value, str):
                log_data[key] = self.redact(value)
        return log_data

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one redacted JSON line."""
        # A secret with characters JSON escapes would otherwise slip past the value pass.
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


def make_formatter(
    log_format: LogFormat = "text", fmt: str | None = LOG_FORMAT
) -> logging.Formatter:
    """Return the process's redacting formatter for ``log_format``."""
    if log_format == "json":
        return RedactingJsonFormatter(_REDACTOR)
    return RedactingFormatter(_REDACTOR, fmt)


def configure_handler(handler: logging.Handler, log_format: LogFormat = "text") -> None:
    """Make ``handler`` redact, add the update context and write ``log_format`` lines."""
    # The formatter sees the final text (message, exception, stack), so nothing a library
    # puts in a record can slip past it.
    current = handler.formatter
    if log_format == "json":
        if not isinstance(current, RedactingJsonFormatter):
            handler.setFormatter(make_formatter("json"))
    elif not isinstance(current, RedactingFormatter):
        fmt = current._fmt if current is not None else LOG_FORMAT
        handler.setFormatter(make_formatter("text", fmt))
    # On the handler, not a logger: a logger's filters do not see its children's records.
    if not any(isinstance(f, UpdateFields) for f in handler.filters):
        handler.addFilter(UpdateFields())


def setup_logging(
    secrets: Iterable[str] = (),
    level: int = logging.INFO,
    *,
    log_format: LogFormat = "text",
    chat_key: bytes | None = None,
) -> None:
    """Configure the root logger once; every handler redacts ``secrets`` from its lines."""
    _REDACTOR.add(secrets)
    if chat_key is not None:
        set_chat_hash_key(chat_key)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format=LOG_FORMAT)
    for handler in root.handlers:
        configure_handler(handler, log_format)
    quiet_libraries()


def quiet_libraries() -> None:
    """Keep the libraries' lines that carry secrets or personal data out of every log."""
    # httpx logs every request URL at INFO, and Telegram URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # python-telegram-bot logs whole updates and API payloads at DEBUG: users' names, phone
    # numbers and messages. Its INFO and up say what an operator needs. A filter on each of
    # its loggers (made when its modules are imported) rather than a level, so the root
    # level still rules INFO and up.
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger) or not (name + ".").startswith("telegram."):
            continue
        if not any(isinstance(f, NoDebug) for f in logger.filters):
            logger.addFilter(NoDebug())


class NoDebug(logging.Filter):
    """Drop DEBUG records of the logger it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep INFO and up."""
        return record.levelno > logging.DEBUG
