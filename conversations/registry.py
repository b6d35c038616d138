"""Own the table of states: each flow module registers its states here.

Must not import Telegram.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable

from bot.i18n import Msg
from conversations.callback import CallbackData
from conversations.context import Ctx

log = logging.getLogger(__name__)

# Actions valid on a button of any step: they name what they act on and check it themselves.
STATELESS_ACTIONS = frozenset({"menu", "tk", "tkr"})

GlobalAction = Callable[[Ctx, CallbackData], Awaitable[None]]
_ACTIONS: dict[str, GlobalAction] = {}

_FLOW_MODULES = (
    "conversations.menu",
    "conversations.booking",
    "conversations.tickets",
    "conversations.reschedule",
)
_STATES: dict[str, State] = {}


class State:
    """One step of a flow: how it looks and how it reacts."""

    name: str = ""

    async def render(self, ctx: Ctx) -> None:
        """Show this step's card."""
        raise NotImplementedError

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> None:
        """React to a button of this step; unknown actions just show the step again."""
        log.info("unknown action %r in state %s", data.action, self.name)
        ctx.toast("errors.stale_button")

    async def on_text(self, ctx: Ctx, text: str) -> None:
        """React to typed text; by default, a hint and the same buttons again."""
        ctx.prefix.append(Msg("errors.use_buttons"))


def register(state: State) -> State:
    """Add a state to the table."""
    if not state.name or state.name in _STATES:
        raise ValueError(f"state name missing or taken: {state.name!r}")
    _STATES[state.name] = state
    return state


def register_action(name: str, handler: GlobalAction) -> None:
    """Add an action handled the same way whatever the current state."""
    _ACTIONS[name] = handler


def get_action(name: str) -> GlobalAction | None:
    """Return the handler of a state-independent action, if ``name`` is one."""
    _load_flows()
    return _ACTIONS.get(name)


def _load_flows() -> None:
    """Import the flow modules so their states and actions are registered (cheap when done)."""
    for module in _FLOW_MODULES:
        importlib.import_module(module)


def get_state(name: str) -> State:
    """Return the state called ``name``; unknown names (an old deploy's session) give the menu."""
    _load_flows()
    state = _STATES.get(name)
    if state is None:
        log.warning("unknown state %r in a stored session; showing the menu", name)
        return _STATES["menu"]
    return state
