"""Own the operator's checks: configuration, Telegram, Redis and Skiplino, one line each.

``skiplino-bot check`` prints every result and exits 0 only when all pass; ``run`` and
``webhook`` run the same checks before they start and stop at the first failure with its
line. Each failure belongs to a class with its own exit status (see `ExitStatus`). No line
ever holds a secret: the token and API key are never put in one, and Redis URLs are shown
without their password.

Talks to the three services with plain HTTP and Redis calls, so it must not import
python-telegram-bot, conversations or the Skiplino client.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisError, ResponseError

from bot.logs import install_excepthooks
from bot.settings import Settings, SettingsError, load_settings

# A check waits at most this long for one service; the Docker healthcheck's timeout is
# above it, so a hanging service is reported as such rather than killed mid-check.
CHECK_TIMEOUT_SECONDS = 5.0


class ExitStatus(IntEnum):
    """The process's exit status for each class of start-up problem."""

    OK = 0
    # An unexpected error (a bug): the traceback, with secrets redacted, says where.
    UNEXPECTED = 1
    # A setting is missing or invalid: fix the environment or .env.
    CONFIGURATION = 2
    # Telegram, Redis or Skiplino cannot be reached or cannot serve: retrying may help.
    UNREACHABLE = 3
    # A credential was refused (bot token, API key, Redis password): retrying will not help.
    REFUSED = 4


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ``status`` OK, or the class of the failure and its text."""

    name: str
    status: ExitStatus
    detail: str
    # Not attempted because a setting it needs is missing (the configuration line names it).
    skipped: bool = False

    @property
    def ok(self) -> bool:
        """Tell whether the check passed."""
        return self.status is ExitStatus.OK

    def line(self) -> str:
        """Return the check's report line."""
        verdict = "ok" if self.ok else "skipped" if self.skipped else "FAILED"
        return f"{self.name}: {verdict}: {self.detail}"


class CheckFailed(Exception):
    """A check failed; ``str()`` is its one line, ``status`` its exit status."""

    def __init__(self, result: CheckResult) -> None:
        """Carry the failed ``result``."""
        super().__init__(f"{result.name}: {result.detail}")
        self.result = result

    @property
    def status(self) -> ExitStatus:
        """Return the failure's exit status."""
        return self.result.status


def _passed(name: str, detail: str) -> CheckResult:
    """Return a passed check."""
    return CheckResult(name, ExitStatus.OK, detail)


def _failed(name: str, status: ExitStatus, detail: str) -> CheckResult:
    """Return a failed check."""
    return CheckResult(name, status, detail)


def _cause(exc: BaseException) -> str:
    """Return an exception's class name, the only part of it safe to show as it is."""
    return type(exc).__name__


def redis_location(url: str) -> str:
    """Return where a Redis URL points, without user name or password."""
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return f"unix://{parts.path}"
        host = parts.hostname or "?"
        port = parts.port or 6379
    except ValueError:
        return "an unreadable REDIS_URL"
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}:{port}{parts.path}"


def redis_password(url: str) -> str | None:
    """Return the password in a Redis URL, so that it can be redacted like the other secrets."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def secrets_of(settings: Settings) -> list[str]:
    """Return every secret the process knows: token, keys, webhook secret, Redis password."""
    found = settings.secrets()
    if settings.sandbox_admin_key is not None:
        found.append(settings.sandbox_admin_key.get_secret_value())
    password = redis_password(settings.redis_url)
    if password:
        found.append(password)
    return found


# -- configuration --------------------------------------------------------------------------


def check_configuration(
    command: str = "run", *, set_webhook: bool = False
) -> tuple[Settings | None, CheckResult]:
    """Load the settings and name every missing or invalid one at once."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        return None, _failed("configuration", ExitStatus.CONFIGURATION, str(exc))
    if command == "webhook":
        missing = settings.missing_for_webhook(set_webhook=set_webhook)
    else:
        missing = settings.missing_for_run()
    if missing:
        detail = Settings.describe_missing(missing) + " (set them in the environment or .env)"
        return settings, _failed("configuration", ExitStatus.CONFIGURATION, detail)
    return settings, _passed("configuration", f"time zone {settings.skiplino_timezone}")


# -- Telegram -------------------------------------------------------------------------------


async def check_telegram(settings: Settings, client: httpx.AsyncClient) -> CheckResult:
    """Call getMe with the bot token."""
    name = "telegram"
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    if not token:
        return CheckResult(name, ExitStatus.CONFIGURATION, "TELEGRAM_BOT_TOKEN is not set", True)
    where = f"TELEGRAM_API_URL={settings.telegram_api_url}"
    try:
        response = await client.get(f"{settings.telegram_api_url}{token}/getMe")
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        return _failed(name, ExitStatus.CONFIGURATION, f"{where} is not an http(s) URL")
    except httpx.HTTPError as exc:
        return _failed(
            name,
            ExitStatus.UNREACHABLE,
            f"cannot reach Telegram at {where} ({_cause(exc)}): check the network or "
            "TELEGRAM_API_URL",
        )
    # Telegram answers 401 for a wrong token and 404 for one that is not a token at all.
    if response.status_code in (401, 404):
        return _failed(
            name,
            ExitStatus.REFUSED,
            f"Telegram rejected TELEGRAM_BOT_TOKEN ({response.status_code}): copy the token "
            "@BotFather gave for this bot",
        )
    body = _json(response)
    result = body.get("result") if isinstance(body, dict) else None
    if response.status_code != 200 or not isinstance(result, dict) or not body.get("ok"):
        return _failed(
            name,
            ExitStatus.UNREACHABLE,
            f"Telegram at {where} answered getMe with {response.status_code}: retry later",
        )
    return _passed(name, f"getMe is @{result.get('username', '?')}")


# -- Redis ----------------------------------------------------------------------------------


def _redis_client(url: str) -> aioredis.Redis:
    """Connect to ``url`` with short timeouts and no retries (a check reports, not insists)."""
    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=CHECK_TIMEOUT_SECONDS / 2,
        socket_timeout=CHECK_TIMEOUT_SECONDS / 2,
        retry=Retry(NoBackoff(), 0),
    )


async def check_redis(settings: Settings) -> CheckResult:
    """PING Redis, then write, read back and delete a key under the bot's prefix."""
    name = "redis"
    where = redis_location(settings.redis_url)
    try:
        client = _redis_client(settings.redis_url)
    except ValueError:
        return _failed(
            name, ExitStatus.CONFIGURATION, "REDIS_URL is not a Redis URL (redis://HOST:PORT/DB)"
        )
    key = f"{settings.redis_prefix}:check:{secrets.token_hex(8)}"
    try:
        await client.ping()
        value = secrets.token_hex(8)
        await client.set(key, value, ex=60)
        read = await client.get(key)
        await client.delete(key)
    except AuthenticationError:
        return _failed(
            name, ExitStatus.REFUSED, f"Redis at {where} refused the credentials in REDIS_URL"
        )
    except ResponseError as exc:
        text = str(exc)
        if text.startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
            return _failed(
                name,
                ExitStatus.REFUSED,
                f"Redis at {where} refused the credentials in REDIS_URL ({text.split()[0]})",
            )
        return _failed(
            name,
            ExitStatus.UNREACHABLE,
            f"Redis at {where} refused a write ({text.split()[0] if text else _cause(exc)}): "
            "it must be a writable primary with memory to spare",
        )
    except (RedisError, OSError) as exc:
        return _failed(
            name,
            ExitStatus.UNREACHABLE,
            f"cannot reach Redis at {where} ({_cause(exc)}): start Redis or fix REDIS_URL",
        )
    finally:
        await client.aclose()
    if read != value.encode():
        return _failed(
            name, ExitStatus.UNREACHABLE, f"Redis at {where} did not return what was written"
        )
    return _passed(
        name, f"PING, then a {settings.redis_prefix}:check:* key written, read, deleted at {where}"
    )


# -- Skiplino -------------------------------------------------------------------------------


async def check_skiplino(settings: Settings, client: httpx.AsyncClient) -> CheckResult:
    """Call GET /branches with the API key."""
    name = "skiplino"
    key = settings.skiplino_api_key.get_secret_value() if settings.skiplino_api_key else ""
    if not key:
        return CheckResult(name, ExitStatus.CONFIGURATION, "SKIPLINO_API_KEY is not set", True)
    where = f"SKIPLINO_API_URL={settings.skiplino_api_url}"
    url = settings.skiplino_api_url.rstrip("/") + "/branches"
    try:
        response = await client.get(url, headers={"Authorization": f"Bearer {key}"})
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        return _failed(name, ExitStatus.CONFIGURATION, f"{where} is not an http(s) URL")
    except httpx.HTTPError as exc:
        return _failed(
            name,
            ExitStatus.UNREACHABLE,
            f"cannot reach Skiplino at {where} ({_cause(exc)}): check the network or "
            "SKIPLINO_API_URL",
        )
    status = response.status_code
    if status in (401, 403):
        return _failed(
            name,
            ExitStatus.REFUSED,
            f"Skiplino refused SKIPLINO_API_KEY ({status}): use the company's secret key (sk_...)",
        )
    if status == 404:
        return _failed(
            name,
            ExitStatus.CONFIGURATION,
            f"{where} has no /branches (404): it must end with /external/v1",
        )
    body = _json(response)
    data = body.get("data") if isinstance(body, dict) else None
    if status != 200 or not isinstance(data, list):
        return _failed(
            name,
            ExitStatus.UNREACHABLE,
            f"Skiplino at {where} answered GET /branches with {status}: retry later",
        )
    return _passed(name, f"GET /branches lists {len(data)} branches")


def _json(response: httpx.Response) -> Any:
    """Return a response's JSON body, or None when it has none."""
    try:
        return response.json()
    except ValueError:
        return None


# -- all together ---------------------------------------------------------------------------


async def _bounded(name: str, check: Awaitable[CheckResult]) -> CheckResult:
    """Run one check, turning a hang into an "unreachable" failure."""
    try:
        return await asyncio.wait_for(check, CHECK_TIMEOUT_SECONDS * 1.5)
    except TimeoutError:
        return _failed(
            name,
            ExitStatus.UNREACHABLE,
            f"no answer within {CHECK_TIMEOUT_SECONDS * 1.5:g} s: the service hangs",
        )


async def check_services(settings: Settings) -> list[CheckResult]:
    """Check Telegram, Redis and Skiplino at the same time; return results in that order."""
    timeout = httpx.Timeout(CHECK_TIMEOUT_SECONDS)
    # trust_env off: a stray proxy variable must not decide whether the bot can start.
    async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
        checks: Sequence[tuple[str, Callable[[], Awaitable[CheckResult]]]] = (
            ("telegram", lambda: check_telegram(settings, client)),
            ("redis", lambda: check_redis(settings)),
            ("skiplino", lambda: check_skiplino(settings, client)),
        )
        return list(await asyncio.gather(*(_bounded(name, run()) for name, run in checks)))


def first_failure(results: Sequence[CheckResult]) -> CheckResult | None:
    """Return the first failed check, or None when all passed."""
    return next((result for result in results if not result.ok), None)


def preflight(settings: Settings) -> None:
    """Check every service the bot needs; raise CheckFailed with the first failure."""
    failure = first_failure(asyncio.run(check_services(settings)))
    if failure is not None:
        raise CheckFailed(failure)


def run_check(
    print_line: Callable[[str], None], command: str = "run", *, set_webhook: bool = False
) -> int:
    """Run every check, print one line each, and return the exit status."""
    settings, config = check_configuration(command, set_webhook=set_webhook)
    print_line(config.line())
    if settings is None:
        return int(config.status)
    install_excepthooks(secrets_of(settings))
    results = [config, *asyncio.run(check_services(settings))]
    for result in results[1:]:
        print_line(result.line())
    failure = first_failure(results)
    return int(failure.status) if failure is not None else int(ExitStatus.OK)
