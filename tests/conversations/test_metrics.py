"""The metrics move as dialogues run, and the webhook app serves them with its health routes.

Counters are process-wide, so every test compares before and after its own dialogue.
"""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.conversations.booking_steps import to_walk_in_confirm, user
from tests.fakes.asgi_server import serving
from tests.fakes.harness import Harness, webhook_app

SECRET = "metrics_SECRET-for-tests-42"


def total(name: str, **labels: str) -> float:
    """Return the sum of a metric's samples whose labels include ``labels``."""
    value = 0.0
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                value += sample.value
    return value


async def test_a_booking_moves_the_update_skiplino_and_telegram_counters(
    harness: Harness,
) -> None:
    taps = total("skiplino_bot_updates_total", kind="callback", outcome="ok")
    commands = total("skiplino_bot_updates_total", kind="command", outcome="ok")
    booked = total("skiplino_bot_skiplino_calls_total", operation="book_ticket")
    branches = total("skiplino_bot_skiplino_seconds_count", operation="list_branches")
    sends = total("skiplino_bot_telegram_calls_total", method="sendMessage")
    latency = total("skiplino_bot_update_seconds_count")
    waits = total("skiplino_bot_lock_wait_seconds_count")
    chat = user(harness)

    await to_walk_in_confirm(chat)  # /start, then five taps
    await chat.tap("Confirm")

    assert total("skiplino_bot_updates_total", kind="command", outcome="ok") >= commands + 1
    assert total("skiplino_bot_updates_total", kind="callback", outcome="ok") >= taps + 6
    assert total("skiplino_bot_skiplino_calls_total", operation="book_ticket") == booked + 1
    assert total("skiplino_bot_skiplino_seconds_count", operation="list_branches") > branches
    assert total("skiplino_bot_telegram_calls_total", method="sendMessage") > sends
    assert total("skiplino_bot_update_seconds_count") >= latency + 7
    assert total("skiplino_bot_lock_wait_seconds_count") >= waits + 7


async def test_a_skiplino_outage_is_counted_by_operation_and_status(harness: Harness) -> None:
    failed = total("skiplino_bot_skiplino_calls_total", operation="list_branches", status="503")
    chat = user(harness)
    await chat.send("/start")
    harness.sandbox.faults.force("GET", "/branches", 503)

    await chat.tap("Book a ticket")

    after = total("skiplino_bot_skiplino_calls_total", operation="list_branches", status="503")
    # The harness's client retries a read once.
    assert after == failed + 2


async def test_a_busy_chat_is_counted(harness: Harness) -> None:
    busy = total("skiplino_bot_busy_answers_total")
    outcomes = total("skiplino_bot_updates_total", outcome="busy")
    chat = user(harness)
    await chat.send("/start")
    bridge = harness.workers[0].bridge
    bridge.lock.wait = 0.05
    store = harness.store()
    # Another worker holds the chat's lock for the whole next update.
    token = await store.acquire(chat.user.id, wait=1.0, hold_ms=5_000)
    try:
        reply = await chat.send("/book")
    finally:
        await store.release(chat.user.id, token)

    assert reply.text.startswith("Still working on your previous request"), reply.text
    assert total("skiplino_bot_busy_answers_total") == busy + 1
    assert total("skiplino_bot_updates_total", outcome="busy") == outcomes + 1


async def test_the_webhook_app_serves_metrics_and_readiness(redis_prefix: str) -> None:
    app = webhook_app("redis://127.0.0.1:6379/0", redis_prefix, SECRET, "/telegram/webhook")
    async with serving(app, lifespan="on") as base, httpx.AsyncClient() as http:
        scrape = await http.get(f"{base}/metrics")
        ready = await http.get(f"{base}/readyz")

    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(scrape.text)}
    assert {"skiplino_bot_updates", "skiplino_bot_skiplino_calls", "skiplino_bot_circuit_open"} <= (
        names
    )
    # The start-up's setMyCommands went through the counting request class.
    assert 'skiplino_bot_telegram_calls_total{method="setMyCommands"}' in scrape.text
    assert ready.status_code == 200
    assert ready.json()["store"] == "up"


async def test_webhook_readiness_fails_while_redis_is_unreachable(redis_prefix: str) -> None:
    app = webhook_app("redis://127.0.0.1:1/0", redis_prefix, SECRET, "/telegram/webhook")
    async with serving(app, lifespan="on") as base, httpx.AsyncClient() as http:
        ready = await http.get(f"{base}/readyz")

    assert ready.status_code == 503
