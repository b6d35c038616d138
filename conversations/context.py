"""Own what a transition can see and change: the session, the profile, the services it uses.

A step gets the Skiplino port, the catalogue, the clock, the company zone, the locale and
the user; it changes the session through ``Ctx`` (goto, back, reset) and adds cards; it
never sends. Must not import Telegram or any flow module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from bot.i18n import Msg
from bot.sessions.models import Profile
from conversations import callback
from conversations.catalog import Catalogue
from conversations.events import UserInfo
from conversations.flow import SHOWN, EngineAction, Shown
from conversations.ports import SkiplinoApi
from conversations.replies import Button, ButtonKind, Card
from conversations.session import BACK_LIMIT, HOME_STATE, Draft, Frame, NoDraft, Session

D = TypeVar("D", bound=BaseModel)

# Saves the session (and the profile, when given) now, in the middle of the update; False
# when the stored session moved on (the chat's lock was lost), and then nothing was written.
Checkpoint = Callable[[Session, Profile | None], Awaitable[bool]]


@dataclass
class Ctx:
    """Everything one update's transition works with."""

    api: SkiplinoApi
    catalogue: Catalogue
    clock: Callable[[], datetime]
    timezone: ZoneInfo
    locale: str
    user: UserInfo
    session: Session
    profile: Profile
    profile_dirty: bool = False
    # Set by /forget: the adapter deletes the stored profile once the session is saved.
    forget_profile: bool = False
    cards: list[Card] = field(default_factory=list)
    # None where the update cannot save early (then a checkpoint is a no-op that succeeds).
    checkpoint_with: Checkpoint | None = None
    # The raw callback data of the tap being handled, if the event is a tap.
    tap_data: str | None = None
    # Lines for the top of the next card (a hint after bad input, the result of the last
    # action). Callback queries are answered at once, before any slow call, so a notice
    # cannot ride on that answer.
    _notices: list[Msg] = field(default_factory=list, init=False)

    # --- reading -------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """Return the current state name."""
        return self.session.state

    @property
    def draft(self) -> Draft:
        """Return the current step's draft."""
        return self.session.draft

    def draft_as(self, kind: type[D]) -> D | None:
        """Return the current draft if it is of ``kind``, else None."""
        draft = self.session.draft
        return draft if isinstance(draft, kind) else None

    def now(self) -> datetime:
        """Return the current instant (aware, UTC)."""
        return self.clock()

    def today(self) -> date:
        """Return today's date in the company time zone."""
        return self.clock().astimezone(self.timezone).date()

    @property
    def external_id(self) -> str:
        """Return the Skiplino externalId of this Telegram user."""
        return f"tg-{self.user.id}"

    # --- changing --------------------------------------------------------------------------

    def goto(self, state: str, draft: Draft | None = None, *, push: bool = True) -> None:
        """Move to ``state`` with ``draft``; remember the current step for Back when ``push``."""
        if push:
            self.session.back.append(Frame(state=self.session.state, draft=self.session.draft))
            del self.session.back[:-BACK_LIMIT]
        self.session.state = state
        self.session.draft = draft if draft is not None else NoDraft()

    def go_back(self) -> bool:
        """Return to the previous step; False when there is none."""
        if not self.session.back:
            return False
        frame = self.session.back.pop()
        self.session.state = frame.state
        self.session.draft = frame.draft
        return True

    def reset(self, state: str = HOME_STATE, draft: Draft | None = None) -> None:
        """Start over at ``state`` with an empty Back stack."""
        self.session.back.clear()
        self.session.state = state
        self.session.draft = draft if draft is not None else NoDraft()

    async def checkpoint(self) -> bool:
        """Save the session as it is now, before a request that must not be repeated."""
        if self.checkpoint_with is None:
            return True
        return await self.checkpoint_with(
            self.session, self.profile if self.profile_dirty else None
        )

    def settle_tap(self) -> None:
        """Make a second copy of the current tap leave the card it produced as it is."""
        self.session.settled_tap = self.tap_data

    def set_profile(self, **changes: Any) -> None:
        """Change profile fields; the engine saves the profile with the session."""
        for key, value in changes.items():
            setattr(self.profile, key, value)
        self.profile_dirty = True

    def forget_user(self) -> None:
        """Drop everything kept about this user: the profile, and the conversation so far."""
        self.profile = Profile()
        self.profile_dirty = False
        self.forget_profile = True
        self.reset()

    # --- replying --------------------------------------------------------------------------

    def button(self, label: Msg | str, action: str, *args: str) -> Button:
        """Make an inline button for the step being shown."""
        return Button(label=label, data=callback.encode(self.session.step, action, *args))

    def contact_button(self, label: Msg) -> Button:
        """Make a reply-keyboard button that shares the user's own phone number."""
        return Button(label=label, kind=ButtonKind.CONTACT)

    def notice(self, message: Msg, *, first: bool = False) -> None:
        """Put a line above the next card (above the other notices when ``first``)."""
        if first:
            self._notices.insert(0, message)
        else:
            self._notices.append(message)

    def show(self, *lines: Msg, buttons: list[list[Button]] | None = None) -> Shown:
        """Add a card for the current step, under the notices gathered so far."""
        rows = tuple(tuple(row) for row in (buttons or []) if row)
        self.cards.append(Card(lines=(*self._notices, *lines), buttons=rows))
        self._notices = []
        return SHOWN

    def nav_row(self, *, back: bool = True) -> list[Button]:
        """Return the Back / Cancel row every step carries."""
        row = []
        if back:
            row.append(self.button(Msg("common.back"), EngineAction.BACK))
        row.append(self.button(Msg("common.cancel"), EngineAction.CANCEL))
        return row
