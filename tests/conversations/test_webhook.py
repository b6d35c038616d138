"""Two bot replicas behind a round-robin load balancer, fed by the fake Bot API's webhook.

Each replica is a real Application with its own engine behind ``create_webhook_app``,
served by uvicorn on loopback; they share only Redis and the sandbox. The fake Bot API
POSTs every update to the load balancer, which hands them to the replicas in turn, so
consecutive steps of one chat land on different processes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app import build_application, build_engine
from bot.sessions.redis_store import RedisChatStore
from bot.telegram.webhook import SECRET_HEADER, create_webhook_app
from bot.testing.fake_api import FakeBotAPI, FakeRequest
from conversations.session import Session
from sandbox import Sandbox
from tests.conversations.booking_steps import (
    APPOINTMENT_GROUP,
    APPOINTMENT_SERVICE,
    BRANCH,
    WALK_IN_GROUP,
    WALK_IN_SERVICE,
    day_label,
    tickets_of,
    user,
)
from tests.fakes.asgi_server import serving
from tests.fakes.harness import TOKEN, Harness, settings, skiplino_client

SECRET = "webhook_SECRET-for-tests-42"
PATH = "/telegram/webhook"
TOMORROW = date(2026, 12, 2)  # the harness's clock says Tuesday 1 December 2026


@dataclass
class RoundRobin:
    """A load balancer: forwards each POST to the next replica, and remembers who served it."""

    upstreams: list[str] = field(default_factory=list)
    served: list[tuple[str, int]] = field(default_factory=list)
    _turn: int = 0

    def app(self, client: httpx.AsyncClient) -> Starlette:
        """Return the ASGI app of the balancer."""

        async def forward(request: Request) -> Response:
            upstream = self.upstreams[self._turn % len(self.upstreams)]
            self._turn += 1
            headers = {
                name: value
                for name, value in request.headers.items()
                if name.lower() in ("content-type", SECRET_HEADER.lower())
            }
            answer = await client.post(
                upstream + request.url.path, content=await request.body(), headers=headers
            )
            self.served.append((upstream, answer.status_code))
            return Response(answer.content, status_code=answer.status_code)

        return Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])])

    def handled_by(self, upstream: str) -> int:
        """Return how many updates ``upstream`` accepted."""
        return sum(1 for url, status in self.served if url == upstream and status == 200)


@dataclass
class Fleet:
    """The harness, the replicas' base URLs and the balancer in front of them."""

    harness: Harness
    replicas: list[str]
    balancer: RoundRobin
    http: httpx.AsyncClient


@pytest.fixture
async def fleet(redis_client: aioredis.Redis, redis_prefix: str) -> AsyncIterator[Fleet]:
    """Serve two replicas and the balancer; the first replica calls setWebhook at start."""
    harness = Harness(redis=redis_client, prefix=redis_prefix)
    balancer = RoundRobin()
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10.0))
        lb_url = await stack.enter_async_context(serving(balancer.app(http)))
        # Closed first (stacks unwind backwards): no delivery may reach a stopped replica.
        replicas: list[str] = []
        for index in range(2):
            worker = harness.worker()
            app = create_webhook_app(
                worker.application,
                SECRET,
                PATH,
                ready=worker.engine.store.ping,
                webhook_url=f"{lb_url}{PATH}" if index == 0 else None,
            )
            replicas.append(await stack.enter_async_context(serving(app, lifespan="on")))
        stack.push_async_callback(harness.telegram.aclose)
        balancer.upstreams = replicas
        yield Fleet(harness, replicas, balancer, http)


def update_from(user_id: int, text: str, update_id: int = 900_000_001) -> dict[str, object]:
    """Return a Telegram update of a private text message."""
    person = {"id": user_id, "is_bot": False, "first_name": "Eve", "language_code": "en"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 1_764_000_000,
            "chat": {"id": user_id, "type": "private", "first_name": "Eve"},
            "from": person,
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


async def test_two_replicas_take_turns_and_book_a_walk_in_and_an_appointment(
    fleet: Fleet,
) -> None:
    telegram, sandbox = fleet.harness.telegram, fleet.harness.sandbox
    info = (await telegram.call("getWebhookInfo")).body["result"]
    assert info["url"].endswith(PATH)
    assert info["allowed_updates"] == ["callback_query", "message"]
    chat = user(fleet.harness, 7001)

    await chat.send("/start")
    await chat.tap("Book a ticket")
    await chat.tap(BRANCH)
    await chat.tap(WALK_IN_GROUP)
    await chat.tap(WALK_IN_SERVICE)
    await chat.tap("Join the queue now")
    walk_in = await chat.tap("Confirm")
    assert walk_in.text.startswith("✅ Booked!")
    assert len(tickets_of(sandbox, 7001)) == 1

    await chat.tap("Main menu")
    await chat.tap("Book a ticket")
    await chat.tap(BRANCH)
    await chat.tap(APPOINTMENT_GROUP)
    await chat.tap(APPOINTMENT_SERVICE)
    await chat.tap("Book a time")
    await chat.tap(day_label(TOMORROW))
    await chat.tap("10:30")
    appointment = await chat.tap("Confirm")

    assert appointment.text.startswith("✅ Booked!")
    tickets = tickets_of(sandbox, 7001)
    assert len(tickets) == 2
    assert sorted(t.type for t in tickets) == ["appointment", "sequential"]
    first, second = fleet.replicas
    assert fleet.balancer.handled_by(first) >= 8
    assert fleet.balancer.handled_by(second) >= 8
    assert telegram.pending_updates == 0
    # Every step edited the one card, whichever replica served it.
    assert len(chat.user.messages()) == 1


async def test_a_wrong_or_missing_secret_is_refused_and_nothing_is_processed(
    fleet: Fleet, redis_client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = fleet.replicas[0] + PATH
    body = update_from(7002, "/start")
    calls_before = len(fleet.harness.telegram.calls)

    wrong = await fleet.http.post(url, json=body, headers={SECRET_HEADER: "guess-" + SECRET})
    missing = await fleet.http.post(url, json=body)

    assert (wrong.status_code, missing.status_code) == (403, 403)
    assert fleet.harness.telegram.calls[calls_before:] == []
    assert await redis_client.exists(f"{fleet.harness.prefix}:session:{{7002}}") == 0
    assert "wrong or missing secret token" in caplog.text
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"update_id": "one"}',
        b'{"update_id": 5, "message": 7}',
        b'{"update_id": 5, "pad": "' + b"x" * 1_000_000 + b'"}',
    ],
    ids=["not json", "not an object", "bad update id", "bad message", "too big"],
)
async def test_a_malformed_body_gets_400_and_the_replica_keeps_serving(
    fleet: Fleet, body: bytes
) -> None:
    url = fleet.replicas[1] + PATH
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}

    refused = await fleet.http.post(url, content=body, headers=headers)
    assert refused.status_code == 400

    chat = user(fleet.harness, 7003)
    menu = await chat.send("/start")
    assert "What would you like to do?" in menu.text


async def test_health_is_200_while_redis_answers(fleet: Fleet) -> None:
    for replica in fleet.replicas:
        answer = await fleet.http.get(f"{replica}/healthz")
        assert answer.status_code == 200
        assert answer.json() == {"status": "ok", "store": "up"}


async def test_health_is_503_when_redis_is_unreachable(redis_prefix: str) -> None:
    # Nothing listens on port 1 of loopback: every Redis call fails at once.
    store = RedisChatStore.from_url(
        "redis://127.0.0.1:1/0", prefix=redis_prefix, session_model=Session
    )
    engine = build_engine(settings(), store=store, api=skiplino_client(Sandbox(secret_key="k")))
    telegram = FakeBotAPI()
    application = build_application(
        settings(),
        engine,
        request=FakeRequest(telegram),
        updates_request=FakeRequest(telegram),
        token=TOKEN,
    )
    app = create_webhook_app(application, SECRET, PATH, ready=store.ping)
    async with serving(app, lifespan="on") as base, httpx.AsyncClient() as http:
        answer = await http.get(f"{base}/healthz")

    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable", "store": "down"}
