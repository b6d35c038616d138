"""The installed ``skiplino-bot`` command, seen from outside: fake Telegram in, sandbox behind.

The bot runs as its own process with nothing but environment variables; the test only
talks to it as a Telegram user would and reads the sandbox over its HTTP API.
"""

from __future__ import annotations

import re
from datetime import date

from bot.testing.fake_server import FakeBotAPIServer
from tests.e2e.conftest import BotEnv, ChatOf
from tests.e2e.processes import Children, SandboxProcess, start_bot


async def test_the_command_books_a_walk_in_and_an_appointment_and_keeps_secrets_out_of_output(
    telegram: FakeBotAPIServer,
    sandbox: SandboxProcess,
    children: Children,
    bot_env: BotEnv,
    chat_of: ChatOf,
    bot_token: str,
    api_key: str,
) -> None:
    api = telegram.api
    full_date = date.fromisoformat((await sandbox.sample())["full_date"])
    bot = await start_bot(children, api, bot_env())
    chat = chat_of(5151, first_name="Ahmed")

    menu = await chat.send("/start")
    assert "What would you like to do?" in menu.text

    # A refused API call is logged with its traceback: the secrets must stay out of it too.
    await sandbox.set_faults({"force": ["GET:/branches=400"]})
    refused = await chat.tap("Book a ticket")
    assert "Try again" in str(refused.buttons)
    await sandbox.clear_faults()
    branches = await chat.tap("Try again")
    assert "Choose a branch" in branches.text

    await chat.tap("Seef Mall")
    await chat.tap("Teller Services")
    await chat.tap("Cash Withdrawal")
    await chat.tap("Join the queue now")
    walk_in = await chat.tap("Confirm")
    tickets = await sandbox.tickets_of("tg-5151")
    assert len(tickets) == 1
    assert tickets[0]["type"] != "appointment"
    assert "Booked" in walk_in.text
    assert f"Ticket {tickets[0]['ticketNumber']}" in walk_in.text

    await chat.tap("Main menu")
    await chat.tap("Book a ticket")
    await chat.tap("Seef Mall")
    await chat.tap("Customer Service")
    await chat.tap("Account Opening")
    await chat.tap("Book a time")
    await chat.tap_day(avoid=full_date)
    await chat.tap_first_slot()
    appointment = await chat.tap("Confirm")
    tickets = await sandbox.tickets_of("tg-5151")
    assert len(tickets) == 2
    assert tickets[0]["type"] == "appointment"
    assert f"Ticket {tickets[0]['ticketNumber']}" in appointment.text
    assert f"Ticket {tickets[1]['ticketNumber']}" not in appointment.text

    assert await bot.stop() == 0
    output = bot.output
    assert "starting long polling" in output  # the log was captured, so the checks below bite
    assert "Skiplino refused a request" in output
    for secret in (bot_token, bot_token.partition(":")[2], api_key):
        assert secret not in output
    assert not re.search(r"E2E-SECRET", output)
