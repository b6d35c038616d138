"""What the Telegram adapter promises: quick answers, typing, flood control, contacts, paging."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import cast
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis.asyncio as aioredis
from telegram import Bot, Update

from bot.aio import running
from bot.app import FLOWS
from bot.i18n import Msg, Translator
from bot.skiplino import SkiplinoClient
from bot.telegram import handlers
from bot.telegram.handlers import Reply, TelegramBridge
from bot.testing.fake_api import FakeBotAPI
from bot.testing.memory_store import MemoryChatStore
from conversations.engine import Engine
from conversations.events import Command, Tap, UserInfo
from conversations.replies import Button
from conversations.session import Session
from tests.conversations.booking_steps import customer_of, to_walk_in_confirm, user
from tests.fakes.harness import START, Harness

BAHRAIN = ZoneInfo("Asia/Bahrain")


@pytest.fixture
async def flooding(redis_client: aioredis.Redis, redis_prefix: str) -> AsyncIterator[Harness]:
    """Return a harness whose Telegram answers every third call with 429 retry_after=1."""
    h = Harness(
        redis=redis_client,
        prefix=redis_prefix,
        telegram=FakeBotAPI(quiet_period=0.08, flood_every=3, flood_retry_after=1),
    )
    await h.start()
    yield h
    await h.stop()


async def test_flood_control_is_honoured_and_the_booking_still_completes(
    flooding: Harness,
) -> None:
    chat = user(flooding)
    await to_walk_in_confirm(chat)
    card = await chat.tap("Confirm")

    assert "Booked" in card.text
    refused = [c for c in flooding.telegram.calls if c.status == 429]
    assert refused, "the fake never asked the bot to slow down"
    # Every refused send was sent again and landed: the chat shows the ticket card.
    assert "Ticket Q" in chat.last.text


async def test_a_tap_is_answered_before_a_slow_call_and_typing_is_shown(harness: Harness) -> None:
    chat = user(harness)
    await to_walk_in_confirm(chat)
    harness.sandbox.faults.set(latency_ms=700)
    mark = len(harness.telegram.calls)

    card = await chat.tap("Confirm")

    assert "Booked" in card.text
    methods = [c.method.lower() for c in harness.telegram.calls[mark:]]
    assert methods.index("answercallbackquery") < methods.index("sendchataction")
    assert methods.index("sendchataction") < methods.index("editmessagetext")
    actions = [c.params.get("action") for c in harness.telegram.calls_of("sendChatAction")]
    assert "typing" in actions
    assert chat.user.unanswered_callbacks() == []


async def test_a_fast_update_sends_no_typing_indicator(harness: Harness) -> None:
    chat = user(harness)
    await chat.send("/start")
    await chat.tap("Book a ticket")

    assert harness.telegram.calls_of("sendChatAction") == []


async def test_the_users_own_contact_is_stored_in_e164_on_the_customer(harness: Harness) -> None:
    chat = user(harness)
    await to_walk_in_confirm(chat)
    await chat.tap("Confirm")  # links the Skiplino customer
    await chat.send("/phone")
    assert chat.user.reply_keyboard() is not None

    await chat.user.share_contact("97333445566")
    await chat.user.wait_for_reply()

    customer = customer_of(harness.sandbox, chat.user.id)
    assert customer is not None
    assert customer.mobile == "+97333445566"
    texts = [m.text for m in chat.user.messages()]
    assert any("+97333445566" in text and "saved" in text for text in texts)


async def test_someone_elses_contact_is_refused(harness: Harness) -> None:
    chat = user(harness)
    await chat.send("/phone")

    await chat.user.share_contact("97339990000", user_id=555)
    await chat.user.wait_for_reply()

    assert "your own contact" in chat.last.text
    customer = customer_of(harness.sandbox, chat.user.id)
    assert customer is None or customer.mobile != "+97339990000"


def _many_branches(request: httpx.Request) -> httpx.Response:
    """Answer GET /branches with eleven branches (the sample company has four)."""
    assert request.url.path.endswith("/branches")
    data = [
        {"id": f"br{n:08d}", "name": f"Branch {n}", "branchStatus": {"isBranchOpen": n % 3 != 0}}
        for n in range(1, 12)
    ]
    body = {"message": "Branches fetched successfully.", "data": data}
    return httpx.Response(200, content=json.dumps(body).encode())


def _label(button: Button) -> str:
    """Return a branch button's name, or a fixed button's catalog key."""
    if isinstance(button.label, str):
        return button.label
    return str(button.label.params.get("name", button.label.key))


async def test_branches_are_paged_past_eight_with_next_and_previous() -> None:
    api = SkiplinoClient(
        base_url="http://api/external/v1",
        api_key="sk_test",
        transport=httpx.MockTransport(_many_branches),
    )
    store = MemoryChatStore(session_model=Session)
    engine = Engine(
        flows=FLOWS,
        api=api,
        store=store,
        timezone=BAHRAIN,
        clock=lambda: START,
    )
    bridge = TelegramBridge(engine, store, Translator())
    seen: list[Reply] = []

    async def deliver(outcome: Reply) -> None:
        seen.append(outcome)

    def buttons() -> dict[str, Button]:
        return {_label(b): b for row in seen[-1].cards[0].buttons for b in row}

    layla = UserInfo(id=7, first_name="Layla")
    await bridge.handle(7, layla, Command("book"), deliver)
    first = buttons()
    assert list(first)[:8] == [f"Branch {n}" for n in range(1, 9)]
    assert "common.next" in first
    assert "common.prev" not in first
    branch_3 = first["Branch 3"].label
    assert isinstance(branch_3, Msg)
    assert branch_3.key == "booking.branch_closed"

    await bridge.handle(7, layla, Tap(first["common.next"].data, message_id=1), deliver)
    second = buttons()
    assert list(second)[:3] == ["Branch 9", "Branch 10", "Branch 11"]
    assert "common.prev" in second
    assert "common.next" not in second

    await bridge.handle(7, layla, Tap(second["common.prev"].data, message_id=1), deliver)
    assert list(buttons())[:8] == list(first)[:8]
    await api.aclose()


async def test_updates_from_group_chats_are_ignored(harness: Harness) -> None:
    application = harness.workers[0].application
    group_message = {
        "update_id": 900001,
        "message": {
            "message_id": 1,
            "date": 1764576000,
            "chat": {"id": -100123, "type": "supergroup", "title": "Branch staff"},
            "from": {"id": 1001, "is_bot": False, "first_name": "Layla"},
            "text": "/book",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }
    mark = len(harness.telegram.calls)

    await application.process_update(Update.de_json(group_message, application.bot))

    assert harness.telegram.calls[mark:] == []
    store = harness.store()
    assert (await store.load(-100123, 1001)).session is None


async def test_a_card_deleted_while_its_tap_runs_is_sent_anew(harness: Harness) -> None:
    chat = user(harness)
    await chat.send("/start")
    card = chat.last
    harness.sandbox.faults.set(latency_ms=300)

    await chat.user.click("Book a ticket")
    # The user deletes the card while the bot is still fetching the branches.
    await asyncio.sleep(0.1)
    deleted = await harness.telegram.call(
        "deleteMessage", {"chat_id": chat.user.id, "message_id": card.message_id}
    )
    assert deleted.status == 200
    sends = len(harness.telegram.calls_of("sendMessage"))
    await harness.telegram.wait_until(
        lambda: len(harness.telegram.calls_of("sendMessage")) > sends, timeout=10
    )
    await chat.user.wait_for_reply(timeout=10)

    assert "Choose a branch" in chat.last.text
    assert chat.last.message_id != card.message_id
    edits = harness.telegram.calls_of("editMessageText")
    assert [c.description for c in edits if not c.ok] == ["Bad Request: message to edit not found"]
    assert "Sorry" not in chat.last.text


async def test_a_contact_shared_before_any_booking_reaches_a_new_customer(
    harness: Harness,
) -> None:
    chat = user(harness)
    await chat.send("/phone")

    await chat.user.share_contact("97333445566")
    await chat.user.wait_for_reply()

    customer = customer_of(harness.sandbox, chat.user.id)
    assert customer is not None
    assert customer.mobile == "+97333445566"


async def test_a_phone_number_skiplino_refused_is_not_called_saved(harness: Harness) -> None:
    chat = user(harness)
    await to_walk_in_confirm(chat)
    await chat.tap("Confirm")
    await chat.send("/phone")
    harness.sandbox.faults.force("PUT", "/customers/update", 503)

    await chat.user.share_contact("97333445566")
    await chat.user.wait_for_reply()

    texts = [m.text for m in chat.user.messages()]
    assert any("couldn't store your phone number" in text for text in texts)
    assert not any("is saved" in text for text in texts)
    customer = customer_of(harness.sandbox, chat.user.id)
    assert customer is not None
    assert customer.mobile != "+97333445566"


async def test_leaving_the_phone_step_by_a_command_takes_the_contact_keyboard_away(
    harness: Harness,
) -> None:
    chat = user(harness)
    await chat.send("/phone")
    mark = len(harness.telegram.calls)

    branches = await chat.send("/book")

    assert "Choose a branch" in branches.text
    removals = [
        call
        for call in harness.telegram.calls[mark:]
        if call.method.lower() == "sendmessage"
        and "remove_keyboard" in json.dumps(call.params.get("reply_markup", ""))
    ]
    assert len(removals) == 1


async def test_a_typing_call_that_swallows_its_cancellation_cannot_hold_the_update(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Repeat at once, so that a loop ignoring the stop flag would type again within the test.
    monkeypatch.setattr(handlers, "TYPING_AFTER_SECONDS", 0.01)
    monkeypatch.setattr(handlers, "TYPING_EVERY_SECONDS", 0.01)
    calling = asyncio.Event()
    answered = asyncio.Event()
    actions: list[str] = []

    class StubbornBot:
        """A Bot whose chat action, once cancelled, still waits for Telegram's answer."""

        async def send_chat_action(self, chat_id: int, action: str) -> None:
            """Record the action; the first one hangs until cancelled, then until answered."""
            actions.append(action)
            if calling.is_set():
                return
            calling.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                await answered.wait()

    bot = cast(Bot, StubbornBot())

    async def typing(stop: asyncio.Event) -> None:
        """Keep the stubborn bot typing in chat 7."""
        await TelegramBridge.keep_typing(bot, 7, stop)

    started = time.monotonic()
    async with asyncio.timeout(5):
        async with running(typing, stop_timeout=0.2):
            await calling.wait()  # the update is slow enough to show "typing…"

    assert time.monotonic() - started < 2.0
    answered.set()
    await asyncio.sleep(0.1)
    # The stray indicator saw the stop flag and ended instead of typing again.
    assert actions == ["typing"]
