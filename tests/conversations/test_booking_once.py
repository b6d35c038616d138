"""Exactly-once booking with a slow Skiplino: a request whose outcome is unknown is looked for,
never sent again and never called "not made"; a copy of the Confirm tap keeps the success card.

The slow Skiplino is the sandbox's late route (the booking is stored after the client's read
timeout); other trouble is made at the transport seam (``NetworkTransport``). What the user
sees and what the sandbox holds are asserted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.conversations.booking_steps import (
    STALE_LINE,
    NetworkTransport,
    SteadyChat,
    calls,
    network_client,
    session_of,
    tickets_of,
    to_walk_in_confirm,
    user,
)
from tests.fakes.harness import Harness

BOOKED = "✅ Booked!"
CHECKING = "Your booking was sent but Skiplino has not confirmed it yet."
NOT_MADE = "No ticket was made"
# The client gives up after READ_TIMEOUT; the sandbox stores the booking after LANDS_AFTER.
READ_TIMEOUT = 0.3
LANDS_AFTER = 1.5


class Slow:
    """A bot whose API client times out quickly, in front of a sandbox that books late."""

    def __init__(self, harness: Harness, transport: NetworkTransport) -> None:
        """Keep the harness and the breakable transport."""
        self.harness = harness
        self.transport = transport

    def user(self) -> SteadyChat:
        """Return a chat driver."""
        return user(self.harness)

    def tickets(self, chat: SteadyChat) -> int:
        """Return how many tickets the sandbox holds for the chat's user."""
        return len(tickets_of(self.harness.sandbox, chat.user.id))

    def book_calls(self) -> int:
        """Return how many booking requests reached the sandbox."""
        return calls(self.harness.sandbox, "POST", "/tickets/book")


@pytest.fixture
async def slow(redis_client: aioredis.Redis, redis_prefix: str) -> AsyncIterator[Slow]:
    """Return a running bot with a short read timeout and no read retries."""
    harness = Harness(redis=redis_client, prefix=redis_prefix)
    transport = NetworkTransport(harness.sandbox)
    worker = harness.worker(api=network_client(transport, timeout=READ_TIMEOUT, max_retries=0))
    await worker.start()
    yield Slow(harness, transport)
    await harness.stop()


async def _until_stored(slow: Slow, chat: SteadyChat) -> None:
    """Wait until the late booking landed in the sandbox."""
    for _ in range(200):
        if slow.tickets(chat):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the late booking never landed")


async def test_a_booking_stored_after_the_timeout_is_found_and_never_made_twice(
    slow: Slow,
) -> None:
    slow.harness.sandbox.faults.add_late("POST", "/tickets/book", LANDS_AFTER)
    chat = slow.user()
    confirm = await to_walk_in_confirm(chat)
    confirm_data = confirm.button("Confirm").callback_data
    assert confirm_data is not None

    first = await chat.tap("Confirm")

    assert first.text == (
        "Your booking was sent but Skiplino has not confirmed it yet. "
        "I'm checking; tap Check again in a moment."
    )
    assert chat.labels() == ["Check again", "« Back", "✖ Cancel"]
    assert slow.tickets(chat) == 0  # not stored yet
    pending = (await session_of(slow.harness, chat)).pending_booking
    assert pending is not None
    # The user retries while Skiplino is still working: every retry only looks.
    seen = [first.text]
    seen.append((await chat.tap("Check again")).text)
    seen.append((await chat.tap_data(confirm_data)).text)  # the first card's Confirm
    seen.append((await chat.tap("Check again")).text)
    assert slow.book_calls() == 1
    await _until_stored(slow, chat)

    card = await chat.tap("Check again")

    [ticket] = tickets_of(slow.harness.sandbox, chat.user.id)
    assert card.text.startswith(BOOKED)
    assert f"🎫 Ticket {ticket.number}" in card.text
    assert all(NOT_MADE not in text for text in [*seen, card.text])
    assert all(text.startswith((CHECKING, STALE_LINE)) for text in seen)
    assert (await session_of(slow.harness, chat)).pending_booking is None
    # More taps after the ticket was found book nothing either.
    await chat.user.click_data(confirm_data)
    await chat.user.wait_for_reply()
    await slow.harness.telegram.idle(quiet=0.2)
    assert slow.tickets(chat) == 1
    assert slow.book_calls() == 1


async def test_back_and_confirm_again_look_for_the_pending_booking(slow: Slow) -> None:
    slow.harness.sandbox.faults.add_late("POST", "/tickets/book", LANDS_AFTER)
    chat = slow.user()
    await to_walk_in_confirm(chat)
    assert (await chat.tap("Confirm")).text.startswith(CHECKING)

    await chat.tap("Back")
    again = await chat.tap("Join the queue now")

    assert again.text.startswith(CHECKING)
    assert slow.book_calls() == 1
    await _until_stored(slow, chat)
    assert (await chat.tap("Check again")).text.startswith(BOOKED)
    assert slow.tickets(chat) == 1
    assert slow.book_calls() == 1


async def test_a_5xx_is_checked_until_the_bound_then_counts_as_not_made(slow: Slow) -> None:
    # A 503 may come from a gateway while Skiplino stores the booking: unknown, not "not made".
    slow.transport.fail("POST", "/tickets/book", "503", when="before")
    chat = slow.user()
    await to_walk_in_confirm(chat)

    unsure = await chat.tap("Confirm")
    still = await chat.tap("Check again")

    assert unsure.text.startswith(CHECKING)
    assert still.text.startswith(CHECKING)
    assert slow.book_calls() == 0  # the break answered before the sandbox saw anything
    assert (await session_of(slow.harness, chat)).pending_booking is not None
    slow.harness.clock.advance(minutes=11)
    given_up = await chat.tap("Check again")
    assert given_up.text.startswith("I couldn't confirm the booking")
    assert NOT_MADE in given_up.text
    assert chat.labels() == ["Try again", "« Back", "✖ Cancel"]
    card = await chat.tap("Try again")
    assert card.text.startswith(BOOKED)
    assert slow.tickets(chat) == 1
    assert slow.book_calls() == 1


async def test_a_refused_connection_says_not_booked_and_a_retry_books_once(slow: Slow) -> None:
    slow.transport.fail("POST", "/tickets/book", "connect", when="before")
    chat = slow.user()
    await to_walk_in_confirm(chat)

    failed = await chat.tap("Confirm")

    assert NOT_MADE in failed.text
    assert chat.labels() == ["Try again", "« Back", "✖ Cancel"]
    assert (await session_of(slow.harness, chat)).pending_booking is None
    assert slow.tickets(chat) == 0
    card = await chat.tap("Try again")
    assert card.text.startswith(BOOKED)
    assert slow.tickets(chat) == 1
    assert slow.book_calls() == 1


async def test_a_duplicate_confirm_after_success_keeps_the_success_card(harness: Harness) -> None:
    chat = user(harness)
    confirm = await to_walk_in_confirm(chat)
    data = confirm.button("Confirm").callback_data
    assert data is not None
    card = await chat.tap("Confirm")
    assert card.text.startswith(BOOKED)
    step = (await session_of(harness, chat)).step

    await chat.user.click_data(data, confirm.message_id)
    await chat.user.wait_for_reply()
    await harness.telegram.idle(quiet=0.2)

    assert chat.last.text == card.text
    assert STALE_LINE not in chat.last.text
    assert len(tickets_of(harness.sandbox, chat.user.id)) == 1
    assert calls(harness.sandbox, "POST", "/tickets/book") == 1
    # The card's own buttons stay current: the copy moved no step.
    assert (await session_of(harness, chat)).step == step
    # Anything else the user does afterwards works as before.
    assert (await chat.send("/start")).text
    await chat.user.click_data(data, confirm.message_id)
    await chat.settle()
    [old_card] = [m for m in chat.user.messages() if m.message_id == confirm.message_id]
    assert old_card.text.startswith(STALE_LINE)
