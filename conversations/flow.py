"""Own what a flow is made of: states, actions and commands, declared as data.

A flow module exports one ``Flow`` value; the composition root hands the flows to the
``Engine``, which checks that no two claim the same state, action or command. A handler
either returns ``Shown`` (it put the cards up itself, from ``Ctx.show``) or None (the
engine shows the resulting state once). Must not import Telegram or any flow module.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Final, final

from bot.i18n import Msg

if TYPE_CHECKING:
    from conversations.callback import CallbackData
    from conversations.context import Ctx
    from conversations.events import ContactShared

log = logging.getLogger(__name__)


@final
class Shown:
    """Proof that a handler already put up the card of the step it ends in."""


SHOWN: Final = Shown()

# A handler's answer: ``SHOWN``, or None for "show the state the session is now in".
Outcome = Shown | None


class EngineAction(StrEnum):
    """Buttons every step may carry; the engine handles them, whatever the flow."""

    BACK = "b"
    CANCEL = "x"
    MENU = "menu"
    RETRY = "retry"


class State:
    """One step of a flow: how it looks and how it reacts."""

    name: str = ""

    async def render(self, ctx: Ctx) -> Shown:
        """Show this step's card."""
        raise NotImplementedError

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> Outcome:
        """React to a button of this step; unknown actions just show the step again."""
        log.info("unknown action %r in state %s", data.action, self.name)
        ctx.notice(Msg("errors.stale_button"))
        return None

    async def on_text(self, ctx: Ctx, text: str) -> Outcome:
        """React to typed text; by default, a hint and the same buttons again."""
        ctx.notice(Msg("errors.use_buttons"))
        return None


ActionHandler = Callable[["Ctx", "CallbackData"], Awaitable[Outcome]]
CommandHandler = Callable[["Ctx", str], Awaitable[Outcome]]
ContactHandler = Callable[["Ctx", "ContactShared"], Awaitable[Outcome]]


@dataclass(frozen=True)
class Action:
    """A button handled the same way whatever the current state.

    ``stateless`` actions are valid on a button of any step, not only the current one: they
    name what they act on and check it themselves.
    """

    handler: ActionHandler
    stateless: bool = False


@dataclass(frozen=True)
class Flow:
    """One flow: its states, its state-independent actions, its slash commands.

    ``on_contact`` takes a shared contact (one flow at most may); ``before_command`` runs
    before every command, whichever flow owns it (to leave a step cleanly).
    """

    name: str
    states: Mapping[str, State]
    actions: Mapping[str, Action] = field(default_factory=dict)
    commands: Mapping[str, CommandHandler] = field(default_factory=dict)
    on_contact: ContactHandler | None = None
    before_command: Callable[[Ctx, str], None] | None = None
