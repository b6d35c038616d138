"""Own one update's conversation step: from what is stored and an event, to what to show.

``Engine.run`` takes the chat's session and the user's profile as loaded (None when
nothing is stored), applies the event to them and returns the cards to show, their
locale and the new session and profile to save. It neither locks, loads, saves nor
sends: the adapter does that around it, inside one ``ChatStore.turn`` (lock -> load ->
``run`` -> compare-and-set save -> send -> release). Nothing about a conversation stays
in process memory between updates. Must not import Telegram.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.i18n import Msg, resolve_locale
from bot.sessions.models import Profile, Session
from bot.sessions.store import ChatStore
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
class Result:
    """What one update shows, in which language, and what to save afterwards."""

    cards: list[Card]
    locale: str
    session: Session  # the new session to save
    profile: Profile  # the (possibly changed) profile
    profile_changed: bool


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
        cache_seconds: int = 60,
    ) -> None:
        """Keep the services a transition may use; ``store`` serves the catalogue cache."""
        self.api = api
        self.store = store
        self.timezone = timezone
        self.default_locale = default_locale
        self.clock = clock
        self.cache_seconds = cache_seconds

    def locale_for(self, profile: Profile | None, user: UserInfo) -> str:
        """Return the locale to answer in: the profile's choice, else Telegram's language."""
        chosen = profile.locale if profile is not None else None
        return resolve_locale(chosen, user.language_code, self.default_locale)

    async def run(
        self,
        chat_id: int,
        user: UserInfo,
        session: Session | None,
        profile: Profile | None,
        event: Event,
    ) -> Result:
        """Apply ``event`` to the loaded session and profile; return what to show and save."""
        # A new session's steps start from the clock, not from 0: buttons of an expired
        # session can then never match a step of the new one and act unexpectedly.
        session = session or Session(
            chat_id=chat_id, step=int(self.clock().timestamp()) % STEP_SEED_MODULUS
        )
        profile = profile or Profile()
        ctx = Ctx(
            api=self.api,
            store=self.store,
            clock=self.clock,
            timezone=self.timezone,
            locale=self.locale_for(profile, user),
            user=user,
            session=session,
            profile=profile,
            cache_seconds=self.cache_seconds,
        )
        await self.dispatch(ctx, event)
        return Result(
            cards=ctx.cards,
            locale=ctx.locale,
            session=ctx.session,
            profile=ctx.profile,
            profile_changed=ctx.profile_dirty,
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
