"""What an operator sees: start-up failures in one line, ``check``, and a quiet Telegram outage.

Each test runs the installed ``skiplino-bot`` command as a process against the fake Bot API
(which answers 401 to any token but the test's), the sandbox process and the local Redis.
"""

from __future__ import annotations

import asyncio
import re
import socket
import sys

import httpx
import pytest
import redis.asyncio as aioredis

from bot.testing.fake_server import FakeBotAPIServer
from tests.e2e.conftest import BotEnv
from tests.e2e.processes import Child, Children, SandboxProcess, child_env, skiplino_command

EXIT_TIMEOUT = 30.0
# The exit statuses documented in bot/cli.py.
CONFIGURATION, UNREACHABLE, REFUSED = 2, 3, 4


def closed_port() -> int:
    """Return a loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def run_to_exit(
    children: Children, env: dict[str, str], *args: str
) -> tuple[int, list[str], Child]:
    """Run ``skiplino-bot <args>`` until it exits; return its status and output lines."""
    child = await children.spawn(args[0], skiplino_command(*args), child_env(env))
    code = await child.wait_exit(EXIT_TIMEOUT)
    assert code is not None, "did not exit: " + child.describe()
    return code, child.output.splitlines(), child


def assert_no_secret(child: Child, *secrets: str) -> None:
    """Fail if any secret (raw or URL-encoded) appears in the child's output."""
    for secret in secrets:
        for form in (secret, secret.replace(":", "%3A")):
            assert form not in child.output, child.describe()


@pytest.mark.parametrize("command", ["run", "webhook"])
async def test_a_rejected_token_exits_4_in_one_line_without_the_token(
    telegram: FakeBotAPIServer,
    sandbox: SandboxProcess,
    children: Children,
    bot_env: BotEnv,
    api_key: str,
    command: str,
) -> None:
    wrong = "7000000002:SECRET-WRONG-TOKEN-0123456789"
    hook = {"TELEGRAM_WEBHOOK_SECRET": "hook-SECRET", "WEBHOOK_LISTEN": "127.0.0.1"}
    env = bot_env() | hook | {"TELEGRAM_BOT_TOKEN": wrong, "WEBHOOK_PORT": str(closed_port())}

    code, lines, child = await run_to_exit(children, env, command)

    assert code == REFUSED, child.describe()
    assert len(lines) <= 5, child.describe()
    assert any("TELEGRAM_BOT_TOKEN" in line for line in lines), child.describe()
    assert "Traceback" not in child.output
    assert_no_secret(child, wrong, api_key, "hook-SECRET")


async def test_a_refused_api_key_exits_4_naming_it(
    telegram: FakeBotAPIServer,
    sandbox: SandboxProcess,
    children: Children,
    bot_env: BotEnv,
) -> None:
    wrong = "sk_test_SECRET-WRONG-KEY-0123456789"
    env = bot_env() | {"SKIPLINO_API_KEY": wrong}

    code, lines, child = await run_to_exit(children, env, "run")

    assert code == REFUSED, child.describe()
    assert lines == [line for line in lines if "SKIPLINO_API_KEY" in line], child.describe()
    assert len(lines) == 1
    assert_no_secret(child, wrong)


async def test_a_redis_url_that_is_not_one_is_one_line(children: Children) -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": "7000000003:SECRET-TOKEN-FOR-A-BAD-URL",
        "SKIPLINO_API_KEY": "sk_test_x",
        "REDIS_URL": "notaurl",
    }

    code, lines, child = await run_to_exit(children, env, "run")

    assert code == CONFIGURATION
    assert len(lines) == 1, child.describe()
    assert "REDIS_URL" in lines[0]
    assert "notaurl" not in lines[0], "the URL may hold a password: never echoed"


async def test_every_missing_setting_is_named_at_once(children: Children) -> None:
    code, lines, child = await run_to_exit(children, {}, "webhook")

    assert code == CONFIGURATION
    assert len(lines) == 1, child.describe()
    for name in ("TELEGRAM_BOT_TOKEN", "SKIPLINO_API_KEY", "TELEGRAM_WEBHOOK_SECRET"):
        assert name in lines[0]


async def test_an_unreachable_redis_stops_run_with_3_naming_redis(
    telegram: FakeBotAPIServer,
    sandbox: SandboxProcess,
    children: Children,
    bot_env: BotEnv,
) -> None:
    env = bot_env() | {"REDIS_URL": f"redis://:SECRET-REDIS-PASSWORD@127.0.0.1:{closed_port()}/0"}

    code, lines, child = await run_to_exit(children, env, "run")

    assert code == UNREACHABLE, child.describe()
    assert len(lines) == 1, child.describe()
    assert "Redis" in lines[0]
    assert "SECRET-REDIS-PASSWORD" not in child.output


async def test_check_passes_against_telegram_redis_and_skiplino(
    telegram: FakeBotAPIServer,
    sandbox: SandboxProcess,
    children: Children,
    bot_env: BotEnv,
    redis_client: aioredis.Redis,
    redis_prefix: str,
    bot_token: str,
    api_key: str,
) -> None:
    code, lines, child = await run_to_exit(children, bot_env(), "check")

    assert code == 0, child.describe()
    assert [line.split(":", 1)[0] for line in lines] == [
        "configuration",
        "telegram",
        "redis",
        "skiplino",
    ]
    assert all(": ok:" in line for line in lines), child.describe()
    assert_no_secret(child, bot_token, api_key)
    assert [c.method for c in telegram.api.calls] == ["getMe"], "check only looks"
    assert await redis_client.keys(f"{redis_prefix}:*") == [], "the probe key is deleted"


async def test_check_fails_with_a_line_naming_redis_when_redis_is_down(
    telegram: FakeBotAPIServer,
    sandbox: SandboxProcess,
    children: Children,
    bot_env: BotEnv,
) -> None:
    env = bot_env() | {"REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"}

    code, lines, child = await run_to_exit(children, env, "check")

    assert code == UNREACHABLE, child.describe()
    failed = [line for line in lines if "FAILED" in line]
    assert len(failed) == 1, child.describe()
    assert failed[0].startswith("redis: FAILED: cannot reach Redis")
    assert "REDIS_URL" in failed[0], "says what to fix"
    assert len(lines) == 4


async def test_check_reports_a_missing_token_and_still_checks_the_rest(
    sandbox: SandboxProcess, children: Children, bot_env: BotEnv
) -> None:
    env = {k: v for k, v in bot_env().items() if k != "TELEGRAM_BOT_TOKEN"}

    code, lines, child = await run_to_exit(children, env, "check")

    assert code == CONFIGURATION, child.describe()
    assert lines[0].startswith("configuration: FAILED: missing required setting TELEGRAM_BOT")
    assert lines[1] == "telegram: skipped: TELEGRAM_BOT_TOKEN is not set"
    assert lines[2].startswith("redis: ok")
    assert lines[3].startswith("skiplino: ok")


async def test_a_telegram_outage_while_running_is_two_log_lines(
    telegram: FakeBotAPIServer,
    sandbox: SandboxProcess,
    children: Children,
    bot_env: BotEnv,
    bot_token: str,
) -> None:
    from tests.e2e.processes import start_bot

    api, port = telegram.api, telegram.port
    bot = await start_bot(children, api, bot_env())
    before = len(bot.output.splitlines())

    await telegram.stop()
    await asyncio.sleep(6)  # several getUpdates retries fail meanwhile
    back = FakeBotAPIServer(api, port=port)
    await back.start()
    try:
        polls = len(api.calls_of("getUpdates"))
        await bot.wait_for_output(re.compile("reachable again"), within=20)
        await asyncio.sleep(0.5)  # a poll after the line, and room for stray lines
        new = bot.output.splitlines()[before:]
        assert bot.running, bot.describe()
        assert len(api.calls_of("getUpdates")) > polls, "polling resumed"
        assert len(new) <= 3, bot.describe()
        assert any("Telegram unreachable" in line for line in new), bot.describe()
        ended = [line for line in new if "reachable again" in line]
        assert len(ended) == 1, bot.describe()
        failures = int(re.search(r"after (\d+) failed getUpdates", ended[0]).group(1))  # type: ignore[union-attr]
        assert failures >= 2, "several retries, one line"
        assert "Traceback" not in bot.output
        assert_no_secret(bot, bot_token)
    finally:
        await children.stop_all()
        await back.stop()


def test_an_uncaught_exception_prints_a_traceback_without_the_secrets() -> None:
    import subprocess

    secret = "7000000004:SECRET-IN-A-TRACEBACK"
    code = (
        "from bot.logs import install_excepthooks\n"
        f"install_excepthooks([{secret!r}])\n"
        f"token = {secret!r}\n"
        "raise RuntimeError('The token ' + token + ' was rejected by the server')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 1
    assert "RuntimeError: The token *** was rejected" in result.stderr
    assert secret not in result.stderr


async def test_the_sandbox_beyond_loopback_locks_its_admin_routes_unless_given_a_key(
    children: Children, http: httpx.AsyncClient
) -> None:
    ready = re.compile(r"Skiplino sandbox ready at http://[^:]+:(\d+)/")
    argv = skiplino_command("sandbox", "--host", "0.0.0.0", "--port", "0")
    locked = await children.spawn("locked", argv, child_env({}))
    keyed = await children.spawn("keyed", argv, child_env({"SANDBOX_ADMIN_KEY": "adm-SECRET"}))
    locked_port = (await locked.wait_for_output(ready, 20)).group(1)
    keyed_port = (await keyed.wait_for_output(ready, 20)).group(1)

    refused = await http.get(f"http://127.0.0.1:{locked_port}/_sandbox/sample")
    health = await http.get(f"http://127.0.0.1:{locked_port}/healthz")
    no_key = await http.get(f"http://127.0.0.1:{keyed_port}/_sandbox/sample")
    with_key = await http.get(
        f"http://127.0.0.1:{keyed_port}/_sandbox/sample",
        headers={"X-Sandbox-Admin-Key": "adm-SECRET"},
    )

    assert (refused.status_code, health.status_code) == (403, 200)
    assert "admin routes are off" in locked.output, "said at start"
    assert (no_key.status_code, with_key.status_code) == (401, 200)
    assert "admin routes are off" not in keyed.output
