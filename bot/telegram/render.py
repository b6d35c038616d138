"""Own turning plain-data cards into Telegram text and keyboards.

Must not import conversations' flows (only its reply types) or the Skiplino client.
"""

from __future__ import annotations

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import MessageLimit

from bot.i18n import Translator
from conversations.replies import Button, ButtonKind, Card

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None
_ELLIPSIS = "…"


def card_text(card: Card, locale: str, translator: Translator) -> str:
    """Render a card's lines, cut to Telegram's message limit."""
    text = "\n".join(translator.render(line, locale) for line in card.lines)
    limit = MessageLimit.MAX_TEXT_LENGTH
    return text if len(text) <= limit else text[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def _label(button: Button, locale: str, translator: Translator) -> str:
    """Render a button's label."""
    return translator.render(button.label, locale)


def card_markup(card: Card, locale: str, translator: Translator) -> Markup:
    """Render a card's buttons; rows read right to left in RTL languages."""
    rtl = translator.is_rtl(locale)
    rows = [list(reversed(row)) if rtl else list(row) for row in card.buttons]
    if any(b.kind in (ButtonKind.CONTACT, ButtonKind.TEXT) for row in rows for b in row):
        return ReplyKeyboardMarkup(
            [
                [
                    KeyboardButton(
                        _label(b, locale, translator), request_contact=b.kind == ButtonKind.CONTACT
                    )
                    for b in row
                ]
                for row in rows
            ],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    if card.remove_reply_keyboard and not rows:
        return ReplyKeyboardRemove()
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(_label(b, locale, translator), url=b.data)
                if b.kind == ButtonKind.URL
                else InlineKeyboardButton(_label(b, locale, translator), callback_data=b.data)
                for b in row
            ]
            for row in rows
        ]
    )
