"""Own what a transition can see and change: the session, the profile, the API, the clock.

A transition mutates the session through ``Ctx`` (goto, back) and adds cards; it never sends.
Must not import Telegram.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.i18n import Msg
from bot.sessions.models import Profile, Session
from bot.sessions.store import ChatStore
from bot.skiplino import SkiplinoClient
from conversations import callback
from conversations.events import UserInfo
from conversations.replies import Button, ButtonKind, Card


@dataclass
class Ctx:
    """Everything one update's transition works with."""

    api: SkiplinoClient
    store: ChatStore
    clock: Callable[[], datetime]
    timezone: ZoneInfo
    locale: str
    user: UserInfo
    session: Session
    profile: Profile
    cache_seconds: int = 60
    profile_dirty: bool = False
    cards: list[Card] = field(default_factory=list)
    # Set when the state to show was already rendered (so the engine does not render again).
    rendered: bool = False
    # Lines put above the next card (a hint after bad input, a result of the last action).
    prefix: list[Msg] = field(default_factory=list)
    # Catalogue lists already read in this update (a tap and the render after it share them);
    # gone with the update, so nothing outlives it in process memory.
    memo: dict[str, Any] = field(default_factory=dict)

    # --- reading -------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """Return the current state name."""
        return self.session.state

    @property
    def data(self) -> dict[str, Any]:
        """Return the draft data of the current state (mutable)."""
        return self.session.data

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

    def goto(self, state: str, data: dict[str, Any] | None = None, *, push: bool = True) -> None:
        """Move to ``state`` with ``data``; remember the current state for Back when ``push``."""
        if push:
            self.session.back.append({"state": self.session.state, "data": self.session.data})
            # Bound the stack: a user tapping back and forth for hours must not grow it forever.
            del self.session.back[:-12]
        self.session.state = state
        self.session.data = dict(data or {})

    def go_back(self) -> bool:
        """Return to the previous state; False when there is none."""
        if not self.session.back:
            return False
        entry = self.session.back.pop()
        self.session.state = str(entry.get("state", "menu"))
        self.session.data = dict(entry.get("data") or {})
        return True

    def reset(self, state: str = "menu", data: dict[str, Any] | None = None) -> None:
        """Start over at ``state`` with an empty Back stack."""
        self.session.back.clear()
        self.session.state = state
        self.session.data = dict(data or {})

    def set_profile(self, **changes: Any) -> None:
        """Change profile fields; the engine saves the profile with the session."""
        for key, value in changes.items():
            setattr(self.profile, key, value)
        self.profile_dirty = True

    # --- replying --------------------------------------------------------------------------

    def button(self, label: Msg | str, action: str, *args: str) -> Button:
        """Make an inline button for the step being shown."""
        return Button(label=label, data=callback.encode(self.session.step, action, *args))

    def contact_button(self, label: Msg) -> Button:
        """Make a reply-keyboard button that shares the user's own phone number."""
        return Button(label=label, kind=ButtonKind.CONTACT)

    def show(self, *lines: Msg, buttons: list[list[Button]] | None = None) -> None:
        """Add a card for the current step."""
        rows = tuple(tuple(row) for row in (buttons or []) if row)
        self.cards.append(Card(lines=(*self.prefix, *lines), buttons=rows))
        self.prefix = []
        self.rendered = True

    def toast(self, key: str, **params: object) -> None:
        """Put a short notice above the next card.

        Callback queries are answered at once, before any slow call (docs/architecture.md §3), so a
        notice cannot ride on the answer; it becomes the first line of the card instead.
        """
        self.prefix.append(Msg(key, params))

    def nav_row(self, *, back: bool = True) -> list[Button]:
        """Return the Back / Cancel row every step carries."""
        row = []
        if back:
            row.append(self.button(Msg("common.back"), "b"))
        row.append(self.button(Msg("common.cancel"), "x"))
        return row
