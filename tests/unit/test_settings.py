"""Settings read the contract's environment names and fail with one clear line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.settings import Settings, SettingsError, load_settings


def test_defaults_follow_the_design_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TELEGRAM_API_URL", "SKIPLINO_API_URL", "SKIPLINO_TIMEZONE", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.telegram_api_url == "https://api.telegram.org/bot"
    assert settings.skiplino_api_url == "https://api-dev.skiplino.com/external/v1"
    assert settings.skiplino_timezone == "Asia/Bahrain"
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.bot_default_locale == "en"


def test_environment_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("SKIPLINO_API_KEY", "sk_live_secret")
    monkeypatch.setenv("SKIPLINO_TIMEZONE", "Asia/Riyadh")
    monkeypatch.setenv("BOT_DEFAULT_LOCALE", "ar")
    settings = Settings(_env_file=None)
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == "123:abc"
    assert "sk_live_secret" not in repr(settings)
    assert settings.missing_for_run() == []
    assert settings.bot_default_locale == "ar"


def test_unknown_timezone_is_one_readable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIPLINO_TIMEZONE", "Mars/Olympus")
    with pytest.raises(SettingsError, match="SKIPLINO_TIMEZONE"):
        load_settings(_env_file=None)


def test_run_without_token_exits_with_one_line_naming_it(tmp_path: object) -> None:
    env = {"PATH": "/usr/bin:/bin", "SKIPLINO_API_KEY": "sk_x"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "skiplino-bot: missing required setting TELEGRAM_BOT_TOKEN"
    assert "Traceback" not in result.stderr


WEBHOOK_NAMES = (
    "TELEGRAM_WEBHOOK_URL",
    "TELEGRAM_WEBHOOK_SECRET",
    "TELEGRAM_SET_WEBHOOK",
    "WEBHOOK_LISTEN",
    "WEBHOOK_PORT",
    "WEBHOOK_PATH",
)


def test_webhook_settings_default_to_every_interface_on_8080(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in WEBHOOK_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "hook_Secret-1")
    settings = Settings(_env_file=None)
    assert (settings.webhook_listen, settings.webhook_port) == ("0.0.0.0", 8080)
    assert settings.webhook_path == "/telegram/webhook"
    assert settings.telegram_set_webhook is False
    assert "hook_Secret-1" not in repr(settings)
    assert "hook_Secret-1" in settings.secrets()


def test_webhook_needs_its_secret_and_set_webhook_also_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in WEBHOOK_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("SKIPLINO_API_KEY", "sk_x")
    assert Settings(_env_file=None).missing_for_webhook() == ["TELEGRAM_WEBHOOK_SECRET"]
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "hook_Secret-1")
    settings = Settings(_env_file=None)
    assert settings.missing_for_webhook() == []
    assert settings.missing_for_webhook(set_webhook=True) == ["TELEGRAM_WEBHOOK_URL"]
    monkeypatch.setenv("TELEGRAM_SET_WEBHOOK", "true")
    assert Settings(_env_file=None).missing_for_webhook() == ["TELEGRAM_WEBHOOK_URL"]


def test_a_webhook_secret_telegram_would_refuse_is_one_error_without_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "has spaces/and-slash")
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET") as caught:
        load_settings(_env_file=None)
    assert "has spaces" not in str(caught.value)


def test_every_invalid_setting_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIPLINO_TIMEZONE", "Mars/Olympus")
    monkeypatch.setenv("REDIS_URL", "notaurl")
    monkeypatch.setenv("WEBHOOK_PATH", "no-slash")

    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)

    message = str(caught.value)
    assert "\n" not in message
    for name in ("SKIPLINO_TIMEZONE", "REDIS_URL", "WEBHOOK_PATH"):
        assert f"invalid {name}" in message
    assert "Value error" not in message


@pytest.mark.parametrize(
    "url",
    [
        "notaurl",
        "http://redis:6379/0",
        "redis://",
        "redis://:SECRET-PW@host:notaport/0",
        "unix://",
    ],
)
def test_a_redis_url_that_redis_would_refuse_is_a_settings_error_without_the_url(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", url)

    with pytest.raises(SettingsError, match="REDIS_URL") as caught:
        load_settings(_env_file=None)

    assert "SECRET-PW" not in str(caught.value)
    assert "notaurl" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["redis://localhost:6379/0", "rediss://:pw@cache.example:6380/1", "unix:///run/redis.sock"],
)
def test_usable_redis_urls_are_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("REDIS_URL", url)

    assert load_settings(_env_file=None).redis_url == url


def test_all_missing_settings_are_described_at_once() -> None:
    assert Settings.describe_missing(["TELEGRAM_BOT_TOKEN"]) == (
        "missing required setting TELEGRAM_BOT_TOKEN"
    )
    assert Settings.describe_missing(["TELEGRAM_BOT_TOKEN", "SKIPLINO_API_KEY"]) == (
        "missing required settings TELEGRAM_BOT_TOKEN, SKIPLINO_API_KEY"
    )


def test_run_without_any_setting_names_both_in_one_line(tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        cwd=str(tmp_path),
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "skiplino-bot: missing required settings TELEGRAM_BOT_TOKEN, SKIPLINO_API_KEY"
    )
