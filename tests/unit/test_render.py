"""Turning plain-data cards into Telegram text and keyboards, in English and in Arabic."""

from __future__ import annotations

import pytest
from telegram import InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove
from telegram.constants import MessageLimit

from bot.i18n import Msg, Translator, default_locales_dir
from bot.telegram.render import card_markup, card_text
from conversations.replies import Button, ButtonKind, Card

BACK = Button(Msg("common.back"), "1|5|b")
CANCEL = Button(Msg("common.cancel"), "1|5|x")
PREV = Button(Msg("common.prev"), "1|5|pg|0")
NEXT = Button(Msg("common.next"), "1|5|pg|2")


@pytest.fixture(scope="module")
def translator() -> Translator:
    """Return a translator over the repository catalogs."""
    return Translator(default_locales_dir(), timezone="Asia/Bahrain")


def inline_rows(markup: object) -> list[list[tuple[str, object]]]:
    """Return an inline keyboard as rows of (label, callback data)."""
    assert isinstance(markup, InlineKeyboardMarkup)
    return [[(b.text, b.callback_data) for b in row] for row in markup.inline_keyboard]


def test_english_rows_keep_their_order(translator: Translator) -> None:
    card = Card((Msg("menu.title"),), buttons=((PREV, NEXT), (BACK, CANCEL)))
    assert inline_rows(card_markup(card, "en", translator)) == [
        [("« Previous", "1|5|pg|0"), ("Next »", "1|5|pg|2")],
        [("« Back", "1|5|b"), ("✖ Cancel", "1|5|x")],
    ]


def test_arabic_rows_read_right_to_left_and_each_button_keeps_its_action(
    translator: Translator,
) -> None:
    card = Card((Msg("menu.title"),), buttons=((PREV, NEXT), (BACK, CANCEL)))
    # Telegram lays a row out left to right, so the first button of a right-to-left row
    # (Previous, Back) must come last to sit on the right, where an Arabic reader starts.
    assert inline_rows(card_markup(card, "ar", translator)) == [
        [("التالي »", "1|5|pg|2"), ("« السابق", "1|5|pg|0")],
        [("✖ إلغاء", "1|5|x"), ("« رجوع", "1|5|b")],
    ]


def test_arabic_keeps_the_order_of_the_rows_themselves(translator: Translator) -> None:
    days = tuple(Button(name, f"1|2|dt|{name}") for name in ("d1", "d2", "d3", "d4"))
    card = Card((Msg("menu.title"),), buttons=(days[:2], days[2:], (BACK,)))
    assert [
        [label for label, _ in row] for row in inline_rows(card_markup(card, "ar", translator))
    ] == [
        ["d2", "d1"],
        ["d4", "d3"],
        ["« رجوع"],
    ]


def test_a_regional_arabic_code_is_right_to_left_too(translator: Translator) -> None:
    card = Card((Msg("menu.title"),), buttons=((BACK, CANCEL),))
    assert inline_rows(card_markup(card, "ar-BH", translator))[0][0] == ("✖ إلغاء", "1|5|x")


def test_an_unsupported_locale_is_rendered_as_english_left_to_right(
    translator: Translator,
) -> None:
    card = Card((Msg("menu.title"),), buttons=((BACK, CANCEL),))
    assert inline_rows(card_markup(card, "fr", translator)) == [
        [("« Back", "1|5|b"), ("✖ Cancel", "1|5|x")]
    ]
    assert card_text(card, "fr", translator) == "What would you like to do?"


def test_api_names_on_buttons_are_shown_as_the_api_gave_them(translator: Translator) -> None:
    card = Card((Msg("booking.choose_branch"),), buttons=((Button("فرع سيف مول", "1|1|br|x"),),))
    assert inline_rows(card_markup(card, "ar", translator)) == [[("فرع سيف مول", "1|1|br|x")]]


def test_a_url_button_opens_its_link(translator: Translator) -> None:
    link = Button(Msg("menu.help"), "https://example.com/help", kind=ButtonKind.URL)
    markup = card_markup(Card((Msg("menu.title"),), buttons=((link,),)), "en", translator)
    assert isinstance(markup, InlineKeyboardMarkup)
    button = markup.inline_keyboard[0][0]
    assert (button.text, button.url, button.callback_data) == (
        "❓ Help",
        "https://example.com/help",
        None,
    )


def test_the_contact_keyboard_is_a_reply_keyboard_mirrored_in_arabic(
    translator: Translator,
) -> None:
    share = Button(Msg("phone.share"), kind=ButtonKind.CONTACT)
    skip = Button(Msg("common.cancel"), kind=ButtonKind.TEXT)
    card = Card((Msg("phone.ask"),), buttons=((share, skip),))
    markup = card_markup(card, "ar", translator)
    assert isinstance(markup, ReplyKeyboardMarkup)
    row = markup.keyboard[0]
    assert [(b.text, bool(b.request_contact)) for b in row] == [
        ("✖ إلغاء", False),
        ("📱 مشاركة رقم هاتفي", True),
    ]
    assert markup.one_time_keyboard is True


def test_a_card_without_buttons_has_no_keyboard_unless_it_removes_one(
    translator: Translator,
) -> None:
    assert card_markup(Card((Msg("menu.title"),)), "ar", translator) is None
    removing = Card((Msg("phone.skipped"),), remove_reply_keyboard=True)
    assert isinstance(card_markup(removing, "ar", translator), ReplyKeyboardRemove)


def test_card_lines_are_rendered_in_the_locale_one_per_line(translator: Translator) -> None:
    card = Card((Msg("language.changed"), Msg("menu.title")))
    assert card_text(card, "ar", translator) == "تم تغيير اللغة إلى العربية.\nماذا تود أن تفعل؟"
    assert card_text(card, "en", translator).endswith("\nWhat would you like to do?")


def test_a_card_longer_than_telegram_allows_is_cut_with_an_ellipsis(
    translator: Translator,
) -> None:
    long_name = "ف" * (MessageLimit.MAX_TEXT_LENGTH + 100)
    card = Card((Msg("booking.choose_service", {"branch": long_name}),))
    text = card_text(card, "ar", translator)
    assert len(text) == MessageLimit.MAX_TEXT_LENGTH
    assert text.endswith("…")
