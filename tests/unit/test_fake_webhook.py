"""Prove the fake Bot API's webhook mode behaves like Telegram's.

A tiny receiver (a Starlette app served on loopback) plays the bot's webhook server; the
tests set the webhook through the fake's API and watch what the receiver gets.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.testing.fake_api import FakeBotAPI
from tests.fakes.asgi_server import serving

SECRET = "s3cret_Token-1"
HEADER = "x-telegram-bot-api-secret-token"


@dataclass
class Receiver:
    """A webhook endpoint that records what it gets and answers with scripted statuses."""

    statuses: list[int] = field(default_factory=list)  # answered in order, then 200
    received: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    hold: dict[str, asyncio.Event] = field(default_factory=dict)  # text -> answer when set
    url: str = ""

    def app(self) -> Starlette:
        """Return the ASGI app."""

        async def endpoint(request: Request) -> Response:
            body: dict[str, Any] = await request.json()
            self.received.append((body, request.headers.get(HEADER)))
            text = body.get("message", {}).get("text", "")
            if text in self.hold:
                await self.hold[text].wait()
            status = self.statuses.pop(0) if self.statuses else 200
            return Response(status_code=status)

        return Starlette(routes=[Route("/hook", endpoint, methods=["POST"])])

    def texts(self) -> list[str]:
        """Return the texts of the message updates received, in order."""
        return [body["message"]["text"] for body, _ in self.received if "message" in body]


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """Return a fake whose webhook delivery is stopped after the test."""
    fake = FakeBotAPI(webhook_retry_delay=0.01)
    yield fake
    await fake.aclose()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """Serve a receiver on a free loopback port."""
    hook = Receiver()
    async with serving(hook.app()) as base:
        hook.url = f"{base}/hook"
        yield hook


async def set_webhook(api: FakeBotAPI, url: str, **params: Any) -> dict[str, Any]:
    """Call setWebhook and return the answer's body."""
    response = await api.call("setWebhook", {"url": url, "secret_token": SECRET, **params})
    body: dict[str, Any] = response.body
    return body


async def test_updates_are_posted_as_json_with_the_secret_header_and_then_confirmed(
    api: FakeBotAPI, receiver: Receiver
) -> None:
    assert (await set_webhook(api, receiver.url))["ok"] is True
    user = api.user(501)

    await user.send("hello")
    await api.wait_until(lambda: api.pending_updates == 0 and bool(receiver.received))

    [(body, header)] = receiver.received
    assert body["message"]["text"] == "hello"
    assert body["message"]["from"]["id"] == 501
    assert isinstance(body["update_id"], int)
    assert header == SECRET


async def test_get_updates_is_refused_while_a_webhook_is_set_and_works_after_delete(
    api: FakeBotAPI, receiver: Receiver
) -> None:
    await set_webhook(api, receiver.url)
    refused = await api.call("getUpdates", {"timeout": 0})
    assert refused.status == 409
    assert refused.body["description"] == (
        "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first"
    )

    assert (await api.call("deleteWebhook")).body["result"] is True
    await api.user(502).send("after delete")
    polled = await api.call("getUpdates", {"timeout": 0})

    assert polled.status == 200
    assert [u["message"]["text"] for u in polled.body["result"]] == ["after delete"]
    assert receiver.received == []


async def test_a_refused_delivery_is_retried_until_the_server_takes_it(
    api: FakeBotAPI, receiver: Receiver
) -> None:
    receiver.statuses = [500, 502]
    await set_webhook(api, receiver.url)

    await api.user(503).send("try again")
    await api.wait_until(lambda: api.pending_updates == 0)

    assert receiver.texts() == ["try again"] * 3
    assert [(d.attempt, d.status) for d in api.webhook_deliveries] == [
        (1, 500),
        (2, 502),
        (3, 200),
    ]
    info = (await api.call("getWebhookInfo")).body["result"]
    assert info["last_error_message"] == "Wrong response from the webhook: 502 Bad Gateway"


async def test_an_update_refused_every_time_is_dropped_after_the_last_attempt(
    api: FakeBotAPI, receiver: Receiver
) -> None:
    receiver.statuses = [503] * 10
    await set_webhook(api, receiver.url)

    await api.user(504).send("never")
    await api.wait_until(lambda: api.pending_updates == 0)

    assert len(receiver.received) == api.webhook_attempts == 3
    assert not any(delivery.ok for delivery in api.webhook_deliveries)


async def test_an_unreachable_webhook_is_recorded_as_a_connection_failure(
    api: FakeBotAPI,
) -> None:
    # Nothing listens on port 1 of loopback.
    await set_webhook(api, "http://127.0.0.1:1/hook")

    await api.user(505).send("anyone?")
    await api.wait_until(lambda: api.pending_updates == 0)

    assert [d.status for d in api.webhook_deliveries] == [None, None, None]
    info = (await api.call("getWebhookInfo")).body["result"]
    assert info["last_error_message"].startswith("Connection failed")


async def test_one_chat_waits_for_its_previous_update_while_other_chats_go_on(
    api: FakeBotAPI, receiver: Receiver
) -> None:
    release = asyncio.Event()
    receiver.hold["first"] = release
    await set_webhook(api, receiver.url)
    slow, other = api.user(506), api.user(507)

    await slow.send("first")
    await slow.send("second")
    await other.send("meanwhile")
    await api.wait_until(lambda: "meanwhile" in receiver.texts())
    assert receiver.texts() == ["first", "meanwhile"]

    release.set()
    await api.wait_until(lambda: api.pending_updates == 0)
    assert receiver.texts() == ["first", "meanwhile", "second"]


async def test_webhook_info_tells_the_url_and_the_allowed_kinds(
    api: FakeBotAPI, receiver: Receiver
) -> None:
    await set_webhook(api, receiver.url, allowed_updates=["message", "callback_query"])

    info = (await api.call("getWebhookInfo")).body["result"]

    assert info["url"] == receiver.url
    assert info["allowed_updates"] == ["callback_query", "message"]
    assert info["pending_update_count"] == 0


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"url": "ftp://example.org/hook"}, "An HTTPS URL must be provided"),
        ({"url": "https://example.org/hook", "secret_token": "has space"}, "secret token"),
    ],
    ids=["bad url", "bad secret"],
)
async def test_set_webhook_refuses_a_bad_url_or_secret(
    api: FakeBotAPI, params: dict[str, Any], description: str
) -> None:
    response = await api.call("setWebhook", params)

    assert response.status == 400
    assert description in response.body["description"]
    assert (await api.call("getUpdates", {"timeout": 0})).status == 200


async def test_an_empty_url_removes_the_webhook(api: FakeBotAPI, receiver: Receiver) -> None:
    await set_webhook(api, receiver.url)

    await api.call("setWebhook", {"url": ""})

    assert (await api.call("getWebhookInfo")).body["result"]["url"] == ""
    assert (await api.call("getUpdates", {"timeout": 0})).status == 200
