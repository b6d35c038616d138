"""A bot process killed between two steps is replaced, and the chat goes on where it was.

Nothing about a conversation lives in the bot's memory: the step, the choices so far and
the card's message id are in Redis, so a new process picks the chat up from the same card.
"""

from __future__ import annotations

import signal
from datetime import date

from bot.testing.fake_server import FakeBotAPIServer
from tests.e2e.conftest import BotEnv, ChatOf
from tests.e2e.processes import Children, SandboxProcess, start_bot


async def test_an_appointment_is_booked_on_the_same_card_across_two_kills(
    telegram: FakeBotAPIServer,
    sandbox: SandboxProcess,
    children: Children,
    bot_env: BotEnv,
    chat_of: ChatOf,
) -> None:
    api = telegram.api
    full_date = date.fromisoformat((await sandbox.sample())["full_date"])
    first = await start_bot(children, api, bot_env(), name="first bot")
    chat = chat_of(4242, first_name="Layla")

    card = await chat.send("/start")
    await chat.tap("Book a ticket")
    await chat.tap("Seef Mall")
    await chat.tap("Customer Service")
    mode = await chat.tap("Account Opening")
    assert "Book a time" in str(mode.buttons)

    assert await first.kill() == -signal.SIGKILL
    second = await start_bot(children, api, bot_env(), name="second bot")

    days = await chat.tap("Book a time", card.message_id)
    assert days.message_id == card.message_id
    assert "Choose a day" in days.text
    slots = await chat.tap_day(avoid=full_date)
    assert "Free times on" in slots.text
    confirm = await chat.tap_first_slot()
    assert "Please check your booking" in confirm.text
    assert "Account Opening" in confirm.text

    assert await second.kill() == -signal.SIGKILL
    await start_bot(children, api, bot_env(), name="third bot")

    booked = await chat.tap("Confirm", card.message_id)
    tickets = await sandbox.tickets_of("tg-4242")
    assert len(tickets) == 1
    assert tickets[0]["type"] == "appointment"
    assert "Booked" in booked.text
    assert f"Ticket {tickets[0]['ticketNumber']}" in booked.text
    assert await sandbox.bookings_made() == 1
    # Every step after /start edited the one card: the user never saw a second message.
    assert [message.message_id for message in chat.user.messages()] == [card.message_id]
