"""Booking when things go wrong: refusals, a slot taken meanwhile, a failing or silent API,
answers lost after the sandbox booked, concurrent taps on Confirm, customers created twice.

Network trouble is made at the transport seam (``NetworkTransport``) or with the sandbox's
own fault switches; the user's view and the sandbox's tickets are what is asserted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from tests.conversations.booking_steps import (
    UNAVAILABLE_LINE,
    Effect,
    NetworkTransport,
    SteadyChat,
    calls,
    customer_of,
    day_label,
    long_date,
    network_client,
    open_booking,
    session_of,
    tickets_of,
    to_date_step,
    to_slot_step,
    to_walk_in_confirm,
    user,
)
from tests.fakes.harness import Harness, skiplino_client

TOMORROW = date(2026, 12, 2)
TEN_THIRTY = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)  # 10:30 in Bahrain
BOOKED = "✅ Booked!"
NOT_CONFIRMED = "I couldn't confirm the booking because the booking service did not answer."
UNKNOWN = "I couldn't check whether the booking went through"


@dataclass
class Net:
    """A harness whose bot reaches the sandbox through a breakable network transport."""

    harness: Harness
    transport: NetworkTransport

    def user(self, user_id: int = 1001) -> SteadyChat:
        """Return a chat driver."""
        return user(self.harness, user_id)


@pytest.fixture
async def net(redis_client: aioredis.Redis, redis_prefix: str) -> AsyncIterator[Net]:
    """Return a running bot whose API client has a short read timeout and no read retries."""
    harness = Harness(redis=redis_client, prefix=redis_prefix)
    transport = NetworkTransport(harness.sandbox)
    worker = harness.worker(api=network_client(transport, timeout=0.3, max_retries=0))
    await worker.start()
    yield Net(harness, transport)
    await harness.stop()


async def test_a_closed_branch_refusal_shows_the_apis_reason(harness: Harness) -> None:
    chat = user(harness)
    await open_booking(chat)
    await chat.tap("Riffa")
    await chat.tap("Customer Service")
    mode = await chat.tap("Account Opening")
    assert "This service is closed right now." in mode.text
    await chat.tap("Book a time")
    await chat.tap(day_label(TOMORROW))
    slot = chat.labels()[0]
    await chat.tap(slot)

    refused = await chat.tap("Confirm")

    assert refused.text == "The booking was not accepted: The branch is currently closed."
    assert chat.labels() == ["« Back", "✖ Cancel"]
    assert tickets_of(harness.sandbox, chat.user.id) == []
    assert "Free times on" in (await chat.tap("Back")).text


async def test_a_refused_walk_in_shows_the_reason_the_api_gave(harness: Harness) -> None:
    harness.sandbox.faults.force("POST", "/tickets/book", 400)
    chat = user(harness)
    await to_walk_in_confirm(chat)

    refused = await chat.tap("Confirm")

    assert refused.text == "The booking was not accepted: The service is currently closed."
    assert tickets_of(harness.sandbox, chat.user.id) == []


async def test_a_slot_taken_before_confirm_gives_a_fresh_slot_list(harness: Harness) -> None:
    service = harness.sandbox.sample.appointment_service
    chat = user(harness)
    await to_slot_step(chat, TOMORROW)
    await chat.tap("10:30")
    harness.sandbox.fill_slot(service, TEN_THIRTY)

    fresh = await chat.tap("Confirm")

    assert fresh.text.startswith("Sorry, that time was just taken. Here are the times still free:")
    assert f"Free times on {long_date(TOMORROW)}" in fresh.text
    assert "10:30" not in chat.times()
    assert "11:00" in chat.times()
    assert (await session_of(harness, chat)).state == "book.slot"
    assert tickets_of(harness.sandbox, chat.user.id) == []
    await chat.tap("11:00")
    await chat.tap("Confirm")
    [ticket] = tickets_of(harness.sandbox, chat.user.id)
    assert ticket.time == TEN_THIRTY + timedelta(minutes=30)


async def test_a_slot_taken_before_it_is_tapped_is_not_offered_for_confirm(
    harness: Harness,
) -> None:
    chat = user(harness)
    await to_slot_step(chat, TOMORROW)
    harness.sandbox.fill_slot(harness.sandbox.sample.appointment_service, TEN_THIRTY)

    fresh = await chat.tap("10:30")

    assert fresh.text.startswith("Sorry, that time was just taken.")
    assert "10:30" not in chat.times()
    assert (await session_of(harness, chat)).state == "book.slot"


async def test_a_failing_read_offers_try_again_that_works_once_cleared(harness: Harness) -> None:
    harness.sandbox.faults.force("GET", "/branches", 503)
    chat = user(harness)
    await chat.send("/start")

    failed = await chat.tap("Book a ticket")

    assert failed.text.startswith(UNAVAILABLE_LINE)
    assert chat.labels() == ["Try again", "« Back", "Main menu"]
    again = await chat.tap("Try again")
    assert again.text.startswith(UNAVAILABLE_LINE)
    harness.sandbox.faults.clear()
    branches = await chat.tap("Try again")
    assert branches.text == "Choose a branch:"
    assert "🟢 Seef Mall Branch" in chat.labels()


async def test_a_hanging_read_times_out_into_try_again(net: Net) -> None:
    net.harness.sandbox.faults.add_hang("GET", "/services/*/slots")
    chat = net.user()
    await to_date_step(chat)

    failed = await chat.tap(day_label(TOMORROW))

    assert failed.text.startswith(UNAVAILABLE_LINE)

    net.harness.sandbox.faults.clear()
    slots = await chat.tap("Try again")
    assert f"Free times on {long_date(TOMORROW)}" in slots.text
    assert "10:30" in chat.times()
    # Back from the repeated step goes where Back from the slot list goes.
    assert "Choose a day" in (await chat.tap("Back")).text


@pytest.mark.parametrize("effect", ["timeout", "502"])
async def test_a_booking_whose_answer_is_lost_shows_the_ticket_booked(
    net: Net, effect: Effect
) -> None:
    net.transport.fail("POST", "/tickets/book", effect, when="after")
    chat = net.user()
    await to_slot_step(chat, TOMORROW)
    confirm = await chat.tap("10:30")
    confirm_data = confirm.button("Confirm").callback_data
    assert confirm_data is not None

    card = await chat.tap("Confirm")

    [ticket] = tickets_of(net.harness.sandbox, chat.user.id)
    assert card.text.startswith(BOOKED)
    assert f"🎫 Ticket {ticket.number}" in card.text
    # A copy of the Confirm tap leaves the success card as it is (no edit to wait for).
    await chat.user.click_data(confirm_data)
    await chat.user.wait_for_reply()
    assert len(tickets_of(net.harness.sandbox, chat.user.id)) == 1


async def test_when_even_the_check_fails_try_again_finds_the_ticket(net: Net) -> None:
    net.transport.fail("POST", "/tickets/book", "timeout", when="after")
    # The ticket lists are: the note of tickets held when Confirm is shown, the look before
    # booking, and, after the lost answer, the check that fails.
    net.transport.fail("GET", "/customers/tickets", "503", when="before", skip=2)
    chat = net.user()
    await to_walk_in_confirm(chat)

    unsure = await chat.tap("Confirm")

    assert unsure.text.startswith(UNKNOWN)
    assert chat.labels() == ["Try again", "« Back", "✖ Cancel"]
    assert len(tickets_of(net.harness.sandbox, chat.user.id)) == 1
    card = await chat.tap("Try again")
    assert card.text.startswith(BOOKED)
    assert len(tickets_of(net.harness.sandbox, chat.user.id)) == 1
    assert calls(net.harness.sandbox, "POST", "/tickets/book") == 1


async def test_a_booking_that_never_reached_the_api_is_retried_once(net: Net) -> None:
    # Only a refused connection proves nothing was sent (a 5xx: see test_booking_once.py).
    net.transport.fail("POST", "/tickets/book", "connect", when="before")
    chat = net.user()
    await to_walk_in_confirm(chat)

    failed = await chat.tap("Confirm")

    assert failed.text.startswith(NOT_CONFIRMED)
    assert tickets_of(net.harness.sandbox, chat.user.id) == []
    card = await chat.tap("Try again")
    assert card.text.startswith(BOOKED)
    assert len(tickets_of(net.harness.sandbox, chat.user.id)) == 1


async def test_five_concurrent_taps_on_confirm_book_one_ticket(harness: Harness) -> None:
    chat = user(harness)
    confirm = await to_walk_in_confirm(chat)
    data = confirm.button("Confirm").callback_data
    assert data is not None

    for _ in range(5):
        await chat.user.click_data(data, confirm.message_id)
    await chat.user.wait_for_reply()
    await harness.telegram.idle(quiet=0.3)

    assert len(tickets_of(harness.sandbox, chat.user.id)) == 1
    assert calls(harness.sandbox, "POST", "/tickets/book") == 1
    assert "🎫 Ticket" in chat.last.text
    assert chat.user.unanswered_callbacks() == []


async def test_five_concurrent_taps_on_an_appointment_confirm_book_one(harness: Harness) -> None:
    chat = user(harness)
    await to_slot_step(chat, TOMORROW)
    confirm = await chat.tap("10:30")
    data = confirm.button("Confirm").callback_data
    assert data is not None

    await asyncio.gather(*(chat.user.click_data(data, confirm.message_id) for _ in range(5)))
    await chat.user.wait_for_reply()
    await harness.telegram.idle(quiet=0.3)

    assert [t.time for t in tickets_of(harness.sandbox, chat.user.id)] == [TEN_THIRTY]


async def test_an_existing_customer_is_linked_instead_of_created(harness: Harness) -> None:
    chat = user(harness)
    async with skiplino_client(harness.sandbox) as api:
        existing = await api.create_customer(external_id=f"tg-{chat.user.id}", name="Layla")
    await to_walk_in_confirm(chat)

    await chat.tap("Confirm")

    [ticket] = tickets_of(harness.sandbox, chat.user.id)
    assert ticket.customer_id == existing.id
    assert calls(harness.sandbox, "POST", "/customers/create") == 1  # the test's own
    assert [c.external_id for c in harness.sandbox.customers].count(f"tg-{chat.user.id}") == 1


async def test_a_customer_created_meanwhile_is_fetched_after_422(net: Net) -> None:
    chat = net.user()
    sandbox = net.harness.sandbox

    async def other_worker_creates_it() -> None:
        async with skiplino_client(sandbox) as api:
            await api.create_customer(external_id=f"tg-{chat.user.id}", name="Layla")

    # Between our lookup (not found) and our create, someone else creates the customer.
    net.transport.then("GET", "/customers/getOne", other_worker_creates_it)
    await to_walk_in_confirm(chat)

    card = await chat.tap("Confirm")

    assert card.text.startswith(BOOKED)
    customer = customer_of(sandbox, chat.user.id)
    assert customer is not None
    assert [c.external_id for c in sandbox.customers].count(f"tg-{chat.user.id}") == 1
    [ticket] = tickets_of(sandbox, chat.user.id)
    assert ticket.customer_id == customer.id
    statuses = [
        (r.method, r.api_path, r.status)
        for r in sandbox.requests
        if r.api_path.startswith("/customers/") and r.api_path != "/customers/tickets"
    ]
    assert statuses == [
        ("GET", "/customers/getOne", 422),
        ("POST", "/customers/create", 201),  # the other worker's
        ("POST", "/customers/create", 422),
        ("GET", "/customers/getOne", 200),
    ]


async def test_the_linked_customer_spares_lookups_on_the_next_booking(harness: Harness) -> None:
    chat = user(harness)
    await to_walk_in_confirm(chat)
    await chat.tap("Confirm")
    lookups = calls(harness.sandbox, "GET", "/customers/getOne")
    assert lookups == 1
    harness.clock.advance(minutes=10)

    await to_slot_step(chat, TOMORROW)
    await chat.tap("10:30")
    await chat.tap("Confirm")

    assert len(tickets_of(harness.sandbox, chat.user.id)) == 2
    assert calls(harness.sandbox, "GET", "/customers/getOne") == lookups
    assert calls(harness.sandbox, "POST", "/customers/create") == 1


async def test_a_customer_deleted_in_skiplino_is_linked_again_on_the_next_booking(
    harness: Harness,
) -> None:
    chat = user(harness)
    await to_walk_in_confirm(chat)
    await chat.tap("Confirm")
    gone = customer_of(harness.sandbox, chat.user.id)
    assert gone is not None
    async with skiplino_client(harness.sandbox) as api:
        await api.delete_customer(customer_id=gone.id)
    harness.clock.advance(minutes=10)
    await to_walk_in_confirm(chat)

    card = await chat.tap("Confirm")

    assert card.text.startswith(BOOKED)
    again = customer_of(harness.sandbox, chat.user.id)
    assert again is not None
    assert again.id != gone.id
    [ticket] = tickets_of(harness.sandbox, chat.user.id)
    assert f"🎫 Ticket {ticket.number}" in card.text
