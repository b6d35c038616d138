"""``skiplino-bot webhook`` replicas as real processes: redeliveries, and SIGTERM mid-update.

Two replica processes share Redis and the sandbox. A "tee" in front of them hands every
update the fake Bot API delivers to both replicas at once, the way Telegram's redelivery
after a timeout can reach a second replica while the first is still on it: each update
must be handled once. A replica stopped while an update hangs on Skiplino must exit within
its grace period and leave neither the chat's lock nor the update's claim behind.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from dataclasses import dataclass, field

import httpx
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.testing.fake_api import WebhookDelivery
from bot.testing.fake_server import FakeBotAPIServer
from tests.e2e.conftest import BotEnv, ChatOf
from tests.e2e.processes import (
    Child,
    Children,
    SandboxProcess,
    child_env,
    skiplino_command,
)
from tests.e2e.test_webhook import PATH, free_port, wait_until_healthy
from tests.fakes.asgi_server import serving

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# The replica's shutdown grace for updates in flight, and what the test allows on top.
SHUTDOWN_GRACE = 10.0
SHUTDOWN_SLACK = 4.0


@dataclass
class Tee:
    """Forwards each POST to every replica at once; 200 when one of them accepted it."""

    upstreams: list[str]
    answers: list[tuple[int, list[int]]] = field(default_factory=list)

    def app(self, http: httpx.AsyncClient) -> Starlette:
        """Return the ASGI app of the tee."""

        async def forward(request: Request) -> Response:
            body = await request.body()
            headers = {
                "Content-Type": "application/json",
                SECRET_HEADER: request.headers.get(SECRET_HEADER, ""),
            }
            answers = await asyncio.gather(
                *(
                    http.post(up + request.url.path, content=body, headers=headers)
                    for up in self.upstreams
                )
            )
            statuses = [answer.status_code for answer in answers]
            found = re.search(rb'"update_id":\s*(\d+)', body)
            assert found is not None
            self.answers.append((int(found.group(1)), statuses))
            return Response(status_code=200 if 200 in statuses else statuses[0])

        return Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])])


async def start_replica(
    children: Children, http: httpx.AsyncClient, env: dict[str, str], name: str
) -> tuple[Child, str]:
    """Start ``skiplino-bot webhook`` on a free port and return it with its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    replica_env = {**env, "WEBHOOK_LISTEN": "127.0.0.1", "WEBHOOK_PORT": str(port)}
    child = await children.spawn(name, skiplino_command("webhook"), child_env(replica_env))
    await wait_until_healthy(child, http, base)
    return child, base


async def test_every_update_delivered_to_two_replicas_at_once_is_handled_once(
    telegram: FakeBotAPIServer,
    sandbox: SandboxProcess,
    children: Children,
    bot_env: BotEnv,
    chat_of: ChatOf,
    http: httpx.AsyncClient,
    bot_token: str,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    webhook_secret = f"E2E-SECRET-WEBHOOK-{secrets.token_hex(6)}"
    env = {**bot_env(), "TELEGRAM_WEBHOOK_SECRET": webhook_secret}
    first, first_url = await start_replica(children, http, env, "replica 1")
    second, second_url = await start_replica(children, http, env, "replica 2")
    tee = Tee([first_url, second_url])
    async with httpx.AsyncClient(timeout=30.0) as forwarder, serving(tee.app(forwarder)) as url:
        api = telegram.api
        answer = await api.call(
            "setWebhook",
            {
                "url": url + PATH,
                "secret_token": webhook_secret,
                "allowed_updates": ["message", "callback_query"],
            },
            token=bot_token,
        )
        assert answer.status == 200
        chat = chat_of(6262, first_name="Noor")

        menu = await chat.send("/start")
        await chat.tap("Book a ticket")
        await chat.tap("Seef Mall")
        await chat.tap("Teller Services")
        await chat.tap("Cash Withdrawal")
        await chat.tap("Join the queue now")
        booked = await chat.tap("Confirm")
        await api.call("deleteWebhook", {}, token=bot_token)

    assert "What would you like to do?" in menu.text
    tickets = await sandbox.tickets_of("tg-6262")
    assert len(tickets) == 1
    assert f"Ticket {tickets[0]['ticketNumber']}" in booked.text
    assert await sandbox.bookings_made() == 1
    # Both replicas got every update; each answered 200 (handled, or found done) or 409
    # (still in progress on the other one, so Telegram would retry later).
    assert len(tee.answers) == 7
    for update_id, statuses in tee.answers:
        assert sorted(set(statuses)) in ([200], [200, 409]), (update_id, statuses)
    # Handled twice, /start would have sent a second menu and every tap would have redrawn
    # the card as a stale button.
    assert len(chat.user.messages()) == 1
    stale = "That button is from an earlier step"
    assert not any(stale in (event.text or "") for event in chat.user.transcript)
    for update_id, _ in tee.answers:
        assert await redis_client.get(f"{redis_prefix}:update:{update_id}") == b"done"
    assert await first.stop() == 0
    assert await second.stop() == 0
    assert webhook_secret not in first.output + second.output


async def test_sigterm_while_an_update_hangs_on_skiplino_exits_within_the_grace_and_frees_it(
    telegram: FakeBotAPIServer,
    sandbox: SandboxProcess,
    children: Children,
    bot_env: BotEnv,
    chat_of: ChatOf,
    http: httpx.AsyncClient,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    env = {
        **bot_env(),
        "TELEGRAM_WEBHOOK_SECRET": f"E2E-SECRET-WEBHOOK-{secrets.token_hex(6)}",
        # Neither the API client nor the update's deadline may end the hang first.
        "SKIPLINO_TIMEOUT_SECONDS": "120",
        "UPDATE_DEADLINE_SECONDS": "120",
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env |= {
        "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
        "TELEGRAM_WEBHOOK_URL": base + PATH,
    }
    bot = await children.spawn(
        "webhook bot", skiplino_command("webhook", "--set-webhook"), child_env(env)
    )
    await wait_until_healthy(bot, http, base)
    api = telegram.api
    await api.wait_until(lambda: api.webhook_url == base + PATH)
    chat = chat_of(6363, first_name="Noor")
    await chat.send("/start")
    await sandbox.set_faults({"hang": ["GET:/branches"]})

    await chat.user.click("Book a ticket")
    await wait_for_lock(redis_client, chat.lock_key)
    await asyncio.sleep(0.5)  # well inside the hanging call by now
    started = time.monotonic()
    bot.process.terminate()
    code = await bot.wait_exit(SHUTDOWN_GRACE + SHUTDOWN_SLACK)
    took = time.monotonic() - started

    assert code == 0, bot.describe()
    assert took < SHUTDOWN_GRACE + SHUTDOWN_SLACK
    # The cancelled update left its turn: the chat's lock is free at once, not after expiry.
    assert await redis_client.exists(chat.lock_key) == 0
    # Its claim was released, so Telegram's redelivery to any replica is handled.
    assert set(await redis_client.keys(f"{redis_prefix}:update:*")) == {
        f"{redis_prefix}:update:{update_id}".encode()
        for update_id in done_updates(api.webhook_deliveries)
    }
    assert "Traceback" not in bot.output, bot.describe()


def done_updates(deliveries: list[WebhookDelivery]) -> set[int]:
    """Return the ids of the updates the webhook accepted (they stay marked done)."""
    return {delivery.update_id for delivery in deliveries if delivery.ok}


async def wait_for_lock(redis: aioredis.Redis, key: str, within: float = 10.0) -> None:
    """Return once ``key`` exists (an update of the chat is running)."""
    deadline = time.monotonic() + within
    while not await redis.exists(key):
        if time.monotonic() >= deadline:
            raise AssertionError(f"no update took the chat's lock within {within} s")
        await asyncio.sleep(0.02)
