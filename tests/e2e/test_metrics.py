"""What an operator scrapes and probes: ``skiplino-bot run`` with METRICS_PORT and JSON logs.

The bot runs as its own process against the fake Bot API, the sandbox process and the local
Redis; the test reads its /metrics, /healthz and /readyz over HTTP and its JSON log lines.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.testing.fake_server import FakeBotAPIServer
from tests.e2e.conftest import BotEnv, ChatOf
from tests.e2e.processes import Children, SandboxProcess, start_bot
from tests.e2e.test_operator import CONFIGURATION, run_to_exit

READY_WITHIN = 20.0


def free_port() -> int:
    """Return a loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def sample(text: str, name: str, **labels: str) -> float:
    """Return the sum of the scraped samples of ``name`` whose labels include ``labels``."""
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


async def wait_ready(http: httpx.AsyncClient, base: str) -> httpx.Response:
    """Poll /readyz until it answers 200; fail with its last answer after a deadline."""
    deadline = time.monotonic() + READY_WITHIN
    answer: httpx.Response | None = None
    while time.monotonic() < deadline:
        try:
            answer = await http.get(f"{base}/readyz")
            if answer.status_code == 200:
                return answer
        except httpx.TransportError:
            pass  # the server is not listening yet
        await asyncio.sleep(0.1)
    raise AssertionError(f"not ready within {READY_WITHIN} s: {answer and answer.text}")


async def test_polling_serves_metrics_health_and_json_logs(
    telegram: FakeBotAPIServer,
    sandbox: SandboxProcess,
    children: Children,
    bot_env: BotEnv,
    chat_of: ChatOf,
    http: httpx.AsyncClient,
    bot_token: str,
) -> None:
    port = free_port()
    env = bot_env() | {
        "METRICS_PORT": str(port),
        "METRICS_LISTEN": "127.0.0.1",
        "LOG_FORMAT": "json",
    }
    bot = await start_bot(children, telegram.api, env)
    base = f"http://127.0.0.1:{port}"
    chat = chat_of(6161, first_name="Layla")

    await chat.send("/start")  # answers the pending getUpdates: the bot is ready from here
    ready = await wait_ready(http, base)
    live = await http.get(f"{base}/healthz")
    await sandbox.set_faults({"force": ["GET:/branches=503"]})
    await chat.tap("Book a ticket")
    await sandbox.clear_faults()
    scrape = await http.get(f"{base}/metrics")

    assert ready.json() == {"status": "ok", "store": "up", "telegram": "up"}
    assert live.status_code == 200
    assert scrape.status_code == 200
    text = scrape.text
    assert sample(text, "skiplino_bot_updates_total", kind="command", outcome="ok") == 1
    assert sample(text, "skiplino_bot_updates_total", kind="callback") == 1
    assert sample(text, "skiplino_bot_skiplino_calls_total", operation="list_branches") >= 1
    assert (
        sample(text, "skiplino_bot_skiplino_calls_total", operation="list_branches", status="503")
        >= 1
    )
    assert sample(text, "skiplino_bot_telegram_calls_total", method="getUpdates") >= 1
    assert sample(text, "skiplino_bot_telegram_calls_total", method="sendMessage") >= 1
    assert "6161" not in text
    assert "Layla" not in text

    assert await bot.stop() == 0
    lines = [line for line in bot.stderr.splitlines() if line.strip()]
    # Only the command line's own set-up may speak before the JSON logging is in place.
    first = next(i for i, line in enumerate(lines) if line.startswith("{"))
    records = [json.loads(line) for line in lines[first:]]
    assert any("starting long polling" in r["message"] for r in records), lines
    during = [r for r in records if "update_id" in r]
    assert during, lines  # the Skiplino outage was logged while the tap was handled
    assert all(isinstance(r["update_id"], int) and len(r["chat"]) == 12 for r in during)
    assert all("6161" not in line and "Layla" not in line for line in lines)
    assert all(bot_token not in line for line in lines)


async def test_a_taken_metrics_port_exits_2_in_one_line(
    telegram: FakeBotAPIServer,
    sandbox: SandboxProcess,
    children: Children,
    bot_env: BotEnv,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = bot_env() | {"METRICS_PORT": str(port), "METRICS_LISTEN": "127.0.0.1"}

        code, lines, child = await run_to_exit(children, env, "run")

    assert code == CONFIGURATION, child.describe()
    assert any("METRICS_PORT" in line for line in lines), child.describe()
    assert "Traceback" not in child.output
