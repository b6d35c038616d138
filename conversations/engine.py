"""Own the update cycle: lock the chat, load, dispatch to the current state, deliver, save.

Every update: per-chat lock -> load session + profile (one round trip) -> transition ->
deliver the replies (still under the lock, so two workers never interleave one chat's
messages) -> compare-and-set save + unlock (one round trip). Nothing about a conversation
stays in process memory between updates. Must not import Telegram.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.aio import running
from bot.i18n import Msg, resolve_locale
from bot.sessions.models import Profile, Session
from bot.sessions.store import ChatBusy, ChatStore, StoreUnavailable
from bot.skiplino import APIConnectionError, APIStatusError, SkiplinoClient, SkiplinoError
from conversations import callback
from conversations.context import Ctx
from conversations.events import Command, ContactShared, Event, Tap, TextInput, UserInfo
from conversations.menu import receive_contact, run_command
from conversations.registry import STATELESS_ACTIONS, get_action, get_state
from conversations.replies import Card

log = logging.getLogger(__name__)

MENU = "menu"
# Keeps a seeded step to five base-36 digits in callback data (36**5 > 60 million).
STEP_SEED_MODULUS = 36**5 // 2


def utcnow() -> datetime:
    """Return the current instant in UTC."""
    return datetime.now(UTC)


@dataclass
class Outcome:
    """What to show for one update, in which language, and which message to edit."""

    cards: list[Card] = field(default_factory=list)
    locale: str = "en"
    edit_message_id: int | None = None


Deliver = Callable[[Outcome], Awaitable[int | None]]


class Engine:
    """Run conversations for any number of chats; holds no per-chat state itself."""

    def __init__(
        self,
        *,
        api: SkiplinoClient,
        store: ChatStore,
        timezone: ZoneInfo,
        default_locale: str = "en",
        clock: Callable[[], datetime] = utcnow,
        lock_wait: float = 5.0,
        lock_hold_ms: int = 10_000,
        lock_renew_seconds: float = 3.0,
        cache_seconds: int = 60,
    ) -> None:
        self.api = api
        self.store = store
        self.timezone = timezone
        self.default_locale = default_locale
        self.clock = clock
        self.lock_wait = lock_wait
        # The lock is renewed while an update runs, so a slow Skiplino never lets a second
        # update of the chat in (it would not see the first one's booking yet); a crashed
        # process holds it for at most lock_hold_ms.
        self.lock_hold_ms = lock_hold_ms
        self.lock_renew_seconds = lock_renew_seconds
        self.cache_seconds = cache_seconds

    def fallback_locale(self, user: UserInfo) -> str:
        """Return the locale to use when the profile cannot be read."""
        return resolve_locale(None, user.language_code, self.default_locale)

    async def user_locale(self, user: UserInfo) -> str:
        """Return the user's locale outside an update: the profile's choice if it can be read."""
        try:
            profile = await self.store.get_profile(user.id)
        except StoreUnavailable:
            profile = None
        chosen = profile.locale if profile is not None else None
        return resolve_locale(chosen, user.language_code, self.default_locale)

    async def handle(self, chat_id: int, user: UserInfo, event: Event, deliver: Deliver) -> None:
        """Process one update of ``chat_id`` end to end."""
        edit_id = event.message_id if isinstance(event, Tap) else None
        try:
            token = await self.store.acquire(
                chat_id, wait=self.lock_wait, hold_ms=self.lock_hold_ms
            )
        except ChatBusy:
            await deliver(
                Outcome(
                    # A tap needs no answer: the update holding the lock will redraw the card.
                    cards=[] if isinstance(event, Tap) else [Card((Msg("errors.busy"),))],
                    locale=await self.user_locale(user),
                )
            )
            return
        except StoreUnavailable:
            await self._store_apology(user, deliver)
            return

        try:
            async with running(self._renew_lock(chat_id, token)):
                await self._run(chat_id, token, user, event, deliver, edit_id)
        finally:
            # The lock expires on its own if Redis is gone; never let that mask the update.
            with contextlib.suppress(StoreUnavailable):
                await self.store.release(chat_id, token)

    async def _renew_lock(self, chat_id: int, token: str) -> None:
        """Keep renewing the chat's lock until cancelled or lost."""
        while True:
            await asyncio.sleep(self.lock_renew_seconds)
            try:
                if not await self.store.extend(chat_id, token, self.lock_hold_ms):
                    log.warning("lost the lock of chat %s mid-update", chat_id)
                    return
            except StoreUnavailable:
                log.warning("could not renew the lock of chat %s", chat_id)

    async def _run(
        self,
        chat_id: int,
        token: str,
        user: UserInfo,
        event: Event,
        deliver: Deliver,
        edit_id: int | None,
    ) -> None:
        """Load, transition, save and deliver, under the chat's lock."""
        try:
            loaded = await self.store.load(chat_id, user.id)
        except StoreUnavailable:
            await self._store_apology(user, deliver)
            return
        # A new session's steps start from the clock, not from 0: buttons of an expired
        # session can then never match a step of the new one and act unexpectedly.
        session = loaded.session or Session(
            chat_id=chat_id, step=int(self.clock().timestamp()) % STEP_SEED_MODULUS
        )
        profile = loaded.profile or Profile()
        ctx = Ctx(
            api=self.api,
            store=self.store,
            clock=self.clock,
            timezone=self.timezone,
            locale=resolve_locale(profile.locale, user.language_code, self.default_locale),
            user=user,
            session=session,
            profile=profile,
            cache_seconds=self.cache_seconds,
        )
        await self.dispatch(ctx, event)
        outcome = Outcome(cards=ctx.cards, locale=ctx.locale, edit_message_id=edit_id)
        # Save before sending: a crash after this point leaves the user looking at the
        # previous card, whose buttons are then stale and re-show the saved step. The lock
        # is kept until the replies are out, so one chat's messages never interleave.
        try:
            saved = await self.store.commit(
                chat_id,
                token,
                session,
                profile=(user.id, profile) if ctx.profile_dirty else None,
                release=False,
            )
        except StoreUnavailable:
            # Nothing is shown that was not saved; a booking made in this update is
            # found again by the look-before-book check when the user retries.
            await self._store_apology(user, deliver)
            return
        if not saved:
            # Only possible when our lock expired mid-update and another worker moved
            # the chat on; its state is newer, so ours is neither kept nor shown.
            log.warning("session of chat %s changed under us; update dropped", chat_id)
            return
        await deliver(outcome)

    async def _store_apology(self, user: UserInfo, deliver: Deliver) -> None:
        """Tell the user the session store cannot be reached."""
        log.warning("session store unavailable; answering with an apology")
        await deliver(
            Outcome(
                cards=[Card((Msg("errors.store_unavailable"),), new_message=True)],
                locale=self.fallback_locale(user),
            )
        )

    async def dispatch(self, ctx: Ctx, event: Event) -> None:
        """Run the transition for ``event`` and make sure the current step is shown."""
        try:
            await self._transition(ctx, event)
            if not ctx.rendered:
                await self.render(ctx)
        except (APIConnectionError, APIStatusError) as exc:
            if isinstance(exc, APIStatusError) and exc.status_code < 500 and exc.status_code != 429:
                log.exception("Skiplino refused a request in state %s", ctx.state)
                self._show_error(ctx, "errors.generic")
            else:
                log.warning("Skiplino unavailable in state %s: %s", ctx.state, type(exc).__name__)
                self._show_error(ctx, "errors.unavailable")
        except SkiplinoError:
            log.exception("unexpected Skiplino answer in state %s", ctx.state)
            self._show_error(ctx, "errors.generic")

    def _show_error(self, ctx: Ctx, key: str) -> None:
        """Replace this update's cards with an apology that offers a way on."""
        ctx.cards.clear()
        ctx.show(
            Msg(key),
            buttons=[
                [ctx.button(Msg("common.try_again"), "retry")],
                [ctx.button(Msg("common.back"), "b"), ctx.button(Msg("common.main_menu"), "menu")],
            ],
        )

    async def render(self, ctx: Ctx) -> None:
        """Show the current state's card."""
        await get_state(ctx.state).render(ctx)

    async def _transition(self, ctx: Ctx, event: Event) -> None:
        """Apply ``event`` to the session."""
        session = ctx.session
        if isinstance(event, Tap):
            data = callback.decode(event.data)
            stale = data is None or (
                data.step != session.step and data.action not in STATELESS_ACTIONS
            )
            session.step += 1
            if data is None or stale:
                ctx.toast("errors.stale_button")
                return
            if data.action == "x":
                ctx.reset(MENU)
            elif data.action == "b":
                if not ctx.go_back():
                    ctx.reset(MENU)
            elif data.action == "menu":
                ctx.reset(MENU)
            elif data.action == "retry":
                pass
            elif (action := get_action(data.action)) is not None:
                await action(ctx, data)
            else:
                await get_state(ctx.state).on_tap(ctx, data)
            return

        session.step += 1
        # A typed message gets a fresh card below it rather than an edit far above.
        ctx.cards.clear()
        if isinstance(event, Command):
            await run_command(ctx, event)
        elif isinstance(event, TextInput):
            await get_state(ctx.state).on_text(ctx, event.text)
        elif isinstance(event, ContactShared):
            await receive_contact(ctx, event)
