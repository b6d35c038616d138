"""/forget asks, then deletes the profile and the conversation; the business keeps its records."""

from __future__ import annotations

from tests.conversations.booking_steps import (
    customer_of,
    session_of,
    tickets_of,
    to_walk_in_confirm,
    user,
)
from tests.fakes.harness import Harness


async def test_forget_asks_first_and_no_keeps_everything(harness: Harness) -> None:
    chat = user(harness)
    await chat.send("/language")
    await chat.tap("English")

    question = await chat.send("/forget")

    assert "Forget you?" in question.text
    assert "stay with the business" in question.text
    assert chat.labels() == ["Yes, forget me", "No, keep it"]
    await chat.tap("No, keep it")
    profile = await harness.store().get_profile(chat.user.id)
    assert profile is not None
    assert profile.locale == "en"


async def test_forget_deletes_the_profile_and_the_conversation_but_not_the_tickets(
    harness: Harness,
) -> None:
    chat = user(harness)
    await to_walk_in_confirm(chat)
    await chat.tap("Confirm")
    await chat.send("/phone")
    await chat.user.share_contact("97333445566")
    await chat.user.wait_for_reply()
    before = await harness.store().get_profile(chat.user.id)
    assert before is not None
    assert before.mobile == "+97333445566"
    assert before.customer_id is not None

    await chat.send("/forget")
    done = await chat.tap("Yes, forget me")

    assert "I have deleted your language, phone number, customer link" in done.text
    assert "🎫 Book a ticket" in chat.labels()  # back at the main menu
    assert await harness.store().get_profile(chat.user.id) is None
    session = await session_of(harness, chat)
    assert session.state == "menu"
    assert session.back == []
    # What the business holds is the business's: the customer and the ticket remain.
    assert customer_of(harness.sandbox, chat.user.id) is not None
    assert len(tickets_of(harness.sandbox, chat.user.id)) == 1


async def test_a_forgotten_user_finds_their_tickets_again_through_the_same_customer(
    harness: Harness,
) -> None:
    chat = user(harness)
    await to_walk_in_confirm(chat)
    await chat.tap("Confirm")
    await chat.send("/forget")
    await chat.tap("Yes, forget me")

    listing = await chat.send("/tickets")

    [ticket] = tickets_of(harness.sandbox, chat.user.id)
    assert ticket.number in listing.text or ticket.number in " ".join(chat.labels())
    profile = await harness.store().get_profile(chat.user.id)
    assert profile is not None
    customer = customer_of(harness.sandbox, chat.user.id)
    assert customer is not None
    assert profile.customer_id == customer.id


async def test_forget_speaks_arabic(harness: Harness) -> None:
    chat = user(harness, language_code="ar")

    question = await chat.send("/forget")

    assert "هل أحذف بياناتك؟" in question.text
    done = await chat.tap("نعم، احذف بياناتي")
    assert "تم: حذفت" in done.text
