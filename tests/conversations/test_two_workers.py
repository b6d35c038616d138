"""Two bot workers sharing one Redis serve one chat: every step may land on either of them.

Workers are real Applications with their own engines and API clients; only Redis and the
sandbox are shared. If any part of a conversation lived in a worker's memory, a step served
by the other worker would not know it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telegram import Update

from bot.testing.fake_api import FakeBotAPI
from tests.conversations.booking_steps import (
    BRANCH,
    SteadyChat,
    day_label,
    session_of,
    tickets_of,
    user,
)
from tests.fakes.harness import BotWorker, Harness

TOMORROW = datetime(2026, 12, 2, tzinfo=UTC).date()
TEN_THIRTY = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)


async def pause(harness: Harness, worker: BotWorker) -> None:
    """Stop a worker's polling and processing, keeping it able to start again."""
    harness.telegram.release_pollers()
    assert worker.application.updater is not None
    await worker.application.updater.stop()
    await worker.application.stop()


async def resume(worker: BotWorker) -> None:
    """Start a paused worker again."""
    await worker.application.start()
    assert worker.application.updater is not None
    await worker.application.updater.start_polling(poll_interval=0.0, timeout=1)


def holds_no_conversation(worker: BotWorker) -> bool:
    """Tell whether the worker's Application keeps no chat, user or bot data in memory."""
    app = worker.application
    return not app.chat_data and not app.user_data and not app.bot_data


async def test_a_booking_goes_on_when_its_worker_stops_and_others_take_turns(
    harness: Harness,
) -> None:
    first = harness.workers[0]
    chat = user(harness)
    await chat.send("/start")
    await chat.tap("Book a ticket")
    await first.stop()

    second = harness.worker()
    await second.start()
    groups = await chat.tap(BRANCH)
    assert "Choose a service group" in groups.text
    await chat.tap("Customer Service")

    third = harness.worker()
    await third.application.initialize()
    active, idle = second, third
    for label in ("Account Opening", "Book a time", day_label(TOMORROW), "10:30", "Confirm"):
        await pause(harness, active)
        await resume(idle)
        active, idle = idle, active
        card = await chat.tap(label)

    assert card.text.startswith("✅ Booked!")
    [ticket] = tickets_of(harness.sandbox, chat.user.id)
    assert ticket.time == TEN_THIRTY
    assert ticket.service_id == harness.sandbox.sample.appointment_service
    # One card, edited in place by whichever worker served the step.
    assert len(chat.user.messages()) == 1
    assert all(holds_no_conversation(w) for w in harness.workers)


@dataclass
class LoadBalancer:
    """Hand each update to a chosen worker, as a webhook load balancer would."""

    telegram: FakeBotAPI
    offset: int = 0

    async def take(self) -> list[dict[str, Any]]:
        """Fetch the updates waiting at the fake Bot API and confirm them."""
        response = await self.telegram.call("getUpdates", {"offset": self.offset, "timeout": 0})
        updates: list[dict[str, Any]] = response.body["result"]
        if updates:
            self.offset = updates[-1]["update_id"] + 1
        return updates

    async def to(self, worker: BotWorker, body: dict[str, Any]) -> None:
        """Let ``worker`` process one update to the end."""
        app = worker.application
        await app.process_update(Update.de_json(body, app.bot))


async def webhook_workers(harness: Harness) -> tuple[BotWorker, BotWorker]:
    """Stop the polling worker and start two that only take updates handed to them."""
    await pause(harness, harness.workers[0])
    workers = (harness.worker(), harness.worker())
    for worker in workers:
        await worker.application.initialize()
        await worker.application.start()
    return workers


async def step(balancer: LoadBalancer, worker: BotWorker, chat: SteadyChat, label: str) -> str:
    """Tap ``label`` and have ``worker`` serve the tap; return what the chat shows."""
    await chat.user.click(label)
    [update] = await balancer.take()
    await balancer.to(worker, update)
    return (await chat.settle()).text


async def test_two_workers_serve_alternate_steps_of_one_chat(harness: Harness) -> None:
    one, two = await webhook_workers(harness)
    balancer = LoadBalancer(harness.telegram)
    chat = user(harness)
    await chat.user.send("/book")
    [update] = await balancer.take()
    await balancer.to(one, update)
    await chat.settle()

    texts = []
    labels = (BRANCH, "Teller", "Cash Withdrawal", "Join the queue now", "Back", "Join", "Confirm")
    for index, label in enumerate(labels):
        texts.append(await step(balancer, (two, one)[index % 2], chat, label))

    assert "Choose a service group" in texts[0]
    assert "Please check your booking" in texts[3]
    assert texts[4] == "Cash Withdrawal"
    assert texts[6].startswith("✅ Booked!")
    assert len(tickets_of(harness.sandbox, chat.user.id)) == 1
    assert (await session_of(harness, chat)).state == "ticket"
    assert holds_no_conversation(one)
    assert holds_no_conversation(two)


async def test_confirm_taps_split_over_two_workers_book_one_ticket(harness: Harness) -> None:
    one, two = await webhook_workers(harness)
    balancer = LoadBalancer(harness.telegram)
    chat = user(harness)
    await chat.user.send("/book")
    await balancer.to(one, (await balancer.take())[0])
    for label in (BRANCH, "Teller", "Cash Withdrawal", "Join the queue now"):
        await step(balancer, one, chat, label)
    confirm = chat.last.button("Confirm").callback_data
    assert confirm is not None

    for _ in range(6):
        await chat.user.click_data(confirm)
    updates = await balancer.take()
    await asyncio.gather(*(balancer.to((one, two)[i % 2], body) for i, body in enumerate(updates)))
    await chat.settle()

    assert len(updates) == 6
    assert len(tickets_of(harness.sandbox, chat.user.id)) == 1
    assert "🎫 Ticket" in chat.last.text
