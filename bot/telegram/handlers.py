"""Own the bridge from Telegram updates to the conversation engine and back.

Update -> event; engine runs it under the chat's lock; the outcome is rendered and sent
(edits in place after a tap, a new card after typed text). Must not import the flows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, TypeAlias

from telegram import Bot, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.aio import running
from bot.i18n import Msg, Translator
from bot.telegram.render import card_markup, card_text
from conversations.engine import Engine, Outcome
from conversations.events import Command, ContactShared, Event, Tap, TextInput, UserInfo
from conversations.replies import Card

log = logging.getLogger(__name__)

# The bot uses PTB's default context types; one alias keeps signatures readable.
AnyApplication: TypeAlias = Application[Any, Any, Any, Any, Any, Any]

# A call slower than this shows "typing…" so the user knows the bot is on it.
TYPING_AFTER_SECONDS = 0.4
TYPING_EVERY_SECONDS = 4.5


def user_info(update: Update) -> UserInfo | None:
    """Return who sent the update."""
    user = update.effective_user
    if user is None:
        return None
    return UserInfo(
        id=user.id,
        first_name=user.first_name or "",
        last_name=user.last_name or "",
        language_code=user.language_code,
    )


def event_of(update: Update) -> Event | None:
    """Translate an update into a conversation event."""
    if update.callback_query is not None:
        query = update.callback_query
        message_id = query.message.message_id if query.message is not None else None
        return Tap(data=query.data or "", message_id=message_id)
    message = update.effective_message
    if message is None:
        return None
    if message.contact is not None:
        return ContactShared(phone=message.contact.phone_number, user_id=message.contact.user_id)
    text = message.text or ""
    if text.startswith("/"):
        head, _, arg = text.partition(" ")
        name = head[1:].split("@", 1)[0]
        return Command(name=name, arg=arg)
    # Stickers, photos and the like are treated as text that is not an answer.
    return TextInput(text=text)


class TelegramBridge:
    """Run each update through the engine and show the outcome."""

    def __init__(self, engine: Engine, translator: Translator) -> None:
        self.engine = engine
        self.translator = translator

    def handlers(self) -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]]:
        """Return the handlers to add to the Application."""
        return [
            CallbackQueryHandler(self.on_update),
            MessageHandler(filters.ALL, self.on_update),
        ]

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Handle any update of a private chat."""
        chat = update.effective_chat
        user = user_info(update)
        event = event_of(update)
        if chat is None or user is None or event is None:
            return
        if chat.type != ChatType.PRIVATE:
            # Bookings and tickets are personal: in a group, members would share one
            # conversation and see each other's cards. The bot only talks in private chats
            # (a tap is still answered, so the client stops its spinner).
            log.info("ignoring an update from a %s chat", chat.type)
            if update.callback_query is not None:
                with contextlib.suppress(TelegramError):
                    await update.callback_query.answer()
            return
        if update.callback_query is not None:
            # Answer at once: the client shows a spinner until we do (docs/architecture.md §3).
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer()
        bot = context.bot

        async def deliver(outcome: Outcome) -> int | None:
            return await self.deliver(bot, chat.id, outcome)

        async with running(self.keep_typing(bot, chat.id)):
            await self.engine.handle(chat.id, user, event, deliver)

    @staticmethod
    async def keep_typing(bot: Bot, chat_id: int) -> None:
        """Show "typing…" once the update takes longer than a moment, until cancelled."""
        await asyncio.sleep(TYPING_AFTER_SECONDS)
        while True:
            with contextlib.suppress(TelegramError):
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            await asyncio.sleep(TYPING_EVERY_SECONDS)

    async def deliver(self, bot: Bot, chat_id: int, outcome: Outcome) -> int | None:
        """Send or edit the outcome's cards; return the id of the last card shown."""
        last_id: int | None = None
        for index, card in enumerate(outcome.cards):
            last_id = await self._show(
                bot, chat_id, card, outcome.locale, outcome.edit_message_id if index == 0 else None
            )
        return last_id

    async def _show(
        self, bot: Bot, chat_id: int, card: Card, locale: str, edit_id: int | None
    ) -> int:
        """Edit message ``edit_id`` into ``card`` where possible, else send it anew."""
        text = card_text(card, locale, self.translator)
        markup = card_markup(card, locale, self.translator)
        if (
            edit_id is not None
            and (markup is None or isinstance(markup, InlineKeyboardMarkup))
            and not card.new_message
        ):
            try:
                await bot.edit_message_text(
                    text, chat_id=chat_id, message_id=edit_id, reply_markup=markup
                )
                return edit_id
            except BadRequest as exc:
                reason = exc.message.lower()
                if "not modified" in reason:
                    return edit_id
                # The card is gone or too old to edit: a fresh card below is just as good.
                log.info("could not edit card, sending a new one: %s", exc.message)
        message = await bot.send_message(chat_id, text, reply_markup=markup)
        return int(message.message_id)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the error first, then apologise in the user's language."""
        log.error("error while handling an update", exc_info=context.error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        user = user_info(update)
        locale = await self.engine.user_locale(user) if user else self.engine.default_locale
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(
                update.effective_chat.id, self.translator.render(Msg("errors.generic"), locale)
            )


def install(application: AnyApplication, bridge: TelegramBridge) -> None:
    """Add the bridge's handlers and error handler to ``application``."""
    for handler in bridge.handlers():
        application.add_handler(handler)
    application.add_error_handler(bridge.on_error)
