"""Own one update's conversation step: from what is stored and an event, to what to show.

The engine is built with the flows (``Engine(flows=[...])``) and checks that no two of
them claim the same state, action or command; it knows no flow by name besides the home
state. ``Engine.run`` takes the chat's session and the user's profile as loaded (None when
nothing is stored), applies the event to them and returns the cards to show, their locale
and the new session and profile to save. It neither locks, loads, saves nor sends: the
adapter does that around it, inside one ``ChatStore.turn`` (lock -> load -> ``run`` ->
compare-and-set save -> send -> release). Nothing about a conversation stays in process
memory between updates.

A step that is about to send a request that must never be sent twice (a booking) saves the
session first through ``checkpoint`` (the adapter passes the turn's ``save``): the record
"booking sent at T" then lives in the session itself, under the same lock, version and TTL
as everything else about the chat, and goes away with it, so no second store record can
disagree with the session or outlive it. A second copy of a tap that ended with a booking
(``Session.settled_tap``) shows nothing, so the success card stays as it is.
Must not import Telegram or any flow module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from bot.i18n import Msg, resolve_locale
from bot.sessions.models import Profile
from bot.skiplino import (
    APIConnectionError,
    APIStatusError,
    ResponseTooLargeError,
    SkiplinoError,
)
from conversations import callback
from conversations.catalog import Catalogue
from conversations.context import Checkpoint, Ctx
from conversations.events import Command, ContactShared, Event, Tap, TextInput, UserInfo
from conversations.flow import (
    SHOWN,
    Action,
    CommandHandler,
    ContactHandler,
    EngineAction,
    Flow,
    Outcome,
    State,
)
from conversations.ports import Cache, SkiplinoApi
from conversations.replies import Card
from conversations.session import HOME_STATE, NoDraft, Session

log = logging.getLogger(__name__)

# The composition root keeps the concrete client and store (to close them); steps see ports.
ApiT = TypeVar("ApiT", bound=SkiplinoApi, covariant=True)
CacheT = TypeVar("CacheT", bound=Cache, covariant=True)

# Main menu is valid on a button of any step: it acts on nothing an older step drew.
_STATELESS_ENGINE_ACTIONS = frozenset({EngineAction.MENU})
# Keeps a seeded step to five base-36 digits in callback data (36**5 > 60 million).
STEP_SEED_MODULUS = 36**5 // 2
# A refused key fails every update; one log line a minute names it without flooding the log.
KEY_REFUSAL_LOG_SECONDS = 60.0


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
    # The user asked to be forgotten: delete the stored profile after the session is saved.
    forget_profile: bool = False


def _claim(table: dict[str, str], kind: str, name: str, flow: str) -> None:
    """Record that ``flow`` owns ``name``; refuse a name another flow owns already."""
    owner = table.get(name)
    if owner is not None:
        raise ValueError(f"{kind} {str(name)!r} is claimed by both {owner} and {flow}")
    table[name] = flow


@dataclass(frozen=True)
class _Tables:
    """Every flow's states, actions and commands, merged after checking they do not clash."""

    states: dict[str, State]
    actions: dict[str, Action]
    commands: dict[str, CommandHandler]
    on_contact: ContactHandler | None
    before_command: tuple[Callable[[Ctx, str], None], ...]


def _merge(flows: Iterable[Flow]) -> _Tables:
    """Merge the flows' tables; raise ValueError when two flows claim the same name."""
    owners: dict[str, dict[str, str]] = {"state": {}, "action": {}, "command": {}, "contact": {}}
    for own in EngineAction:
        owners["action"][own] = "the engine"
    states: dict[str, State] = {}
    actions: dict[str, Action] = {}
    commands: dict[str, CommandHandler] = {}
    on_contact: ContactHandler | None = None
    before: list[Callable[[Ctx, str], None]] = []
    for flow in flows:
        for name, state in flow.states.items():
            if name != state.name:
                raise ValueError(
                    f"state {str(name)!r} of {flow.name} calls itself {str(state.name)!r}"
                )
            _claim(owners["state"], "state", name, flow.name)
            states[name] = state
        for code, action in flow.actions.items():
            _claim(owners["action"], "action", code, flow.name)
            actions[code] = action
        for command, handler in flow.commands.items():
            _claim(owners["command"], "command", command, flow.name)
            commands[command] = handler
        if flow.on_contact is not None:
            _claim(owners["contact"], "contact handler", "contact", flow.name)
            on_contact = flow.on_contact
        if flow.before_command is not None:
            before.append(flow.before_command)
    if HOME_STATE not in states:
        raise ValueError(f"no flow has the home state {HOME_STATE!r}")
    return _Tables(states, actions, commands, on_contact, tuple(before))


class Engine(Generic[ApiT, CacheT]):
    """Run conversations for any number of chats; holds no per-chat state itself."""

    def __init__(
        self,
        *,
        flows: Iterable[Flow],
        api: ApiT,
        store: CacheT,
        timezone: ZoneInfo,
        default_locale: str = "en",
        clock: Callable[[], datetime] = utcnow,
        cache_seconds: int = 60,
    ) -> None:
        """Check and merge the flows; keep the services a transition may use.

        ``store`` serves the catalogue cache; the engine neither locks nor saves through it.
        """
        self._tables = _merge(flows)
        self.api = api
        self.store = store
        self.timezone = timezone
        self.default_locale = default_locale
        self.clock = clock
        self.cache_seconds = cache_seconds
        # When the refused key was last logged (monotonic): once a minute is enough to see it.
        self._key_refusal_logged_at: float | None = None

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
        *,
        checkpoint: Checkpoint | None = None,
    ) -> Result:
        """Apply ``event`` to the loaded session and profile; return what to show and save.

        ``checkpoint`` saves the session mid-update (the turn's ``save``); without it a step's
        checkpoint saves nothing.
        """
        # A new session's steps start from the clock, not from 0: buttons of an expired
        # session can then never match a step of the new one and act unexpectedly.
        session = session or Session(
            chat_id=chat_id,
            step=int(self.clock().timestamp()) % STEP_SEED_MODULUS,
            draft=NoDraft(),
        )
        profile = profile or Profile()
        ctx = Ctx(
            api=self.api,
            catalogue=Catalogue(self.api, self.store, ttl_seconds=self.cache_seconds),
            clock=self.clock,
            timezone=self.timezone,
            locale=self.locale_for(profile, user),
            user=user,
            session=session,
            profile=profile,
            checkpoint_with=checkpoint,
        )
        await self._dispatch(ctx, event)
        return Result(
            cards=ctx.cards,
            locale=ctx.locale,
            session=ctx.session,
            profile=ctx.profile,
            profile_changed=ctx.profile_dirty,
            forget_profile=ctx.forget_profile,
        )

    def state(self, name: str) -> State:
        """Return the state called ``name``; unknown names (an old deploy's session) give home."""
        state = self._tables.states.get(name)
        if state is None:
            log.warning("unknown state %r in a stored session; showing the menu", name)
            return self._tables.states[HOME_STATE]
        return state

    async def _dispatch(self, ctx: Ctx, event: Event) -> None:
        """Run the transition for ``event``, then show the resulting step unless it is shown."""
        try:
            if await self._transition(ctx, event) is None:
                await self.state(ctx.state).render(ctx)
        except (APIConnectionError, APIStatusError) as exc:
            if isinstance(exc, APIStatusError) and exc.status_code in (401, 403):
                # The key was refused: an operator's mistake, not a bug, so no traceback, and
                # no Try again either: nothing the user does can fix it.
                self._log_key_refusal(exc)
                self._show_error(ctx, "errors.unavailable", retry=False)
            elif (
                isinstance(exc, APIStatusError) and exc.status_code < 500 and exc.status_code != 429
            ):
                log.exception("Skiplino refused a request in state %s", ctx.state)
                self._show_error(ctx, "errors.generic")
            else:
                log.warning("Skiplino unavailable in state %s: %s", ctx.state, type(exc).__name__)
                self._show_error(ctx, "errors.unavailable")
        except ResponseTooLargeError:
            # The client logged the operation and size; to the user the service is unusable.
            self._show_error(ctx, "errors.unavailable")
        except SkiplinoError:
            log.exception("unexpected Skiplino answer in state %s", ctx.state)
            self._show_error(ctx, "errors.generic")

    def _log_key_refusal(self, exc: APIStatusError) -> None:
        """Warn that Skiplino refused the key, naming it masked, at most once a minute."""
        now = time.monotonic()
        last = self._key_refusal_logged_at
        if last is not None and now - last < KEY_REFUSAL_LOG_SECONDS:
            return
        self._key_refusal_logged_at = now
        log.warning(
            "Skiplino refused SKIPLINO_API_KEY %s (%s); fix the key, users see the service "
            "as unavailable",
            exc.key_hint or "(unknown)",
            exc.status_code,
        )

    def _show_error(self, ctx: Ctx, key: str, *, retry: bool = True) -> None:
        """Replace this update's cards with an apology that offers a way on."""
        ctx.cards.clear()
        buttons = [
            [
                ctx.button(Msg("common.back"), EngineAction.BACK),
                ctx.button(Msg("common.main_menu"), EngineAction.MENU),
            ]
        ]
        if retry:
            buttons.insert(0, [ctx.button(Msg("common.try_again"), EngineAction.RETRY)])
        ctx.show(Msg(key), buttons=buttons)

    async def _transition(self, ctx: Ctx, event: Event) -> Outcome:
        """Apply ``event`` to the session."""
        session = ctx.session
        settled, session.settled_tap = session.settled_tap, None
        if isinstance(event, Tap) and _repeats(event.data, settled):
            # A copy of the tap that booked (a double tap, a retried delivery): the card it
            # produced is the answer, so nothing changes and nothing is shown.
            session.settled_tap = settled
            return SHOWN
        if isinstance(event, Tap):
            return await self._tap(ctx, event)
        session.step += 1
        # A typed message gets a fresh card below it rather than an edit far above.
        ctx.cards.clear()
        if isinstance(event, Command):
            return await self._command(ctx, event)
        if isinstance(event, TextInput):
            return await self.state(ctx.state).on_text(ctx, event.text)
        if isinstance(event, ContactShared) and self._tables.on_contact is not None:
            return await self._tables.on_contact(ctx, event)
        return None

    async def _tap(self, ctx: Ctx, event: Tap) -> Outcome:
        """Apply a button: the engine's own, a flow's state-independent one, or the step's."""
        data = callback.decode(event.data)
        ctx.tap_data = event.data
        action = self._tables.actions.get(data.action) if data is not None else None
        stateless = data is not None and (
            data.action in _STATELESS_ENGINE_ACTIONS or (action is not None and action.stateless)
        )
        stale = data is None or (data.step != ctx.session.step and not stateless)
        ctx.session.step += 1
        if data is None or stale:
            ctx.notice(Msg("errors.stale_button"))
            return None
        if data.action in (EngineAction.CANCEL, EngineAction.MENU):
            ctx.reset()
        elif data.action == EngineAction.BACK:
            if not ctx.go_back():
                ctx.reset()
        elif data.action == EngineAction.RETRY:
            pass
        elif action is not None:
            return await action.handler(ctx, data)
        else:
            return await self.state(ctx.state).on_tap(ctx, data)
        return None

    async def _command(self, ctx: Ctx, command: Command) -> Outcome:
        """Run a slash command; every command works from any state."""
        name, arg = command.name.lower(), command.arg.strip()
        for before in self._tables.before_command:
            before(ctx, name)
        handler = self._tables.commands.get(name)
        if handler is None:
            ctx.notice(Msg("errors.unknown_command"))
            return None
        return await handler(ctx, arg)


def _repeats(data: str, settled: str | None) -> bool:
    """Tell whether a tap is a copy of the settled tap: its action, from that step or older."""
    if settled is None:
        return False
    tap, done = callback.decode(data), callback.decode(settled)
    if tap is None or done is None:
        return False
    return tap.action == done.action and tap.step <= done.step


# An engine whatever concrete client and store it was built with (the adapter's view).
AnyEngine = Engine[SkiplinoApi, Cache]
