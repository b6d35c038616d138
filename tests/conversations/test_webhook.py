"""Two bot replicas behind a round-robin load balancer, fed by the fake Bot API's webhook.

Each replica is a real Application with its own engine behind ``create_webhook_app``,
served by uvicorn on loopback; they share only Redis and the sandbox. The fake Bot API
POSTs every update to the load balancer, which hands them to the replicas in turn, so
consecutive steps of one chat land on different processes. Tests also POST to a replica
directly: redelivered updates, oversized bodies, update kinds the bot does not handle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.telegram.webhook import (
    SECRET_HEADER,
    create_webhook_app,
    listening_socket,
    webhook_server,
)
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
from tests.fakes.harness import Harness, settings, webhook_app

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
                store=worker.engine.store,
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
    ],
    ids=["not json", "not an object", "bad update id", "bad message"],
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
    app = webhook_app("redis://127.0.0.1:1/0", redis_prefix, SECRET, PATH)
    async with serving(app, lifespan="on") as base, httpx.AsyncClient() as http:
        answer = await http.get(f"{base}/healthz")

    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable", "store": "down"}


HEADERS = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
TOO_BIG = b'{"update_id": 5, "pad": "' + b"x" * 1_000_000 + b'"}'


async def test_a_body_declared_too_big_gets_413_and_the_replica_keeps_serving(
    fleet: Fleet,
) -> None:
    url = fleet.replicas[1] + PATH

    refused = await fleet.http.post(url, content=TOO_BIG, headers=HEADERS)

    assert refused.status_code == 413
    menu = await user(fleet.harness, 7010).send("/start")
    assert "What would you like to do?" in menu.text


async def test_a_chunked_body_is_cut_off_at_the_cap_with_413(fleet: Fleet) -> None:
    url = fleet.replicas[1] + PATH
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        """Stream 64 KiB chunks, far past the cap unless the server stops reading."""
        nonlocal sent
        yield b'{"update_id": 5, "pad": "'
        for _ in range(200):  # 13 MB in all
            sent += 65536
            yield b"x" * 65536

    # A generator body goes out chunked: no Content-Length to refuse it by.
    try:
        refused = await fleet.http.post(url, content=chunks(), headers=HEADERS)
    except httpx.TransportError:
        # The server may close before the client has sent everything; the server's side is
        # what matters: it stopped reading long before the end.
        status = 413
    else:
        status = refused.status_code
        assert "content-length" not in refused.request.headers

    assert status == 413
    menu = await user(fleet.harness, 7011).send("/start")
    assert "What would you like to do?" in menu.text


def update_of(kind: str, user_id: int, text: str, update_id: int) -> dict[str, object]:
    """Return an update whose payload under ``kind`` is a message like ``update_from``'s."""
    message = update_from(user_id, text, update_id)["message"]
    assert isinstance(message, dict)
    if kind == "channel_post":
        message = {**message, "chat": {"id": -100_123, "type": "channel", "title": "News"}}
        del message["from"]
    if kind == "edited_message":
        message = {**message, "edit_date": 1_764_000_100}
    return {"update_id": update_id, kind: message}


@pytest.mark.parametrize("kind", ["edited_message", "channel_post", "edited_channel_post"])
async def test_an_edit_or_a_channel_post_gets_no_answer(
    fleet: Fleet, redis_client: aioredis.Redis, kind: str
) -> None:
    fleet.harness.telegram.user(7012, first_name="Eve")  # so an answer would get through
    # The message was edited into a command: answering it would run /tickets again.
    body = update_of(kind, 7012, "/tickets", 900_000_100)
    calls_before = len(fleet.harness.telegram.calls)

    answer = await fleet.http.post(fleet.replicas[0] + PATH, json=body, headers=HEADERS)
    await asyncio.sleep(0.3)  # anything the replica would send has been sent by now

    assert answer.status_code == 200  # accepted, so Telegram does not deliver it again
    assert fleet.harness.telegram.calls[calls_before:] == []
    assert await redis_client.exists(f"{fleet.harness.prefix}:session:{{7012}}") == 0


async def test_a_reaction_gets_no_answer(fleet: Fleet) -> None:
    body = {
        "update_id": 900_000_101,
        "message_reaction": {
            "chat": {"id": 7013, "type": "private", "first_name": "Eve"},
            "message_id": 1,
            "user": {"id": 7013, "is_bot": False, "first_name": "Eve"},
            "date": 1_764_000_000,
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "👍"}],
        },
    }
    calls_before = len(fleet.harness.telegram.calls)

    answer = await fleet.http.post(fleet.replicas[0] + PATH, json=body, headers=HEADERS)
    await asyncio.sleep(0.3)

    assert answer.status_code == 200
    assert fleet.harness.telegram.calls[calls_before:] == []


def sent_to(fleet: Fleet, chat_id: int) -> int:
    """Return how many messages the replicas sent to ``chat_id``."""
    return sum(
        1
        for call in fleet.harness.telegram.calls
        if call.method == "sendMessage" and call.params.get("chat_id") == chat_id
    )


async def test_a_redelivered_update_is_acknowledged_without_being_handled_again(
    fleet: Fleet, redis_client: aioredis.Redis
) -> None:
    fleet.harness.telegram.user(7014, first_name="Eve")  # the chat exists
    body = update_from(7014, "/start", 900_000_200)
    first, second = fleet.replicas

    handled = await fleet.http.post(first + PATH, json=body, headers=HEADERS)
    again_here = await fleet.http.post(first + PATH, json=body, headers=HEADERS)
    again_there = await fleet.http.post(second + PATH, json=body, headers=HEADERS)

    assert [handled.status_code, again_here.status_code, again_there.status_code] == [200] * 3
    assert sent_to(fleet, 7014) == 1
    key = f"{fleet.harness.prefix}:update:900000200"
    assert await redis_client.get(key) == b"done"
    assert await redis_client.ttl(key) > 3000


async def test_one_update_delivered_to_both_replicas_at_once_is_handled_once(
    fleet: Fleet,
) -> None:
    fleet.harness.telegram.user(7015, first_name="Eve")  # the chat exists
    body = update_from(7015, "/start", 900_000_300)

    answers = await asyncio.gather(
        *(fleet.http.post(replica + PATH, json=body, headers=HEADERS) for replica in fleet.replicas)
    )

    statuses = sorted(answer.status_code for answer in answers)
    # The loser finds it either in progress (409: Telegram retries later) or already done.
    assert statuses in ([200, 200], [200, 409])
    assert sent_to(fleet, 7015) == 1


async def test_an_update_claimed_by_a_replica_that_died_is_handled_once_the_claim_expires(
    fleet: Fleet, redis_client: aioredis.Redis
) -> None:
    fleet.harness.telegram.user(7016, first_name="Eve")  # the chat exists
    body = update_from(7016, "/start", 900_000_400)
    key = f"{fleet.harness.prefix}:update:900000400"
    # What a replica that claimed the update and then died leaves behind.
    await redis_client.set(key, "token-of-a-dead-replica", px=400)

    meanwhile = await fleet.http.post(fleet.replicas[0] + PATH, json=body, headers=HEADERS)
    assert meanwhile.status_code == 409  # not 2xx: Telegram delivers it again later
    assert sent_to(fleet, 7016) == 0
    await asyncio.sleep(0.5)

    redelivered = await fleet.http.post(fleet.replicas[1] + PATH, json=body, headers=HEADERS)

    assert redelivered.status_code == 200
    assert sent_to(fleet, 7016) == 1
    assert await redis_client.get(key) == b"done"


async def test_an_update_past_its_deadline_gets_the_apology_and_frees_the_chat(
    fleet: Fleet, redis_client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    for worker in fleet.harness.workers:
        worker.bridge.deadline = 0.5
    chat = user(fleet.harness, 7017)
    await chat.send("/start")
    fleet.harness.sandbox.faults.add_hang("GET", "/branches")
    started = time.monotonic()

    apology = await chat.tap("Book a ticket")

    assert time.monotonic() - started < 4.0  # far below the API client's own 5 s timeout
    assert (
        apology.text
        == "The booking service is not answering right now. Please try again in a moment."
    )
    assert "passed its 0.5 s deadline" in caplog.text
    assert await redis_client.exists(f"{fleet.harness.prefix}:lock:{{7017}}") == 0
    # Every delivery of the update was answered 2xx: Telegram does not send it again.
    assert all(delivery.ok for delivery in fleet.harness.telegram.webhook_deliveries)

    fleet.harness.sandbox.faults.remove_hang("GET", "/branches")
    retry = await chat.send("/book")
    assert BRANCH in str(retry.buttons)  # the chat is free and the bot serves it again


class _QuietServer(uvicorn.Server):
    """The webhook server's configuration, leaving the test process's signals alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Do not take over SIGINT/SIGTERM."""
        yield


def nodelay(sock: Any) -> int:
    """Return the TCP_NODELAY option of a socket (or asyncio's wrapper of one)."""
    return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


async def test_the_webhook_servers_sockets_send_small_answers_at_once() -> None:
    config = settings().model_copy(update={"webhook_listen": "127.0.0.1", "webhook_port": 0})
    sock = listening_socket(config)
    port = sock.getsockname()[1]
    server = _QuietServer(webhook_server(Starlette(routes=[Route("/", _ok)])).config)
    serving_task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving_task.done():
                serving_task.result()
                raise AssertionError("the server stopped while starting")
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient() as http:
            # The keep-alive connection stays open, so the server's end of it can be looked at.
            assert (await http.get(f"http://127.0.0.1:{port}/")).text == "ok"
            accepted = [
                conn.transport.get_extra_info("socket") for conn in server.server_state.connections
            ]
            assert accepted
            assert [nodelay(conn) for conn in accepted] == [1] * len(accepted)
        assert nodelay(sock) == 1
    finally:
        server.should_exit = True
        await serving_task


async def _ok(request: Request) -> Response:
    """Answer a tiny body, like the webhook's empty 200."""
    return Response("ok")
