"""Booking by tapping buttons, through the real Application, fake Telegram and the sandbox."""

from __future__ import annotations

from tests.fakes.harness import Harness


async def test_walk_in_is_booked_by_tapping_labels(harness: Harness) -> None:
    chat = harness.user()
    menu = await chat.send("/start")
    assert "What would you like to do?" in menu.text
    branches = await chat.tap("Book a ticket")
    assert "Choose a branch" in branches.text
    groups = await chat.tap("Seef Mall")
    print(groups.text, groups.buttons)
    services = await chat.tap("Teller")
    print(services.text, services.buttons)
    mode = await chat.tap("Cash Withdrawal")
    print(mode.text, mode.buttons)
    confirm = await chat.tap("Join the queue now")
    print(confirm.text, confirm.buttons)
    ticket = await chat.tap("Confirm")
    print(ticket.text, ticket.buttons)
    assert "Booked" in ticket.text
