"""A slow update keeps its chat locked: a second tap can never book next to it."""

from __future__ import annotations

import asyncio

from tests.conversations.booking_steps import tickets_of, to_walk_in_confirm, user
from tests.fakes.harness import Harness


async def test_a_booking_slower_than_the_lock_hold_is_still_booked_once(harness: Harness) -> None:
    lock = harness.workers[0].bridge.lock
    # Scale the lock down so that one booking (several Skiplino calls of 400 ms) outlasts it
    # many times over; only renewal keeps the second tap out.
    lock.hold_ms = 500
    lock.renew_seconds = 0.1
    lock.wait = 0.3
    chat = user(harness)
    confirm = await to_walk_in_confirm(chat)
    data = confirm.button("Confirm").callback_data
    assert data is not None
    harness.sandbox.faults.set(latency_ms=400)

    await chat.user.click_data(data, confirm.message_id)
    await asyncio.sleep(0.7)  # past the lock's hold time, while the booking still runs
    await chat.user.click_data(data, confirm.message_id)
    await harness.telegram.wait_until(lambda: "Booked" in chat.user.last_message().text, 15)
    await chat.user.wait_for_reply(timeout=10)

    assert len(tickets_of(harness.sandbox, chat.user.id)) == 1
    books = [r for r in harness.sandbox.requests if r.api_path.endswith("/tickets/book")]
    assert len(books) == 1
