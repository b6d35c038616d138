"""Own the bridge from Telegram updates to the conversation engine and back.

Update -> event -> one ``ChatStore.turn`` of the chat: lock and load, ``Engine.run``,
compare-and-set save, then the reply is rendered and sent (edits in place after a tap, a
new card after typed text) while the lock is still held, so two workers never interleave
one chat's messages; the lock is released when the turn ends. A busy chat and a store
that cannot be reached are answered here too. Each update is counted in ``bot.metrics`` by
kind and outcome, and logged inside ``update_context`` (update id, hashed chat id).
Must not import the flows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from telegram import Bot, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import metrics
from bot.aio import pause, running
from bot.i18n import Msg, Translator
from bot.logs import update_context
from bot.sessions.store import ChatBusy, ChatStore, StoreUnavailable
from bot.skiplino import APIConnectionError, APIStatusError
from bot.telegram.render import card_markup, card_text
from conversations.engine import AnyEngine
from conversations.events import Command, ContactShared, Event, Tap, TextInput, UserInfo
from conversations.replies import Card
from conversations.session import Session

log = logging.getLogger(__name__)

# The bot uses PTB's default context types; one alias keeps signatures readable.
AnyApplication: TypeAlias = Application[Any, Any, Any, Any, Any, Any]

# A call slower than this shows "typing…" so the user knows the bot is on it.
TYPING_AFTER_SECONDS = 0.4
TYPING_EVERY_SECONDS = 4.5
# A turn stopped at its deadline still gets this long to apologise, so the whole update
# stays bounded even when Telegram or Redis is slow as well.
APOLOGY_SECONDS = 5.0


@dataclass
class LockTimes:
    """How long an update waits for its chat's lock, holds it, and how often it renews it."""

    wait: float = 5.0
    # Renewed every renew_seconds while the update runs, so a slow Skiplino never lets a
    # second update of the chat in; a crashed process holds the lock for at most hold_ms.
    hold_ms: int = 10_000
    renew_seconds: float = 3.0


@dataclass
class Reply:
    """What to show for one update, in which language, and which message to edit."""

    cards: list[Card] = field(default_factory=list)
    locale: str = "en"
    edit_message_id: int | None = None


Show = Callable[[Reply], Awaitable[None]]

# Failures of the outside world, not of the code: one warning line each, no traceback.
EXPECTED_FAILURES: tuple[type[BaseException], ...] = (
    StoreUnavailable,
    APIConnectionError,
    NetworkError,
)


def event_kind(event: Event) -> str:
    """Return the metrics label of an event: message, command, callback or contact."""
    if isinstance(event, Tap):
        return "callback"
    if isinstance(event, Command):
        return "command"
    if isinstance(event, ContactShared):
        return "contact"
    return "message"


def failure_outcome(error: BaseException) -> str:
    """Return the metrics outcome of an update that ended with ``error``."""
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    if isinstance(error, StoreUnavailable):
        return "store_unavailable"
    if isinstance(error, NetworkError):
        return "telegram_unavailable"
    if expected_failure(error):
        return "skiplino_unavailable"
    return "error"


def expected_failure(error: BaseException | None) -> bool:
    """Tell whether ``error`` is an outage of a service rather than a bug."""
    if isinstance(error, APIStatusError):
        return error.status_code >= 500 or error.status_code == 429
    return isinstance(error, EXPECTED_FAILURES)


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
    """Run each update through the engine inside its chat's turn and show the reply."""

    def __init__(
        self,
        engine: AnyEngine,
        store: ChatStore[Session],
        translator: Translator,
        *,
        lock: LockTimes | None = None,
        deadline: float | None = None,
    ) -> None:
        """Wire the engine, store and translator; ``lock`` and ``deadline`` may be tuned later."""
        self.engine = engine
        self.store = store
        self.translator = translator
        self.lock = lock or LockTimes()
        # Seconds one update may take before the user is told the service is not answering.
        self.deadline = deadline

    def handlers(self) -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]]:
        """Return the handlers to add to the Application."""
        # New messages only: an edited message, a channel post or a reaction is not something
        # the user asks of the bot now (a message edited into "/tickets" must not run it),
        # whatever the webhook or getUpdates was subscribed to.
        return [
            CallbackQueryHandler(self.on_update),
            MessageHandler(filters.UpdateType.MESSAGE, self.on_update),
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

        async def show(reply: Reply) -> None:
            """Send the reply to this chat."""
            await self.deliver(bot, chat.id, reply)

        async def typing(stop: asyncio.Event) -> None:
            """Show "typing…" in this chat until stopped."""
            await self.keep_typing(bot, chat.id, stop)

        with update_context(update.update_id, chat.id):
            async with running(typing):
                await self.handle_in_time(chat.id, user, event, show)

    async def handle_in_time(self, chat_id: int, user: UserInfo, event: Event, show: Show) -> None:
        """Run ``handle`` within the deadline; past it, stop it and apologise instead."""
        if self.deadline is None:
            await self.handle(chat_id, user, event, show)
            return
        limit = asyncio.timeout(self.deadline)
        try:
            async with limit:
                await self.handle(chat_id, user, event, show)
        except TimeoutError:
            if not limit.expired():
                raise  # a timeout inside the update, not the deadline: it propagates as before
            # The cancelled turn released the chat's lock on its way out; nothing unsaved
            # was shown, and a booking that did go through is found by look-before-book.
            # The log context names the update and the hashed chat: no raw id here.
            log.warning("an update passed its %.1f s deadline", self.deadline)
            await self._late_apology(user, show)

    async def _late_apology(self, user: UserInfo, show: Show) -> None:
        """Tell the user the booking service is not answering, within a short bound."""
        try:
            async with asyncio.timeout(APOLOGY_SECONDS):
                locale = await self.user_locale(user)
                await show(Reply([Card((Msg("errors.unavailable"),), new_message=True)], locale))
        except (TimeoutError, TelegramError) as exc:
            log.warning("could not apologise for a late update: %s", type(exc).__name__)

    async def handle(self, chat_id: int, user: UserInfo, event: Event, show: Show) -> None:
        """Run one update of ``chat_id`` in its turn and ``show`` the reply; count it."""
        started = time.monotonic()
        outcome = "error"
        try:
            outcome = await self._handle(chat_id, user, event, show, started)
        except BaseException as exc:
            outcome = failure_outcome(exc)
            raise
        finally:
            metrics.record_update(event_kind(event), outcome, time.monotonic() - started)

    async def _handle(
        self, chat_id: int, user: UserInfo, event: Event, show: Show, started: float
    ) -> str:
        """Run the update in its turn and show the reply under the lock; return the outcome."""
        edit_id = event.message_id if isinstance(event, Tap) else None
        entered = False
        try:
            async with self.store.turn(
                chat_id,
                user.id,
                wait=self.lock.wait,
                hold_ms=self.lock.hold_ms,
                renew_seconds=self.lock.renew_seconds,
            ) as turn:
                entered = True
                metrics.record_lock_wait(time.monotonic() - started)
                # A booking saves the session before its request leaves (see the engine).
                result = await self.engine.run(
                    chat_id, user, turn.session, turn.profile, event, checkpoint=turn.save
                )
                # Save before sending: a crash after this point leaves the user looking at
                # the previous card, whose buttons are then stale and re-show the saved step.
                try:
                    saved = await turn.save(
                        result.session, result.profile if result.profile_changed else None
                    )
                    if saved and result.forget_profile:
                        # After the save: the fresh session must not point at a profile
                        # that a failed delete left behind, and /forget can be repeated.
                        await self.store.forget_profile(user.id)
                except StoreUnavailable as exc:
                    # Nothing is shown that was not saved; a booking made in this update is
                    # found again by the look-before-book check when the user retries.
                    metrics.record_store_error("save")
                    await self._store_apology(
                        user, show, self.engine.locale_for(turn.profile, user), cause=exc.cause
                    )
                    return "store_unavailable"
                if not saved:
                    # Only possible when our lock expired mid-update and another worker
                    # moved the chat on; its state is newer, so ours is neither kept nor shown.
                    # The chat appears only as the hashed id the log context adds.
                    log.warning(
                        "another writer moved the session on (our lock was lost or expired); "
                        "update dropped"
                    )
                    return "dropped"
                await show(Reply(result.cards, result.locale, edit_id))
                return "ok"
        except ChatBusy:
            metrics.record_lock_wait(time.monotonic() - started)
            metrics.record_busy()
            # A tap needs no answer: the update holding the lock will redraw the card.
            if not isinstance(event, Tap):
                await show(Reply([Card((Msg("errors.busy"),))], await self.user_locale(user)))
            return "busy"
        except StoreUnavailable as exc:
            metrics.record_store_error("turn")
            if entered:
                raise
            await self._store_apology(user, show, cause=exc.cause)
            return "store_unavailable"

    async def user_locale(self, user: UserInfo) -> str:
        """Return the user's locale outside a turn: the profile's choice if it can be read."""
        try:
            profile = await self.store.get_profile(user.id)
        except StoreUnavailable:
            metrics.record_store_error("profile")
            profile = None
        return self.engine.locale_for(profile, user)

    async def _store_apology(
        self, user: UserInfo, show: Show, locale: str | None = None, *, cause: str = "unknown"
    ) -> None:
        """Tell the user the session store cannot be reached (in ``locale`` if known)."""
        log.warning("session store unavailable (%s); answering with an apology", cause)
        # The profile loaded by the turn, when there is one, spares a second call to a store
        # that has just failed (and may take its whole timeout to fail again).
        locale = locale or await self.user_locale(user)
        await show(Reply([Card((Msg("errors.store_unavailable"),), new_message=True)], locale))

    @staticmethod
    async def keep_typing(bot: Bot, chat_id: int, stop: asyncio.Event) -> None:
        """Show "typing…" once the update takes longer than a moment, until stopped."""
        if await pause(stop, TYPING_AFTER_SECONDS):
            return
        while True:
            with contextlib.suppress(TelegramError):
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            if await pause(stop, TYPING_EVERY_SECONDS):
                return

    async def deliver(self, bot: Bot, chat_id: int, reply: Reply) -> int | None:
        """Send or edit the reply's cards; return the id of the last card shown."""
        last_id: int | None = None
        for index, card in enumerate(reply.cards):
            last_id = await self._show(
                bot, chat_id, card, reply.locale, reply.edit_message_id if index == 0 else None
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
        if not isinstance(update, Update):
            self._log_error(context.error)
            return
        chat = update.effective_chat
        with update_context(update.update_id, chat.id if chat is not None else None):
            self._log_error(context.error)
            if chat is None:
                return
            user = user_info(update)
            locale = await self.user_locale(user) if user else self.engine.default_locale
            with contextlib.suppress(TelegramError):
                await context.bot.send_message(
                    chat.id, self.translator.render(Msg("errors.generic"), locale)
                )

    @staticmethod
    def _log_error(error: BaseException | None) -> None:
        """Log an outage as one warning line; anything else is a bug, with its traceback."""
        if expected_failure(error):
            log.warning(
                "could not handle an update: %s (%s)", type(error).__name__, error or "no detail"
            )
        else:
            log.error("error while handling an update", exc_info=error)


def install(application: AnyApplication, bridge: TelegramBridge) -> None:
    """Add the bridge's handlers and error handler to ``application``."""
    for handler in bridge.handlers():
        application.add_handler(handler)
    application.add_error_handler(bridge.on_error)
