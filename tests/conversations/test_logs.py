"""What the logs say while real dialogues run: update context on every line, no personal data.

The dialogues run through the harness (real Application, engine, Redis; fake Telegram and
the in-process sandbox); the lines are read from a handler configured like the process's.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.logs import chat_hash, configure_handler
from tests.conversations.booking_steps import tickets_of, to_walk_in_confirm, user
from tests.fakes.harness import Harness

FIRST_NAME = "Layla"
LAST_NAME = "Qasimova"
PHONE = "97333445566"
# How the number shows in the bot's own answers and in Skiplino's record.
PHONE_FORMS = (PHONE, "+97333445566", "33445566")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Capture every root log line (INFO and up) as the JSON handler of a process writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    configure_handler(handler, "json")
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_json_lines_during_an_update_carry_its_id_and_the_hashed_chat(
    harness: Harness, json_lines: io.StringIO
) -> None:
    chat = user(harness, user_id=424242)
    await chat.send("/start")
    # A Skiplino outage makes the client and the engine log while the update runs.
    harness.sandbox.faults.force("GET", "/branches", 503)

    await chat.tap("Book a ticket")

    lines = [line for line in json_lines.getvalue().splitlines() if line]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    during = [r for r in records if r["logger"] in ("bot.skiplino.client", "conversations.engine")]
    assert during, lines
    for record in during:
        assert isinstance(record["update_id"], int)
        assert record["chat"] == chat_hash(424242)
        assert {"time", "level", "message"} <= record.keys()
    assert all("424242" not in line for line in lines), lines
    # Lines logged outside an update carry no update fields.
    logging.getLogger("tests").warning("between updates")
    last = json.loads(json_lines.getvalue().splitlines()[-1])
    assert last["message"] == "between updates"
    assert "update_id" not in last
    assert "chat" not in last


async def test_an_expected_outage_is_one_warning_line_without_traceback(
    harness: Harness, json_lines: io.StringIO
) -> None:
    chat = user(harness)
    await chat.send("/start")
    harness.sandbox.faults.force("GET", "/branches", 503)

    await chat.tap("Book a ticket")

    records = [json.loads(line) for line in json_lines.getvalue().splitlines() if line]
    assert any(r["level"] == "WARNING" for r in records), records
    assert not any("exc_info" in r for r in records), records


async def test_a_whole_english_booking_logs_no_name_and_no_phone(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    chat = user(harness, first_name=FIRST_NAME, last_name=LAST_NAME, language_code="en")

    await to_walk_in_confirm(chat)
    card = await chat.tap("Confirm")
    assert "Ticket" in card.text
    await chat.send("/phone")
    # One refused attempt, so the error paths log too, then the phone is stored.
    harness.sandbox.faults.force("PUT", "/customers/update", 503)
    await chat.user.share_contact(PHONE)
    await chat.user.wait_for_reply()
    harness.sandbox.faults.clear()
    await chat.send("/phone")
    await chat.user.share_contact(PHONE)
    await chat.user.wait_for_reply()
    await chat.send("/tickets")

    assert any(PHONE_FORMS[1] in m.text for m in chat.user.messages())  # the dialogue ran
    texts = [record.getMessage() for record in caplog.records]
    texts += [record.exc_text or "" for record in caplog.records]
    # The refused phone update was logged, so the check below looked at real lines.
    assert any(r.levelno == logging.WARNING for r in caplog.records), caplog.records
    for text in texts:
        for personal in (FIRST_NAME, LAST_NAME, *PHONE_FORMS):
            assert personal not in text, text


async def test_a_booking_leaves_one_audit_line_with_the_ticket_and_no_personal_data(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="skiplino_bot.audit")
    chat = user(harness, user_id=515151, first_name=FIRST_NAME)
    await to_walk_in_confirm(chat)

    await chat.tap("Confirm")

    [ticket] = tickets_of(harness.sandbox, 515151)
    [line] = [r for r in caplog.records if r.name == "skiplino_bot.audit"]
    assert line.getMessage() == (
        f"audit booking ticket={ticket.id} service={harness.sandbox.sample.walk_in_service} "
        "outcome=booked"
    )
    assert FIRST_NAME not in line.getMessage()


async def test_a_refused_api_key_is_one_warning_without_a_traceback(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    chat = user(harness, user_id=626262)
    await chat.send("/start")
    harness.sandbox.faults.force("GET", "/branches", 401)

    reply = await chat.tap("Book a ticket")

    assert "not answering" in reply.text
    engine_lines = [r for r in caplog.records if r.name == "conversations.engine"]
    [message] = [r.getMessage() for r in engine_lines]
    # The key is named masked (first four, last four), never whole.
    assert message.startswith("Skiplino refused SKIPLINO_API_KEY sk_t…dbox (401)")
    assert engine_lines[0].levelno == logging.WARNING
    assert engine_lines[0].exc_info is None
