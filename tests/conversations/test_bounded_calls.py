"""Reliability through real dialogues: a save whose reply is lost, a slow-down asked by
Skiplino, a refused key, and a store that fails for a named cause.

Redis trouble is made by a TCP relay in front of the real Redis that can hold back one
reply; Skiplino trouble at the transport seam in front of the in-process sandbox.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bot.app import build_engine
from bot.sessions.redis_store import _COMMIT, RedisChatStore
from bot.skiplino import SkiplinoClient
from bot.testing.stack import SECRET_KEY
from conversations.events import Command, UserInfo
from conversations.session import Session
from tests.conversations.booking_steps import tickets_of, to_walk_in_confirm, user
from tests.conversations.test_flow_rules import FlowChat
from tests.fakes.harness import Harness, settings, skiplino_client
from tests.fakes.redis_relay import HeldReplyRelay

BOOKED = "✅ Booked!"
UNAVAILABLE = "not answering"
# The client's socket timeout in the relay test, and how long the relay holds one reply.
SOCKET_TIMEOUT = 0.5
HELD_FOR = 1.2


@pytest.fixture
async def relay() -> AsyncIterator[HeldReplyRelay]:
    """Yield an open relay to the test Redis."""
    line = HeldReplyRelay(hold_seconds=HELD_FOR)
    await line.open()
    yield line
    await line.close()


async def test_a_save_whose_reply_is_lost_still_shows_the_booking(
    relay: HeldReplyRelay, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert relay.server is not None
    host, port = relay.server.sockets[0].getsockname()[:2]
    client = aioredis.Redis(
        host=host, port=port, socket_timeout=SOCKET_TIMEOUT, retry=Retry(NoBackoff(), retries=2)
    )
    harness = Harness(redis=client, prefix=redis_prefix)
    await harness.start()
    try:
        chat = user(harness, user_id=515151)
        await to_walk_in_confirm(chat)
        # The save travels as EVALSHA of the commit script: its digest marks the command.
        relay.hold_next_reply_to(hashlib.sha1(_COMMIT.encode()).hexdigest().encode())

        reply = await chat.tap("Confirm")

        assert relay.held == 1
        # The same save reached Redis again: its own earlier write had to be recognised.
        assert relay.sent_with_marker >= 2
        assert reply.text.startswith(BOOKED), reply.text
        assert len(tickets_of(harness.sandbox, 515151)) == 1
        assert not [r for r in caplog.records if "moved the session on" in r.getMessage()]
    finally:
        await harness.stop()
        await client.aclose()


@dataclass
class SlowDown(httpx.AsyncBaseTransport):
    """The sandbox, except that the branch list answers 429 with a long Retry-After."""

    inner: httpx.AsyncBaseTransport
    retry_after: str = "30"
    refused: int = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Refuse the branch list; pass everything else to the sandbox."""
        if request.method == "GET" and request.url.path.endswith("/branches"):
            self.refused += 1
            return httpx.Response(429, headers={"Retry-After": self.retry_after})
        return await self.inner.handle_async_request(request)


async def test_a_long_retry_after_gets_the_user_an_apology_within_the_budget(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    harness = Harness(redis=redis_client, prefix=redis_prefix)
    transport = SlowDown(httpx.ASGITransport(app=harness.sandbox.app))
    api = SkiplinoClient(
        base_url="http://sandbox/external/v1",
        api_key=SECRET_KEY,
        transport=transport,
        max_retries=2,
        max_retry_delay=8.0,
        total_budget=8.0,
    )
    worker = harness.worker(api=api)
    await worker.start()
    try:
        chat = user(harness, user_id=525252)
        await chat.send("/start")

        started = time.monotonic()
        reply = await chat.tap("Book a ticket")

        # Before: two waits of 8 s each. Now: Retry-After 30 s is past the budget, so at once.
        assert time.monotonic() - started < 3
        assert UNAVAILABLE in reply.text
        assert transport.refused == 1
    finally:
        await harness.stop()


async def test_a_refused_key_offers_no_try_again_and_is_logged_once_a_minute(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    chat = user(harness, user_id=535353)
    await chat.send("/start")
    harness.sandbox.faults.force("GET", "/branches", 401)

    first = await chat.tap("Book a ticket")
    first_labels = chat.labels()
    await chat.tap("Main menu")
    second = await chat.tap("Book a ticket")

    for reply in (first, second):
        assert UNAVAILABLE in reply.text
    assert "Try again" not in first_labels
    assert "Try again" not in chat.labels()
    assert "Main menu" in chat.labels()
    refusals = [
        r.getMessage() for r in caplog.records if "refused SKIPLINO_API_KEY" in r.getMessage()
    ]
    assert len(refusals) == 1, refusals
    assert "sk_t…dbox" in refusals[0]
    assert all(SECRET_KEY not in r.getMessage() for r in caplog.records)


async def test_an_outage_of_skiplino_still_offers_try_again(
    harness: Harness,
) -> None:
    chat = user(harness, user_id=545454)
    await chat.send("/start")
    harness.sandbox.faults.force("GET", "/branches", 503)

    reply = await chat.tap("Book a ticket")

    assert UNAVAILABLE in reply.text
    assert "Try again" in chat.labels()


async def test_a_store_failure_is_logged_with_its_cause(
    redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    harness = Harness(redis=aioredis.Redis(), prefix=redis_prefix)
    store = RedisChatStore.from_url(
        "redis://127.0.0.1:1/0", prefix=redis_prefix, session_model=Session
    )
    engine = build_engine(
        settings(), store=store, api=skiplino_client(harness.sandbox), clock=harness.clock
    )
    chat = FlowChat(
        engine, UserInfo(id=3300, first_name="Ali", language_code="en"), harness.sandbox
    )
    try:
        await chat.event(Command("start"))
    finally:
        await engine.api.aclose()
        await store.close()
        await harness.redis.aclose()

    [line] = [
        r.getMessage() for r in caplog.records if "session store unavailable" in r.getMessage()
    ]
    assert re.search(r"\(connection refused\)", line), line
