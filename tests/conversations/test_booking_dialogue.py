"""Booking by tapping and typing, through the real Application, fake Telegram and the sandbox.

Each test reads what the user sees in the chat and what the sandbox ended up holding.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from sandbox.state import APPOINTMENT, SEQUENTIAL, UPCOMING, WAITING
from tests.conversations.booking_steps import (
    APPOINTMENT_GROUP,
    APPOINTMENT_SERVICE,
    BRANCH,
    WALK_IN_GROUP,
    WALK_IN_SERVICE,
    calls,
    customer_of,
    day_label,
    long_date,
    open_booking,
    session_of,
    tickets_of,
    to_date_step,
    to_slot_step,
    to_walk_in_confirm,
    user,
)
from tests.fakes.harness import Harness

TODAY = date(2026, 12, 1)  # the harness clock: Tuesday 1 December 2026, 10:00 in Bahrain
TOMORROW = TODAY + timedelta(days=1)


async def test_walk_in_is_booked_by_tapping_labels(harness: Harness) -> None:
    chat = user(harness)
    menu = await chat.send("/start")
    assert "What would you like to do?" in menu.text
    branches = await chat.tap("Book a ticket")
    assert "Choose a branch" in branches.text
    groups = await chat.tap(BRANCH)
    assert "Choose a service group" in groups.text
    services = await chat.tap(WALK_IN_GROUP)
    assert "Choose a service" in services.text
    mode = await chat.tap(WALK_IN_SERVICE)
    assert mode.buttons[0] == ["🚶 Join the queue now"]
    confirm = await chat.tap("Join the queue now")
    assert "Please check your booking" in confirm.text
    assert "Service: Cash Withdrawal" in confirm.text
    before = len(harness.sandbox.tickets)

    card = await chat.tap("Confirm")

    assert len(harness.sandbox.tickets) == before + 1
    [ticket] = tickets_of(harness.sandbox, chat.user.id)
    assert ticket.type == SEQUENTIAL
    assert ticket.status == WAITING
    assert ticket.service_id == harness.sandbox.sample.walk_in_service
    api = harness.sandbox.ticket_json(ticket.id)
    assert card.text.startswith("✅ Booked!")
    assert f"🎫 Ticket {ticket.number}" in card.text
    assert "Status: waiting in the queue" in card.text
    assert f"{api['queueSize']} people ahead of you" in card.text
    assert f"about {api['waitingTime']} minutes" in card.text
    # The card replaced the flow's message instead of piling up new ones.
    assert card.message_id == confirm.message_id


async def test_appointment_is_booked_by_date_button_slot_and_confirm(harness: Harness) -> None:
    chat = user(harness)
    dates = await to_date_step(chat)
    assert "Choose a day, or type a date" in dates.text
    assert dates.buttons[0] == [day_label(TODAY), day_label(TOMORROW)]
    slots = await chat.tap(day_label(TOMORROW))
    assert f"Free times on {long_date(TOMORROW)}" in slots.text
    # 10:30 in Bahrain (UTC+3) is 07:30 UTC.
    confirm = await chat.tap("10:30")
    assert f"Time: {long_date(TOMORROW)}, 10:30" in confirm.text

    card = await chat.tap("Confirm")

    [ticket] = tickets_of(harness.sandbox, chat.user.id)
    assert ticket.type == APPOINTMENT
    assert ticket.status == UPCOMING
    assert ticket.service_id == harness.sandbox.sample.appointment_service
    assert ticket.time == datetime(2026, 12, 2, 7, 30, tzinfo=UTC)
    assert f"🎫 Ticket {ticket.number}" in card.text
    assert "Status: upcoming appointment" in card.text
    # The ticket card's own date style belongs to the tickets flow; the day and time must show.
    assert re.search(r"Appointment: .*\b2 Dec.*10:30", card.text), card.text


async def test_a_typed_date_opens_that_days_slots(harness: Harness) -> None:
    chat = user(harness)
    await to_date_step(chat)

    tomorrow = await chat.send("tomorrow")
    assert f"Free times on {long_date(TOMORROW)}" in tomorrow.text
    assert "10:30" in chat.times()

    await chat.tap("Back")
    typed = await chat.send("15/12")
    assert f"Free times on {long_date(date(2026, 12, 15))}" in typed.text


async def test_garbage_in_the_date_step_gives_a_hint_and_the_same_buttons(harness: Harness) -> None:
    chat = user(harness)
    dates = await to_date_step(chat)
    before = await session_of(harness, chat)

    reply = await chat.send("blah")

    assert reply.text.startswith("I couldn't read that as a date.")
    assert reply.buttons == dates.buttons
    after = await session_of(harness, chat)
    assert (after.state, after.draft, after.back) == (before.state, before.draft, before.back)
    # The new card's buttons work.
    slots = await chat.tap(day_label(TOMORROW))
    assert f"Free times on {long_date(TOMORROW)}" in slots.text


async def test_a_past_date_is_explained_and_the_step_stays(harness: Harness) -> None:
    chat = user(harness)
    await to_date_step(chat)

    for text in ("yesterday", "30/11/2026"):
        reply = await chat.send(text)
        assert reply.text.startswith("That day has already passed.")
        assert (await session_of(harness, chat)).state == "book.date"


async def test_a_full_day_says_so_and_offers_the_next_days_with_slots(harness: Harness) -> None:
    full = harness.sandbox.sample.full_date
    chat = user(harness)
    await to_date_step(chat)

    reply = await chat.send(f"{full.day}/{full.month}")

    assert f"Free times on {long_date(full)}" in reply.text
    assert "There is no free time on that day." in reply.text
    assert "These days still have free times:" in reply.text
    offered = [label for label in chat.labels() if label not in ("« Back", "✖ Cancel")]
    assert offered
    assert offered[0] == day_label(full + timedelta(days=1))
    following = await chat.tap(offered[0])
    assert f"Free times on {long_date(full + timedelta(days=1))}" in following.text
    assert any(":" in label for label in chat.labels())


async def test_back_on_every_step_returns_to_the_step_before(harness: Harness) -> None:
    chat = user(harness)
    steps = [
        ("Book a ticket", "Choose a branch"),
        (BRANCH, "Choose a service group"),
        (APPOINTMENT_GROUP, "Choose a service"),
        (APPOINTMENT_SERVICE, "Book a time"),
        ("Book a time", "Choose a day"),
        (day_label(TOMORROW), "Free times on"),
        ("10:30", "Please check your booking"),
    ]
    await chat.send("/start")
    previous = "What would you like to do?"
    for label, shows in steps:
        shown = await chat.tap(label)
        assert shows in f"{shown.text} {shown.buttons}", label
        back = await chat.tap("Back")
        assert back.text == previous, f"Back from the step after {label!r}"
        previous = (await chat.tap(label)).text
    assert tickets_of(harness.sandbox, chat.user.id) == []


async def test_back_from_a_walk_in_confirm_and_a_single_group_branch(harness: Harness) -> None:
    chat = user(harness)
    await to_walk_in_confirm(chat)
    mode = await chat.tap("Back")
    assert mode.buttons[0] == ["🚶 Join the queue now"]

    await open_booking(chat)
    # Manama Central has one group, so its services come straight after the branch.
    services = await chat.tap("Manama Central")
    assert "Choose a service:" in services.text
    branches = await chat.tap("Back")
    assert "Choose a branch" in branches.text


async def test_cancel_returns_to_the_main_menu_with_nothing_booked(harness: Harness) -> None:
    chat = user(harness)
    await to_slot_step(chat, TOMORROW)

    menu = await chat.tap("Cancel")

    assert menu.text == "What would you like to do?"
    session = await session_of(harness, chat)
    assert (session.state, session.back) == ("menu", [])
    assert tickets_of(harness.sandbox, chat.user.id) == []


async def test_commands_work_in_the_middle_of_the_slot_step(harness: Harness) -> None:
    chat = user(harness)
    slots = await to_slot_step(chat, TOMORROW)

    help_card = await chat.send("/help")
    assert "/book" in help_card.text
    assert (await chat.tap("Back")).text == slots.text

    await chat.send("/language")
    again = await chat.tap("English")
    assert again.text == "Language set to English.\n" + slots.text

    tickets = await chat.send("/tickets")
    assert (await session_of(harness, chat)).state == "tickets.list"
    assert tickets.message_id != slots.message_id

    await to_slot_step(chat, TOMORROW)
    branches = await chat.send("/book")
    assert "Choose a branch" in branches.text

    await to_slot_step(chat, TOMORROW)
    menu = await chat.send("/start")
    assert "What would you like to do?" in menu.text
    assert (await session_of(harness, chat)).back == []
    assert tickets_of(harness.sandbox, chat.user.id) == []


async def test_a_second_users_branch_list_comes_from_the_cache(harness: Harness) -> None:
    first, second = user(harness, 2001), user(harness, 2002, first_name="Omar")
    await open_booking(first)
    listed = await open_booking(second)

    assert listed.text == "Choose a branch:"
    assert "🟢 Seef Mall Branch" in second.labels()
    assert calls(harness.sandbox, "GET", "/branches") == 1
    await first.tap(BRANCH)
    await second.tap(BRANCH)
    assert calls(harness.sandbox, "GET", r"/branches/\w+/tree") == 1
    assert customer_of(harness.sandbox, 2001) is None  # browsing creates no customer
