"""Which language a user gets, changing it at any step, and the command menu per language.

A user's locale is, in order: the language chosen with /language (kept in the profile),
Telegram's language_code (ar-*, en-*), then BOT_DEFAULT_LOCALE.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.app import build_application, build_engine, set_commands
from bot.i18n import Translator, catalog_path, default_locales_dir
from bot.testing.fake_api import FakeBotAPI, FakeRequest
from tests.fakes.harness import TOKEN, BotWorker, Chat, Harness, settings, skiplino_client

ARABIC_LETTER = re.compile("[\u0600-\u06ff]")
ARABIC_MENU = "ماذا تود أن تفعل؟"
ENGLISH_MENU = "What would you like to do?"


@pytest.fixture
async def arabic_default(redis_client: aioredis.Redis, redis_prefix: str) -> AsyncIterator[Harness]:
    """Return a harness whose one worker runs with BOT_DEFAULT_LOCALE=ar."""
    harness = Harness(redis=redis_client, prefix=redis_prefix)
    config = settings().model_copy(update={"bot_default_locale": "ar"})
    engine = build_engine(
        config,
        store=harness.store(),
        api=skiplino_client(harness.sandbox),
        clock=harness.clock,
    )
    application = build_application(
        config,
        engine,
        request=FakeRequest(harness.telegram),
        updates_request=FakeRequest(harness.telegram),
        token=TOKEN,
    )
    worker = BotWorker(engine, application)
    harness.workers.append(worker)
    await worker.start()
    yield harness
    await harness.stop()


def locales_sent(harness: Harness, since: int = 0) -> set[str | None]:
    """Return the X-Locale values of the API calls made since the ``since``-th one."""
    return {request.locale for request in harness.sandbox.requests[since:]}


async def to_service_step(chat: Chat) -> None:
    """Walk an English chat to the service list of Seef Mall > Customer Service."""
    await chat.send("/start")
    await chat.tap("Book a ticket")
    await chat.tap("Seef Mall")
    await chat.tap("Customer Service")


# --- which language -------------------------------------------------------------------------


async def test_a_telegram_client_set_to_arabic_gets_arabic_without_choosing(
    harness: Harness,
) -> None:
    chat = harness.user(2001, language_code="ar-BH")
    menu = await chat.send("/start")
    assert ARABIC_MENU in menu.text
    assert chat.labels() == ["🎫 حجز تذكرة", "📋 تذاكري", "❓ المساعدة", "🌐 اللغة"]


async def test_a_telegram_client_set_to_english_gets_english(harness: Harness) -> None:
    chat = harness.user(2002, language_code="en-US")
    menu = await chat.send("/start")
    assert ENGLISH_MENU in menu.text
    assert not ARABIC_LETTER.search(menu.text)


async def test_without_a_supported_telegram_language_the_configured_default_is_used(
    arabic_default: Harness,
) -> None:
    french = arabic_default.user(2003, language_code="fr")
    unknown = arabic_default.user(2004, language_code=None)
    english = arabic_default.user(2005, language_code="en-GB")

    assert ARABIC_MENU in (await french.send("/start")).text
    assert ARABIC_MENU in (await unknown.send("/start")).text
    assert ENGLISH_MENU in (await english.send("/start")).text


async def test_without_any_language_information_the_default_default_is_english(
    harness: Harness,
) -> None:
    chat = harness.user(2006, language_code=None)
    assert ENGLISH_MENU in (await chat.send("/start")).text


async def test_the_language_chosen_with_slash_language_wins_over_telegram(
    harness: Harness,
) -> None:
    chat = harness.user(2007, language_code="ar-BH")
    await chat.send("/start")
    choose = await chat.send("/language")
    assert choose.text == "اختر لغتك:"
    assert sorted(chat.labels()[:2]) == ["English", "العربية"]

    changed = await chat.tap("English")
    assert changed.text == "Language set to English.\nWhat would you like to do?"

    # Telegram still says Arabic, but the choice is kept in the profile.
    again = await chat.send("/start")
    assert ENGLISH_MENU in again.text
    before = len(harness.sandbox.requests)
    branches = await chat.tap("Book a ticket")
    assert "Choose a branch" in branches.text
    assert "Seef Mall Branch" in " ".join(chat.labels())
    assert locales_sent(harness, before) == {"en"}


async def test_leaving_the_language_step_with_back_changes_nothing(harness: Harness) -> None:
    chat = harness.user(2008, language_code="en")
    await to_service_step(chat)
    await chat.send("/language")
    service_step = await chat.tap("Back")
    assert service_step.text == "Seef Mall Branch\nChoose a service:"
    assert "Account Opening" in " ".join(chat.labels())


# --- the current step is shown again in the new language ---------------------------------


async def test_changing_language_in_the_middle_of_a_booking_shows_the_same_step_in_arabic(
    harness: Harness,
) -> None:
    chat = harness.user(2009, language_code="en")
    await to_service_step(chat)

    await chat.send("/language")
    before = len(harness.sandbox.requests)
    services = await chat.tap("العربية")

    assert services.text == "تم تغيير اللغة إلى العربية.\nفرع سيف مول\nاختر الخدمة:"
    assert services.buttons == [["🗓 فتح حساب"], ["🚶 خدمات البطاقات"], ["✖ إلغاء", "« رجوع"]]
    assert locales_sent(harness, before) <= {"ar"}

    # The booking goes on in Arabic from where it was.
    mode = await chat.tap("فتح حساب")
    assert mode.text == "فتح حساب"
    assert mode.buttons[:2] == [["🚶 انضم إلى الطابور الآن"], ["🗓 احجز موعدًا"]]
    # Steps further back were named in English when they were taken; they come back in Arabic.
    await chat.tap("رجوع")
    groups = await chat.tap("رجوع")
    assert groups.text == "فرع سيف مول\nاختر مجموعة الخدمات:"
    assert "خدمة العملاء" in chat.labels()


async def test_changing_language_at_the_confirm_step_renames_what_was_chosen(
    harness: Harness,
) -> None:
    chat = harness.user(2010, language_code="en")
    await chat.send("/start")
    await chat.tap("Book a ticket")
    await chat.tap("Seef Mall")
    await chat.tap("Teller")
    await chat.tap("Cash Withdrawal")
    await chat.tap("Join the queue now")

    await chat.send("/language")
    confirm = await chat.tap("العربية")
    assert confirm.text == (
        "تم تغيير اللغة إلى العربية.\n"
        "يرجى مراجعة حجزك:\n"
        "الفرع: فرع سيف مول\n"
        "الخدمة: سحب نقدي\n"
        "التذكرة: الانضمام إلى الطابور الآن"
    )
    before = len(harness.sandbox.requests)
    ticket = await chat.tap("تأكيد")
    assert ticket.text.startswith("✅ تم الحجز!\n🎫 التذكرة \u2066Q")
    assert "الخدمة: سحب نقدي" in ticket.text
    assert locales_sent(harness, before) == {"ar"}


async def test_changing_language_on_a_ticket_card_shows_the_ticket_in_the_new_language(
    harness: Harness,
) -> None:
    chat = harness.user(2011, language_code="ar")
    await chat.send("/start")
    await chat.tap("حجز تذكرة")
    await chat.tap("سيف مول")
    await chat.tap("خدمات الصراف")
    await chat.tap("سحب نقدي")
    await chat.tap("انضم إلى الطابور")
    booked = await chat.tap("تأكيد")
    number = re.search(r"\u2066(Q\d+)\u2069", booked.text)
    assert number is not None

    await chat.send("/language")
    card = await chat.tap("English")

    lines = card.text.splitlines()
    assert lines[:5] == [
        "Language set to English.",
        f"🎫 Ticket {number.group(1)}",
        "Status: waiting in the queue",
        "Branch: Seef Mall Branch",
        "Service: Cash Withdrawal",
    ]
    assert not ARABIC_LETTER.search(card.text)
    assert not ARABIC_LETTER.search(" ".join(chat.labels()))


# --- the command menu ------------------------------------------------------------------------


async def test_the_command_menu_is_published_in_english_and_in_arabic(harness: Harness) -> None:
    english = [
        ("start", "Main menu"),
        ("book", "Book a ticket"),
        ("tickets", "My tickets"),
        ("language", "Change language"),
        ("forget", "Forget me"),
        ("help", "Help"),
    ]
    assert harness.telegram.commands() == english
    assert harness.telegram.commands(language_code="en") == english
    assert harness.telegram.commands(language_code="ar") == [
        ("start", "القائمة الرئيسية"),
        ("book", "حجز تذكرة"),
        ("tickets", "تذاكري"),
        ("language", "تغيير اللغة"),
        ("forget", "احذف بياناتي"),
        ("help", "المساعدة"),
    ]


async def test_a_command_menu_telegram_refuses_is_logged_and_the_others_are_published(
    harness: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # An Arabic description longer than Telegram's 256 characters is refused with a 400.
    shutil.copytree(default_locales_dir(), tmp_path, dirs_exist_ok=True)
    arabic_po = catalog_path(tmp_path, "ar")
    text = arabic_po.read_text("utf-8")
    text = text.replace('msgstr "حجز تذكرة"\n', 'msgstr "' + "حجز " * 80 + '"\n', 1)
    arabic_po.write_text(text, "utf-8")
    telegram = FakeBotAPI()
    application = build_application(
        settings(),
        harness.workers[0].engine,
        request=FakeRequest(telegram),
        updates_request=FakeRequest(telegram),
        token=TOKEN,
    )
    await application.initialize()
    try:
        with caplog.at_level(logging.WARNING, logger="bot.app"):
            await set_commands(application, Translator(tmp_path))
    finally:
        await application.shutdown()

    assert telegram.commands(language_code="ar") == []
    assert ("book", "Book a ticket") in telegram.commands(language_code="en")
    assert ("book", "Book a ticket") in telegram.commands()
    assert "could not set the ar command menu" in caplog.text
