"""Own the process configuration: the only module that reads the environment.

Names are the contract of DESIGN.md section 8; other tools rely on them.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org/bot"
DEFAULT_SKIPLINO_API_URL = "https://api-dev.skiplino.com/external/v1"


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
    # Not part of the DESIGN contract, but tunable without code changes.
    redis_prefix: str = Field(default="skiplino-bot", alias="REDIS_PREFIX")
    session_ttl_seconds: int = Field(default=24 * 3600, alias="SESSION_TTL_SECONDS", gt=0)
    skiplino_timeout_seconds: float = Field(default=10.0, alias="SKIPLINO_TIMEOUT_SECONDS", gt=0)
    # Where the message catalogs are when the package is installed apart from the sources.
    locales_dir: Path | None = Field(default=None, alias="BOT_LOCALES_DIR")
    # https://no-color.org: any non-empty value turns the console's colours off.
    no_color: str = Field(default="", alias="NO_COLOR")

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


class SettingsError(Exception):
    """Configuration is invalid; the message names the variable and never its value."""


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into one readable line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "settings"
        raise SettingsError(f"invalid {name}: {first['msg']}") from None
