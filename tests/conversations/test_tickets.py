"""My tickets: list and paging, the live card, cancel, reschedule and ownership, end to end.

Real Application and engine, real Redis, fake Telegram and the in-process sandbox. Tickets the
user "already has" are booked straight on the sandbox through the API client, for the
customer the bot links the user to (externalId ``tg-<user id>``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.skiplino import SkiplinoClient, Ticket
from tests.fakes.harness import Chat, Harness, skiplino_client

USER_ID = 1001
BAHRAIN = ZoneInfo("Asia/Bahrain")
# The harness clock: Tuesday 1 December 2026, 10:00 in Bahrain (UTC+3).
TOMORROW = date(2026, 12, 2)
IN_TWO_DAYS = date(2026, 12, 3)
NOT_FOUND = "I couldn't find that ticket among your tickets."
UP_TO_DATE = "Up to date: nothing has changed."


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[SkiplinoClient]:
    """Return an API client on the harness's sandbox (the test's own back door)."""
    client = skiplino_client(harness.sandbox)
    yield client
    await client.aclose()


@pytest.fixture
async def customer_id(api: SkiplinoClient) -> str:
    """Create the Skiplino customer the bot links user 1001 to."""
    customer = await api.create_customer(external_id=f"tg-{USER_ID}", name="Layla")
    return customer.id


async def walk_in(harness: Harness, api: SkiplinoClient, customer_id: str) -> Ticket:
    """Book a walk-in at Seef Mall, Cash Withdrawal (people are already waiting there)."""
    sample = harness.sandbox.sample
    return await api.book_ticket(
        service_id=sample.walk_in_service,
        group_of_service_id=sample.walk_in_group,
        customer_id=customer_id,
    )


async def appointment(
    harness: Harness, api: SkiplinoClient, customer_id: str, day: date = TOMORROW
) -> Ticket:
    """Book the first free Account Opening slot of ``day``."""
    sample = harness.sandbox.sample
    slots = await api.get_service_slots(sample.appointment_service, date=day)
    return await api.book_ticket(
        service_id=sample.appointment_service,
        group_of_service_id=sample.appointment_group,
        time=slots[0].time,
        customer_id=customer_id,
    )


def local(moment: datetime) -> str:
    """Return an instant's wall-clock time in Bahrain ("10:30")."""
    return moment.astimezone(BAHRAIN).strftime("%H:%M")


def long_day(day: date) -> str:
    """Return a day as the card writes it ("2 December 2026")."""
    return f"{day.day} {day:%B %Y}"


def day_button(day: date) -> str:
    """Return a day button's label ("Thu 3 Dec")."""
    return f"{day:%a} {day.day} {day:%b}"


def first_time(chat: Chat) -> str:
    """Return the label of the first time button of a slot list."""
    return next(time for time in chat.times() if re.fullmatch(r"\d\d:\d\d", time))


def writes_to(harness: Harness, ticket_id: str) -> list[str]:
    """Return the cancel/change-time calls the sandbox received for a ticket."""
    return [
        f"{r.method} {r.api_path}"
        for r in harness.sandbox.requests
        if r.method == "POST" and r.api_path.startswith(f"/tickets/{ticket_id}/")
    ]


# --- the list -------------------------------------------------------------------------------


async def test_a_user_with_twelve_tickets_pages_through_them_newest_first(
    harness: Harness, api: SkiplinoClient, customer_id: str
) -> None:
    booked = [await walk_in(harness, api, customer_id) for _ in range(12)]
    for old in booked[:3]:
        await api.cancel_ticket(old.id)
    newest_first = [t.ticket_number for t in reversed(booked)]
    chat = harness.user(USER_ID)
    await chat.send("/start")

    first = await chat.tap("My tickets")

    assert "Your tickets (12 in all), newest first:" in first.text
    assert "Page 1 of 2" in first.text
    ticket_rows = [row[0] for row in first.buttons[:10]]
    assert [label.split(" · ")[0][2:] for label in ticket_rows] == newest_first[:10]
    assert ticket_rows[0] == f"🟢 {newest_first[0]} · Cash Withdrawal · waiting in the queue"
    assert ticket_rows[-1] == f"⚪ {newest_first[9]} · Cash Withdrawal · cancelled"
    assert first.buttons[10] == ["Next »"]

    second = await chat.tap("Next »")

    assert "Page 2 of 2" in second.text
    assert [row[0] for row in second.buttons[:2]] == [
        f"⚪ {newest_first[10]} · Cash Withdrawal · cancelled",
        f"⚪ {newest_first[11]} · Cash Withdrawal · cancelled",
    ]
    assert second.buttons[2] == ["« Previous"]

    card = await chat.tap(newest_first[11])
    assert f"🎫 Ticket {newest_first[11]}" in card.text
    back = await chat.tap("Back")
    assert "Page 2 of 2" in back.text

    again = await chat.tap("« Previous")
    assert again.buttons == first.buttons


async def test_tickets_command_for_a_new_user_lists_nothing_and_creates_no_customer(
    harness: Harness,
) -> None:
    chat = harness.user(USER_ID)

    reply = await chat.send("/tickets")

    assert "You have no tickets yet." in reply.text
    assert all(c.external_id != f"tg-{USER_ID}" for c in harness.sandbox.customers)


# --- the card and Refresh -----------------------------------------------------------------------


async def test_refresh_follows_the_queue_until_the_ticket_is_served(
    harness: Harness, api: SkiplinoClient, customer_id: str
) -> None:
    ticket = await walk_in(harness, api, customer_id)
    ahead = ticket.queue_size
    assert ahead is not None
    assert ahead >= 2
    chat = harness.user(USER_ID)

    card = await chat.send(f"/ticket {ticket.ticket_number}")

    assert f"🎫 Ticket {ticket.ticket_number}" in card.text
    assert "Status: waiting in the queue" in card.text
    assert "Branch: Seef Mall Branch" in card.text
    assert "Service: Cash Withdrawal" in card.text
    assert f"{ahead} people ahead of you" in card.text
    assert re.search(r"about \d+ minutes", card.text)
    assert "Updated at 10:00" in card.text
    assert chat.labels() == ["🔄 Refresh", "✖ Cancel ticket", "« Back", "Main menu"]

    harness.sandbox.advance_queue(harness.sandbox.sample.walk_in_service)
    harness.clock.advance(minutes=1)
    moved = await chat.tap("Refresh")

    assert f"{ahead - 1} people ahead of you" in moved.text
    assert "Updated at 10:01" in moved.text
    assert moved.message_id == card.message_id

    harness.sandbox.advance_queue(harness.sandbox.sample.walk_in_service, steps=ahead)
    serving = await chat.tap("Refresh")
    assert "Status: being served now" in serving.text
    assert "ahead of you" not in serving.text
    assert "Cancel ticket" not in chat.labels()

    harness.sandbox.advance_queue(harness.sandbox.sample.walk_in_service)
    served = await chat.tap("Refresh")
    assert "Status: served" in served.text
    assert chat.labels() == ["🔄 Refresh", "« Back", "Main menu"]


async def test_refresh_of_an_unchanged_ticket_says_it_is_up_to_date_without_edit_errors(
    harness: Harness, api: SkiplinoClient, customer_id: str
) -> None:
    ticket = await walk_in(harness, api, customer_id)
    chat = harness.user(USER_ID)
    card = await chat.send(f"/ticket {ticket.ticket_number}")
    edits_before = len(harness.telegram.calls_of("editMessageText"))
    messages_before = len(chat.user.messages())

    same = await chat.tap("Refresh")

    assert same.text.startswith(UP_TO_DATE)
    assert same.message_id == card.message_id
    [edit] = harness.telegram.calls_of("editMessageText")[edits_before:]
    assert edit.description is None, edit.description
    # Tapping again changes nothing at all; the bot neither fails nor sends a new message.
    again = await chat.tap("Refresh")
    assert again.text == same.text
    assert again.message_id == card.message_id
    assert len(chat.user.messages()) == messages_before
    assert "Sorry" not in again.text


async def test_an_unknown_status_is_shown_as_it_came_with_only_refresh_and_back(
    harness: Harness, api: SkiplinoClient, customer_id: str
) -> None:
    ticket = await walk_in(harness, api, customer_id)
    harness.sandbox.set_ticket_status(ticket.id, "on_hold")
    chat = harness.user(USER_ID)

    card = await chat.send(f"/ticket {ticket.ticket_number}")

    assert "Status: on_hold" in card.text
    assert chat.labels() == ["🔄 Refresh", "« Back"]
    listed = await chat.tap("Back")
    assert listed.buttons[0] == [f"⚪ {ticket.ticket_number} · Cash Withdrawal · on_hold"]


async def test_a_deep_link_opens_the_users_own_ticket(
    harness: Harness, api: SkiplinoClient, customer_id: str
) -> None:
    ticket = await appointment(harness, api, customer_id)
    assert ticket.time is not None
    chat = harness.user(USER_ID)

    card = await chat.send(f"/start t_{ticket.id}")

    assert f"🎫 Ticket {ticket.ticket_number}" in card.text
    assert "Status: upcoming appointment" in card.text
    assert f"Appointment: {long_day(TOMORROW)}, {local(ticket.time)}" in card.text
    assert chat.labels() == [
        "🔄 Refresh",
        "✖ Cancel ticket",
        "🗓 Change time",
        "« Back",
        "Main menu",
    ]
    by_id = await chat.send(f"/ticket {ticket.id}")
    assert by_id.text == card.text


# --- cancel ---------------------------------------------------------------------------------


async def test_a_waiting_walk_in_is_cancelled_after_yes_and_no_returns_to_the_card(
    harness: Harness, api: SkiplinoClient, customer_id: str
) -> None:
    ticket = await walk_in(harness, api, customer_id)
    chat = harness.user(USER_ID)
    card = await chat.send(f"/ticket {ticket.ticket_number}")

    question = await chat.tap("Cancel ticket")
    assert question.text == f"Cancel {ticket.ticket_number}, Cash Withdrawal at Seef Mall Branch?"
    assert chat.labels() == ["Yes, cancel it", "No, keep it"]
    kept = await chat.tap("No, keep it")
    assert "Status: waiting in the queue" in kept.text
    assert harness.sandbox.ticket(ticket.id).status == "waiting"

    await chat.tap("Cancel ticket")
    done = await chat.tap("Yes, cancel it")

    assert f"✅ Ticket {ticket.ticket_number} is cancelled." in done.text
    assert "Status: cancelled" in done.text
    assert done.message_id == card.message_id
    assert chat.labels() == ["🔄 Refresh", "« Back", "Main menu"]
    assert harness.sandbox.ticket(ticket.id).status == "cancelled"


async def test_an_upcoming_appointment_is_cancelled_naming_its_day_and_time(
    harness: Harness, api: SkiplinoClient, customer_id: str
) -> None:
    ticket = await appointment(harness, api, customer_id)
    assert ticket.time is not None
    chat = harness.user(USER_ID)
    await chat.send(f"/ticket {ticket.ticket_number}")

    question = await chat.tap("Cancel ticket")
    assert question.text == (
        f"Cancel {ticket.ticket_number}, Account Opening at Seef Mall Branch, "
        f"Wed 2 Dec {local(ticket.time)}?"
    )
    done = await chat.tap("Yes, cancel it")

    assert "Status: cancelled" in done.text
    assert harness.sandbox.ticket(ticket.id).status == "cancelled"


async def test_cancelling_a_ticket_served_meanwhile_explains_the_conflict(
    harness: Harness, api: SkiplinoClient, customer_id: str
) -> None:
    ticket = await walk_in(harness, api, customer_id)
    chat = harness.user(USER_ID)
    await chat.send(f"/ticket {ticket.ticket_number}")
    await chat.tap("Cancel ticket")
    harness.sandbox.set_ticket_status(ticket.id, "served")

    reply = await chat.tap("Yes, cancel it")

    assert f"Ticket {ticket.ticket_number} can no longer be cancelled (status: served)." in (
        reply.text
    )
    assert "Status: served" in reply.text
    assert [r.status for r in harness.sandbox.requests if r.api_path.endswith("/cancel")] == [409]
    assert harness.sandbox.ticket(ticket.id).status == "served"


# --- reschedule -----------------------------------------------------------------------------


async def test_an_appointment_is_moved_to_a_free_slot(
    harness: Harness, api: SkiplinoClient, customer_id: str
) -> None:
    ticket = await appointment(harness, api, customer_id)
    assert ticket.time is not None
    old = local(ticket.time)
    chat = harness.user(USER_ID)
    await chat.send(f"/ticket {ticket.ticket_number}")

    dates = await chat.tap("Change time")
    assert f"Moving appointment {ticket.ticket_number}, now on {long_day(TOMORROW)} at {old}" in (
        dates.text
    )
    slots = await chat.tap(day_button(IN_TWO_DAYS))
    assert f"Free times on {long_day(IN_TWO_DAYS)}" in slots.text
    new = first_time(chat)
    confirm = await chat.tap(new)
    assert f"Move appointment {ticket.ticket_number} (Account Opening, Seef Mall Branch)?" in (
        confirm.text
    )
    assert f"From: {long_day(TOMORROW)}, {old}" in confirm.text
    assert f"To: {long_day(IN_TWO_DAYS)}, {new}" in confirm.text

    card = await chat.tap("Move it")

    assert f"moved to {long_day(IN_TWO_DAYS)} at {new}" in card.text
    assert f"Appointment: {long_day(IN_TWO_DAYS)}, {new}" in card.text
    moved = harness.sandbox.ticket(ticket.id)
    assert moved.time is not None
    assert local(moved.time) == new
    assert moved.time.astimezone(BAHRAIN).date() == IN_TWO_DAYS
    [change] = [r for r in harness.sandbox.requests if r.api_path.endswith("/change-time")]
    assert change.json["customerId"] == customer_id
    # Back leads to the ticket list, not into the finished reschedule steps.
    assert "Your tickets" in (await chat.tap("Back")).text


async def test_a_typed_date_works_and_the_current_time_is_not_a_move(
    harness: Harness, api: SkiplinoClient, customer_id: str
) -> None:
    ticket = await appointment(harness, api, customer_id)
    assert ticket.time is not None
    # Leave one place in the appointment's own slot so that it is offered.
    harness.sandbox.fill_slot(harness.sandbox.sample.appointment_service, ticket.time, leave=1)
    chat = harness.user(USER_ID)
    await chat.send(f"/ticket {ticket.ticket_number}")
    await chat.tap("Change time")

    slots = await chat.send("tomorrow")
    assert f"Free times on {long_day(TOMORROW)}" in slots.text
    same = await chat.tap(local(ticket.time))

    assert "That is your appointment's current time." in same.text
    assert f"Free times on {long_day(TOMORROW)}" in same.text
    assert not [r for r in harness.sandbox.requests if r.api_path.endswith("/change-time")]


async def test_a_slot_taken_meanwhile_leaves_the_original_time_and_says_so(
    harness: Harness, api: SkiplinoClient, customer_id: str
) -> None:
    ticket = await appointment(harness, api, customer_id)
    assert ticket.time is not None
    old = local(ticket.time)
    chat = harness.user(USER_ID)
    await chat.send(f"/ticket {ticket.ticket_number}")
    await chat.tap("Change time")
    await chat.tap(day_button(IN_TWO_DAYS))
    new = first_time(chat)
    await chat.tap(new)
    new_time = datetime.combine(IN_TWO_DAYS, datetime.strptime(new, "%H:%M").time(), BAHRAIN)
    harness.sandbox.fill_slot(harness.sandbox.sample.appointment_service, new_time)

    card = await chat.tap("Move it")

    assert "The new time is no longer free." in card.text
    assert (
        f"Your appointment was not moved: it stays on {long_day(TOMORROW)} at {old}." in card.text
    )
    assert f"Appointment: {long_day(TOMORROW)}, {old}" in card.text
    assert harness.sandbox.ticket(ticket.id).time == ticket.time


@pytest.mark.parametrize(
    ("status", "explanation"),
    [
        (400, "did not accept the change: The service is currently closed."),
        (404, "The booking service did not accept the change."),
        (422, "The booking service did not accept the change."),
    ],
)
async def test_a_refused_move_is_explained_and_the_appointment_stays(
    harness: Harness, api: SkiplinoClient, customer_id: str, status: int, explanation: str
) -> None:
    ticket = await appointment(harness, api, customer_id)
    assert ticket.time is not None
    chat = harness.user(USER_ID)
    await chat.send(f"/ticket {ticket.ticket_number}")
    await chat.tap("Change time")
    await chat.tap(day_button(IN_TWO_DAYS))
    await chat.tap(first_time(chat))
    harness.sandbox.faults.force("POST", "/tickets/{id}/change-time", status)

    card = await chat.tap("Move it")

    assert explanation in card.text
    assert f"it stays on {long_day(TOMORROW)} at {local(ticket.time)}." in card.text
    assert "Status: upcoming appointment" in card.text
    assert harness.sandbox.ticket(ticket.id).time == ticket.time


async def test_a_move_whose_answer_is_lost_is_checked_and_can_be_tried_again(
    harness: Harness, api: SkiplinoClient, customer_id: str
) -> None:
    ticket = await appointment(harness, api, customer_id)
    assert ticket.time is not None
    chat = harness.user(USER_ID)
    await chat.send(f"/ticket {ticket.ticket_number}")
    await chat.tap("Change time")
    await chat.tap(day_button(IN_TWO_DAYS))
    new = first_time(chat)
    await chat.tap(new)
    harness.sandbox.faults.force("POST", "/tickets/{id}/change-time", 500)

    unsure = await chat.tap("Move it")

    assert "I couldn't confirm the change" in unsure.text
    assert harness.sandbox.ticket(ticket.id).time == ticket.time
    harness.sandbox.faults.unforce("POST", "/tickets/{id}/change-time")
    card = await chat.tap("Try again")
    assert f"Appointment: {long_day(IN_TWO_DAYS)}, {new}" in card.text
    assert len([r for r in harness.sandbox.requests if r.api_path.endswith("/change-time")]) == 2


async def test_a_served_appointment_offers_no_move(
    harness: Harness, api: SkiplinoClient, customer_id: str
) -> None:
    ticket = await appointment(harness, api, customer_id)
    chat = harness.user(USER_ID)
    await chat.send(f"/ticket {ticket.ticket_number}")
    harness.sandbox.set_ticket_status(ticket.id, "serving")

    reply = await chat.tap("Change time")

    assert "This appointment can no longer be moved." in reply.text
    assert "Status: being served now" in reply.text
    assert "🗓 Change time" not in chat.labels()


# --- ownership ------------------------------------------------------------------------------


async def test_another_users_ticket_gets_the_not_found_answer_everywhere(
    harness: Harness, api: SkiplinoClient, customer_id: str
) -> None:
    theirs = harness.sandbox.ticket(harness.sandbox.sample.waiting_ticket)
    mine = await walk_in(harness, api, customer_id)
    chat = harness.user(USER_ID)

    missing = await chat.send("/start t_zzzzzzzzzz")
    assert missing.text == NOT_FOUND
    expected_buttons = missing.buttons
    for command in (f"/start t_{theirs.id}", f"/ticket {theirs.id}", f"/ticket {theirs.number}"):
        reply = await chat.send(command)
        assert (reply.text, reply.buttons) == (NOT_FOUND, expected_buttons), command

    card = await chat.send(f"/ticket {mine.ticket_number}")
    assert f"Ticket {mine.ticket_number}" in card.text
    for action in ("tk", "tkr"):
        forged = card.button("Refresh").callback_data
        assert forged is not None
        forged = forged.replace(mine.id, theirs.id).replace("|tkr|", f"|{action}|")
        reply = await chat.tap_data(forged)
        assert (reply.text, reply.buttons) == (NOT_FOUND, expected_buttons), action

    assert theirs.status == "waiting"
    assert writes_to(harness, theirs.id) == []


async def test_forged_cancel_and_move_buttons_naming_another_ticket_change_nothing(
    harness: Harness, api: SkiplinoClient, customer_id: str
) -> None:
    theirs = harness.sandbox.ticket(harness.sandbox.sample.upcoming_ticket)  # Layla's appointment
    mine = await appointment(harness, api, customer_id)
    chat = harness.user(USER_ID)

    for label in ("Cancel ticket", "Change time"):
        card = await chat.send(f"/ticket {mine.ticket_number}")
        data = card.button(label).callback_data
        assert data is not None
        assert mine.id in data
        reply = await chat.tap_data(data.replace(mine.id, theirs.id))
        assert reply.text == NOT_FOUND, label

    card = await chat.send(f"/ticket {mine.ticket_number}")
    question = await chat.tap("Cancel ticket")
    yes = question.button("Yes, cancel it").callback_data
    assert yes is not None
    reply = await chat.tap_data(yes.replace(mine.id, theirs.id))
    assert reply.text == NOT_FOUND

    assert writes_to(harness, theirs.id) == []
    assert writes_to(harness, mine.id) == []
    assert harness.sandbox.ticket(theirs.id).status == "upcoming"
    assert harness.sandbox.ticket(mine.id).status == "upcoming"


# --- audit trail ----------------------------------------------------------------------------


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the audit lines logged so far."""
    return [r.getMessage() for r in caplog.records if r.name == "skiplino_bot.audit"]


async def test_a_cancellation_and_a_move_each_leave_one_audit_line(
    harness: Harness, api: SkiplinoClient, customer_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="skiplino_bot.audit")
    sample = harness.sandbox.sample
    ticket = await appointment(harness, api, customer_id)
    chat = harness.user(USER_ID)
    await chat.send(f"/ticket {ticket.ticket_number}")
    await chat.tap("Change time")
    await chat.tap(day_button(IN_TWO_DAYS))
    await chat.tap(first_time(chat))
    await chat.tap("Move it")

    assert audit_lines(caplog) == [
        f"audit move ticket={ticket.id} service={sample.appointment_service} outcome=moved"
    ]

    await chat.tap("Cancel ticket")
    await chat.tap("Yes, cancel it")

    assert audit_lines(caplog)[1:] == [
        f"audit cancellation ticket={ticket.id} service={sample.appointment_service} "
        "outcome=cancelled"
    ]
    assert harness.sandbox.ticket(ticket.id).status == "cancelled"
