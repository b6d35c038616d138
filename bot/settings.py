"""Own the process configuration: the only module that reads the environment.

Names are the contract of docs/architecture.md §8; other tools rely on them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org/bot"
DEFAULT_SKIPLINO_API_URL = "https://api-dev.skiplino.com/external/v1"
DEFAULT_WEBHOOK_PATH = "/telegram/webhook"
DEFAULT_UPDATE_DEADLINE_SECONDS = 20.0
# The schemes redis-py's ``from_url`` accepts.
REDIS_SCHEMES = ("redis", "rediss", "unix")
# What Telegram accepts as setWebhook's secret_token.
WEBHOOK_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class Settings(BaseSettings):
    """Configuration read from the environment and an optional ``.env`` file."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    telegram_bot_token: SecretStr | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    telegram_api_url: str = Field(default=DEFAULT_TELEGRAM_API_URL, alias="TELEGRAM_API_URL")
    skiplino_api_url: str = Field(default=DEFAULT_SKIPLINO_API_URL, alias="SKIPLINO_API_URL")
    skiplino_api_key: SecretStr | None = Field(default=None, alias="SKIPLINO_API_KEY")
    skiplino_timezone: str = Field(default="Asia/Bahrain", alias="SKIPLINO_TIMEZONE")
    redis_url: str = Field(default="redis://localhost:6379/0", alias="REDIS_URL")
    bot_default_locale: str = Field(default="en", alias="BOT_DEFAULT_LOCALE")
    # Not part of the core contract, but tunable without code changes.
    redis_prefix: str = Field(default="skiplino-bot", alias="REDIS_PREFIX")
    session_ttl_seconds: int = Field(default=24 * 3600, alias="SESSION_TTL_SECONDS", gt=0)
    profile_ttl_days: int = Field(default=365, alias="PROFILE_TTL_DAYS", gt=0)
    skiplino_timeout_seconds: float = Field(default=10.0, alias="SKIPLINO_TIMEOUT_SECONDS", gt=0)
    # The most one Skiplino call may spend on retries and their waits, well inside the
    # update's deadline; a Retry-After past it fails at once.
    skiplino_budget_seconds: float = Field(default=8.0, alias="SKIPLINO_BUDGET_SECONDS", gt=0)
    # The largest Skiplino answer read; a bigger one is refused unread.
    skiplino_max_response_bytes: int = Field(
        default=2 * 1024 * 1024, alias="SKIPLINO_MAX_RESPONSE_BYTES", ge=1024
    )
    # Where the message catalogs are when the package is installed apart from the sources.
    locales_dir: Path | None = Field(default=None, alias="BOT_LOCALES_DIR")
    # https://no-color.org: any non-empty value turns the console's colours off.
    no_color: str = Field(default="", alias="NO_COLOR")
    # Webhook delivery (``skiplino-bot webhook``): the public URL Telegram posts to, the
    # secret it sends back in a header, and where this process listens behind the proxy.
    telegram_webhook_url: str | None = Field(default=None, alias="TELEGRAM_WEBHOOK_URL")
    telegram_webhook_secret: SecretStr | None = Field(default=None, alias="TELEGRAM_WEBHOOK_SECRET")
    # Call setWebhook at start-up (same as ``--set-webhook``); one deploy step, not every replica.
    telegram_set_webhook: bool = Field(default=False, alias="TELEGRAM_SET_WEBHOOK")
    webhook_listen: str = Field(default="0.0.0.0", alias="WEBHOOK_LISTEN")
    webhook_port: int = Field(default=8080, alias="WEBHOOK_PORT", ge=0, le=65535)
    webhook_path: str = Field(default=DEFAULT_WEBHOOK_PATH, alias="WEBHOOK_PATH")
    # The most one update may take before the user gets an apology and the chat is freed:
    # below Telegram's webhook timeout, so a slow Skiplino never makes Telegram redeliver.
    update_deadline_seconds: float = Field(
        default=DEFAULT_UPDATE_DEADLINE_SECONDS, alias="UPDATE_DEADLINE_SECONDS", gt=0
    )
    # Operator endpoints in polling mode (/metrics, /healthz, /readyz); unset = no server.
    # The webhook server always has them beside the webhook route.
    metrics_port: int | None = Field(default=None, alias="METRICS_PORT", ge=0, le=65535)
    metrics_listen: str = Field(default="0.0.0.0", alias="METRICS_LISTEN")
    # "json": one JSON object per line, for log collectors; "text": for people.
    log_format: Literal["text", "json"] = Field(default="text", alias="LOG_FORMAT")
    # The key of the sandbox's /_sandbox/* admin routes (``skiplino-bot sandbox`` only).
    sandbox_admin_key: SecretStr | None = Field(default=None, alias="SANDBOX_ADMIN_KEY")

    @field_validator("skiplino_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("telegram_api_url", "skiplino_api_url")
    @classmethod
    def _strip_trailing_slash_of_skiplino(cls, value: str) -> str:
        return value.strip()

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_accepts_the_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never echoes the value: it is a secret.
        if value is not None and not WEBHOOK_SECRET_PATTERN.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_is_usable(cls, value: str) -> str:
        # The messages never echo the URL: it may hold a password.
        try:
            parts = urlsplit(value.strip())
            port = parts.port
        except ValueError:
            raise ValueError("is not a valid URL") from None
        if parts.scheme not in REDIS_SCHEMES:
            raise ValueError("must start with redis://, rediss:// or unix://")
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError("names no host (expected redis://HOST:PORT/DB)")
        if parts.scheme == "unix" and not parts.path:
            raise ValueError("names no socket path (expected unix:///path/to/redis.sock)")
        if port == 0:
            raise ValueError("has port 0")
        return value.strip()

    @field_validator("webhook_path")
    @classmethod
    def _path_is_absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @property
    def timezone(self) -> ZoneInfo:
        """Return the company's time zone."""
        return ZoneInfo(self.skiplino_timezone)

    @property
    def redis_url_given(self) -> bool:
        """Tell whether REDIS_URL was set (environment or .env) rather than defaulted."""
        return "redis_url" in self.model_fields_set

    def missing_for_run(self) -> list[str]:
        """Return the environment names that ``skiplino-bot run`` needs but lacks."""
        missing: list[str] = []
        if self.telegram_bot_token is None or not self.telegram_bot_token.get_secret_value():
            missing.append("TELEGRAM_BOT_TOKEN")
        if self.skiplino_api_key is None or not self.skiplino_api_key.get_secret_value():
            missing.append("SKIPLINO_API_KEY")
        return missing

    def missing_for_webhook(self, *, set_webhook: bool = False) -> list[str]:
        """Return the environment names that ``skiplino-bot webhook`` needs but lacks."""
        missing = self.missing_for_run()
        secret = self.telegram_webhook_secret
        if secret is None or not secret.get_secret_value():
            missing.append("TELEGRAM_WEBHOOK_SECRET")
        if (set_webhook or self.telegram_set_webhook) and not self.telegram_webhook_url:
            missing.append("TELEGRAM_WEBHOOK_URL")
        return missing

    @staticmethod
    def describe_missing(missing: list[str]) -> str:
        """Return the one-line complaint about every missing setting at once."""
        noun = "setting" if len(missing) == 1 else "settings"
        return f"missing required {noun} {', '.join(missing)}"

    def secrets(self) -> list[str]:
        """Return every configured secret's value, for log redaction."""
        return [
            s.get_secret_value()
            for s in (
                self.telegram_bot_token,
                self.skiplino_api_key,
                self.telegram_webhook_secret,
            )
            if s is not None
        ]


class SettingsError(Exception):
    """Configuration is invalid; the message names the variable and never its value."""


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning every validation error into one readable line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"invalid {name}: {message}")
        # All of them at once: an operator fixes the whole list in one go.
        raise SettingsError("; ".join(problems)) from None
