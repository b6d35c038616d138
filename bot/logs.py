"""Own log setup: secrets (bot token, API key) never reach a log line.

Must not import Telegram, conversations or the Skiplino client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

REDACTED = "***"


class RedactSecrets(logging.Filter):
    """Replace every known secret in a record's final message."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message without the secrets; always keep the record."""
        if not self.secrets:
            return True
        message = record.getMessage()
        cleaned = message
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, REDACTED)
        if record.exc_info and record.exc_text is None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            text = record.exc_text
            for secret in self.secrets:
                text = text.replace(secret, REDACTED)
            record.exc_text = text
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def setup_logging(secrets: Iterable[str] = (), level: int = logging.INFO) -> None:
    """Configure the root logger once, with secret redaction on every handler."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    redact = RedactSecrets(secrets)
    for handler in root.handlers:
        handler.addFilter(redact)
    # httpx logs every request URL at INFO, and Telegram URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
