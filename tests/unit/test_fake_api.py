"""Prove the fake Telegram Bot API behaves like Telegram for a real PTB Application.

A tiny echo bot (written here) runs against the in-process `FakeRequest` and against
`FakeBotAPIServer` over HTTP; a `FakeUser` talks to it and the tests assert what the user sees.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, Forbidden, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.testing.fake_api import FakeBotAPI, FakeRequest, FakeUser
from bot.testing.fake_server import FakeBotAPIServer

TOKEN = "123:TEST"
EchoApp = Application[Any, Any, Any, Any, Any, Any]

# --- the echo bot under test -------------------------------------------------------------


def tone_keyboard() -> InlineKeyboardMarkup:
    """Return the buttons under every echo."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Shout", callback_data="shout"),
                InlineKeyboardButton("Whisper", callback_data="whisper"),
            ],
            [InlineKeyboardButton("Docs", url="https://example.org")],
        ]
    )


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet with the deep-link argument and ask for the phone number."""
    assert update.effective_message is not None
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton("Share phone", request_contact=True)], ["Skip"]],
        one_time_keyboard=True,
    )
    await update.effective_message.reply_text(
        f"hello {' '.join(context.args or [])}".strip(), reply_markup=keyboard
    )


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Echo text with the tone buttons."""
    assert update.effective_message is not None
    text = update.effective_message.text or ""
    await update.effective_message.reply_text(f"echo: {text}", reply_markup=tone_keyboard())


async def contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Confirm the shared phone number and remove the reply keyboard."""
    assert update.effective_message is not None
    assert update.effective_message.contact is not None
    shared = update.effective_message.contact
    own = shared.user_id == update.effective_user.id if update.effective_user else False
    await update.effective_message.reply_text(
        f"phone {shared.phone_number} own={own}", reply_markup=ReplyKeyboardRemove()
    )


async def tone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the tap, then rewrite the echo in the chosen tone."""
    query = update.callback_query
    assert query is not None
    assert query.message is not None
    await query.answer()
    text = getattr(query.message, "text", "") or ""
    new_text = text.upper() if query.data == "shout" else text.lower()
    await query.edit_message_text(new_text, reply_markup=tone_keyboard())


def add_echo_handlers(app: EchoApp) -> EchoApp:
    """Add the echo bot's handlers to an application."""
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.CONTACT, contact))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(CallbackQueryHandler(tone))
    return app


@asynccontextmanager
async def polling(app: EchoApp) -> AsyncIterator[None]:
    """Run the application with long polling for the duration of the block."""
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=5)
        await app.start()
        try:
            yield
        finally:
            await app.updater.stop()
            await app.stop()


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def api() -> FakeBotAPI:
    """Return an empty fake Bot API."""
    return FakeBotAPI()


@pytest.fixture
def layla(api: FakeBotAPI) -> FakeUser:
    """Return a user with a private chat."""
    return api.user(user_id=501, first_name="Layla", language_code="en")


@pytest.fixture
async def echo_bot(api: FakeBotAPI) -> AsyncIterator[EchoApp]:
    """Run the echo bot in-process against the fake."""
    builder = (
        ApplicationBuilder()
        .token(TOKEN)
        .request(FakeRequest(api))
        .get_updates_request(FakeRequest(api))
    )
    app = add_echo_handlers(builder.build())
    async with polling(app):
        yield app


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    """Return a bare PTB Bot talking to the fake, for single calls."""
    async with Bot(TOKEN, request=FakeRequest(api), get_updates_request=FakeRequest(api)) as b:
        yield b


# --- a user talking to a real Application ------------------------------------------------


async def test_user_sees_the_echo_of_what_they_typed(
    layla: FakeUser,
    echo_bot: EchoApp,
) -> None:
    await layla.send("hi there")
    events = await layla.wait_for_reply()

    assert layla.last_message().text == "echo: hi there"
    assert layla.last_message().buttons == [["Shout", "Whisper"], ["Docs"]]
    assert [event.kind for event in events] == ["sent"]
    assert echo_bot.bot.username == "skiplino_test_bot"


async def test_idle_waits_until_the_bot_has_handled_everything(
    api: FakeBotAPI,
    layla: FakeUser,
    echo_bot: EchoApp,
) -> None:
    ali = api.user(first_name="Ali")
    await layla.send("one")
    await ali.send("two")

    await api.idle()

    assert layla.last_message().text == "echo: one"
    assert ali.last_message().text == "echo: two"


async def test_start_command_gets_its_argument_and_a_contact_keyboard(
    layla: FakeUser,
    echo_bot: EchoApp,
) -> None:
    await layla.send("/start seef")
    await layla.wait_for_reply()

    assert layla.last_message().text == "hello seef"
    assert layla.reply_keyboard() == [["Share phone"], ["Skip"]]


async def test_sharing_the_contact_reaches_the_bot_and_removes_the_keyboard(
    layla: FakeUser,
    echo_bot: EchoApp,
) -> None:
    await layla.send("/start")
    await layla.wait_for_reply()

    await layla.share_contact("+97333001122")
    await layla.wait_for_reply()

    assert layla.last_message().text == "phone +97333001122 own=True"
    assert layla.reply_keyboard() is None


async def test_pressing_a_reply_keyboard_button_sends_its_label(
    layla: FakeUser,
    echo_bot: EchoApp,
) -> None:
    await layla.send("/start")
    await layla.wait_for_reply()

    await layla.press("skip")
    await layla.wait_for_reply()

    assert layla.last_message().text == "echo: Skip"
    assert layla.reply_keyboard() is None  # one-time keyboards hide after use


async def test_a_contact_request_button_cannot_be_pressed_as_text(
    layla: FakeUser,
    echo_bot: EchoApp,
) -> None:
    await layla.send("/start")
    await layla.wait_for_reply()

    with pytest.raises(AssertionError, match="requests the contact"):
        await layla.press("Share phone")


async def test_clicking_a_button_by_label_answers_the_query_and_edits_the_message(
    layla: FakeUser,
    echo_bot: EchoApp,
) -> None:
    await layla.send("Hello")
    await layla.wait_for_reply()
    card = layla.last_message()

    await layla.click("shout")  # case-insensitive substring of "Shout"
    events = await layla.wait_for_reply()

    edited = layla.last_message()
    assert edited.message_id == card.message_id
    assert edited.text == "ECHO: HELLO"
    assert edited.edited
    assert [event.kind for event in events] == ["answered", "edited"]
    assert layla.unanswered_callbacks() == []


async def test_clicking_a_label_that_is_not_there_lists_the_buttons(
    layla: FakeUser,
    echo_bot: EchoApp,
) -> None:
    await layla.send("Hello")
    await layla.wait_for_reply()

    with pytest.raises(AssertionError, match=r"no button 'Book'.*\[Shout\] \[Whisper\]"):
        await layla.click("Book")
    with pytest.raises(AssertionError, match="not a callback button"):
        await layla.click(re.compile("^Docs$"))


async def test_a_silent_bot_fails_wait_for_reply_with_a_reason(layla: FakeUser) -> None:
    await layla.send("anyone?")

    with pytest.raises(AssertionError, match="never fetched"):
        await layla.wait_for_reply(timeout=0.2)


# --- Telegram's rules, seen through PTB ----------------------------------------------------


async def test_editing_with_identical_content_is_not_modified_in_ptb(
    bot: Bot, layla: FakeUser
) -> None:
    sent = await bot.send_message(layla.id, "same", reply_markup=tone_keyboard())

    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "same", chat_id=layla.id, message_id=sent.message_id, reply_markup=tone_keyboard()
        )
    # Without reply_markup the keyboard goes, so this is a real change.
    await bot.edit_message_text("same", chat_id=layla.id, message_id=sent.message_id)
    assert layla.last_message().buttons == []
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=layla.id, message_id=999)


async def test_too_long_text_is_rejected_and_never_shown(bot: Bot, layla: FakeUser) -> None:
    await bot.send_message(layla.id, "x" * 4096)

    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(layla.id, "y" * 4097)
    assert [message.text for message in layla.messages()] == ["x" * 4096]


async def test_callback_data_over_64_bytes_is_rejected(bot: Bot, layla: FakeUser) -> None:
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="é" * 33)]])

    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(layla.id, "pick", reply_markup=too_long)
    assert layla.messages() == []


async def test_bad_html_is_rejected_like_telegram(bot: Bot, layla: FakeUser) -> None:
    await bot.send_message(layla.id, "<b>Seef</b> &amp; Mall", parse_mode="HTML")

    assert layla.last_message().text == "Seef & Mall"
    with pytest.raises(BadRequest, match=r'(?i)unsupported start tag "br"'):
        await bot.send_message(layla.id, "a<br>b", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)can't find end tag"):
        await bot.send_message(layla.id, "<b>open", parse_mode="HTML")


async def test_a_callback_query_can_be_answered_only_once(
    api: FakeBotAPI, bot: Bot, layla: FakeUser
) -> None:
    await bot.send_message(layla.id, "pick", reply_markup=tone_keyboard())
    query_id = await layla.click("Whisper")

    assert await bot.answer_callback_query(query_id, text="ok")
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query_id)
    assert api.callback_answers[query_id].text == "ok"


async def test_a_callback_query_answered_after_the_ttl_is_too_old(bot: Bot) -> None:
    now = [0.0]
    api = FakeBotAPI(callback_ttl=15, clock=lambda: now[0])
    user = api.user(first_name="Ali")
    late = Bot(TOKEN, request=FakeRequest(api), get_updates_request=FakeRequest(api))
    async with late:
        await late.send_message(user.id, "pick", reply_markup=tone_keyboard())
        query_id = await user.click_data("stale-v0")
        now[0] = 16.0

        with pytest.raises(BadRequest, match="Query is too old"):
            await late.answer_callback_query(query_id)
    assert [answer.data for answer in user.unanswered_callbacks()] == ["stale-v0"]


async def test_set_my_commands_is_stored_per_language(api: FakeBotAPI, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("book", "Book a visit")])
    await bot.set_my_commands([BotCommand("book", "احجز موعدا")], language_code="ar")

    assert api.commands() == [("book", "Book a visit")]
    assert api.commands("ar") == [("book", "احجز موعدا")]
    arabic = await bot.get_my_commands(language_code="ar")
    assert [(c.command, c.description) for c in arabic] == [("book", "احجز موعدا")]
    assert await bot.get_my_commands(language_code="fr") == ()


async def test_flood_control_answers_every_nth_send_with_retry_after(
    layla: FakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PTB 22 warns on every RetryAfter unless the timedelta behaviour is opted into.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    api = layla.api
    api.flood_every = 2
    async with Bot(TOKEN, request=FakeRequest(api), get_updates_request=FakeRequest(api)) as b:
        await b.send_message(layla.id, "one")
        with pytest.raises(RetryAfter) as caught:
            await b.send_message(layla.id, "two")
        await b.send_message(layla.id, "three")

    assert caught.value.retry_after == dt.timedelta(seconds=1)
    assert [message.text for message in layla.messages()] == ["one", "three"]


async def test_a_blocked_user_makes_sends_forbidden(bot: Bot, layla: FakeUser) -> None:
    layla.block()

    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(layla.id, "hi")


# --- the raw protocol ----------------------------------------------------------------------


async def test_unknown_method_is_not_found(api: FakeBotAPI) -> None:
    response = await api.call("sendHologram", {"chat_id": 1})

    assert response.status == 404
    assert response.body == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_updates_are_redelivered_until_an_offset_confirms_them(
    api: FakeBotAPI, layla: FakeUser
) -> None:
    await layla.send("one")
    await layla.send("two")

    first = (await api.call("getUpdates", {})).body["result"]
    again = (await api.call("getUpdates", {"offset": first[0]["update_id"] + 1})).body["result"]

    assert [u["message"]["text"] for u in first] == ["one", "two"]
    assert [u["message"]["text"] for u in again] == ["two"]


async def test_a_long_poll_returns_as_soon_as_the_user_acts(
    api: FakeBotAPI, layla: FakeUser
) -> None:
    poll = asyncio.create_task(api.call("getUpdates", {"timeout": 30}))
    await asyncio.sleep(0.01)
    assert not poll.done()

    await layla.send("wake up")
    response = await asyncio.wait_for(poll, timeout=1)

    assert [u["message"]["text"] for u in response.body["result"]] == ["wake up"]


async def test_a_second_long_poll_ends_the_first_with_conflict(api: FakeBotAPI) -> None:
    first = asyncio.create_task(api.call("getUpdates", {"timeout": 30}))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(api.call("getUpdates", {"timeout": 0}))

    assert (await first).status == 409
    assert (await second).body == {"ok": True, "result": []}


# --- over HTTP -----------------------------------------------------------------------------


async def test_echo_bot_works_over_http_against_the_server(
    api: FakeBotAPI, layla: FakeUser
) -> None:
    async with FakeBotAPIServer(api) as server:
        app = add_echo_handlers(ApplicationBuilder().token(TOKEN).base_url(server.base_url).build())
        async with polling(app):
            await layla.send("over the wire")
            await layla.wait_for_reply()
            await layla.click("Shout")
            await layla.wait_for_reply()

    assert layla.last_message().text == "ECHO: OVER THE WIRE"
    assert layla.last_message().buttons == [["Shout", "Whisper"], ["Docs"]]
    assert layla.unanswered_callbacks() == []


async def test_server_accepts_json_and_form_bodies_and_answers_like_telegram(
    api: FakeBotAPI, layla: FakeUser
) -> None:
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    async with FakeBotAPIServer(api) as server, httpx.AsyncClient() as client:
        as_json = await client.post(
            f"{server.base_url}{TOKEN}/sendMessage",
            json={"chat_id": layla.id, "text": "123", "reply_markup": markup},
        )
        as_form = await client.post(
            f"{server.base_url}{TOKEN}/sendmessage",
            data={
                "chat_id": str(layla.id),
                "text": "form",
                "reply_markup": '{"remove_keyboard":true}',
            },
        )
        as_multipart = await client.post(
            f"{server.base_url}{TOKEN}/sendMessage",
            data={"chat_id": str(layla.id), "text": "multipart"},
            files={"document": ("note.txt", b"ignored")},
        )
        unknown = await client.post(f"{server.base_url}{TOKEN}/sendHologram")

    assert as_json.status_code == 200
    assert as_json.json()["result"]["reply_markup"] == markup
    assert as_form.json()["result"]["text"] == "form"
    assert as_multipart.json()["ok"] is True
    assert [message.text for message in layla.messages()] == ["123", "form", "multipart"]
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


BOT_SCRIPT = """
import os
from telegram.ext import ApplicationBuilder, MessageHandler, filters

async def echo(update, context):
    await update.effective_message.reply_text("echo: " + update.effective_message.text)

app = ApplicationBuilder().token("123:TEST").base_url(os.environ["TELEGRAM_API_URL"]).build()
app.add_handler(MessageHandler(filters.TEXT, echo))
app.run_polling(poll_interval=0, timeout=5)
"""


async def test_a_bot_in_another_process_answers_through_the_server(
    api: FakeBotAPI, layla: FakeUser, tmp_path: Path
) -> None:
    script = tmp_path / "echo_bot.py"
    script.write_text(BOT_SCRIPT, encoding="utf-8")
    async with FakeBotAPIServer(api) as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            env={**os.environ, "TELEGRAM_API_URL": server.base_url},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await layla.send("from afar")
            await layla.wait_for_reply(timeout=20)
        finally:
            process.terminate()
            _, stderr = await process.communicate()

    assert layla.last_message().text == "echo: from afar", stderr.decode()
