"""The customer link and the tickets the user already holds, as the booking flow sees them."""

from __future__ import annotations

from tests.conversations.booking_steps import customer_of, tickets_of, to_walk_in_confirm, user
from tests.fakes.harness import Harness, skiplino_client


async def test_a_second_walk_in_on_purpose_is_booked_and_the_first_is_named(
    harness: Harness,
) -> None:
    chat = user(harness)
    await to_walk_in_confirm(chat)
    first = await chat.tap("Confirm")
    [held] = tickets_of(harness.sandbox, chat.user.id)
    assert f"Ticket {held.number}" in first.text

    confirm = await to_walk_in_confirm(chat)
    assert (
        f"You already hold ticket {held.number} for this service; "
        "confirming books another one." in confirm.text
    )
    second = await chat.tap("Confirm")

    tickets = tickets_of(harness.sandbox, chat.user.id)
    assert len(tickets) == 2
    [new] = [t for t in tickets if t.id != held.id]
    assert f"Ticket {new.number}" in second.text


async def test_tickets_still_open_after_the_linked_customer_was_deleted(harness: Harness) -> None:
    chat = user(harness)
    await to_walk_in_confirm(chat)
    await chat.tap("Confirm")
    gone = customer_of(harness.sandbox, chat.user.id)
    assert gone is not None
    async with skiplino_client(harness.sandbox) as api:
        await api.delete_customer(customer_id=gone.id)

    listing = await chat.send("/tickets")

    assert listing.text == "You have no tickets yet."
    assert "Sorry" not in listing.text
    # Booking again links the user to a new customer, and the list shows its ticket.
    await to_walk_in_confirm(chat)
    await chat.tap("Confirm")
    relinked = customer_of(harness.sandbox, chat.user.id)
    assert relinked is not None
    assert relinked.id != gone.id
    again = await chat.send("/tickets")
    assert again.text.startswith("Your tickets (1 in all)")
