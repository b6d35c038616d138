"""The engine is built from flow values and refuses two flows that claim the same name.

Also: the typed session document reads back as saved, and an older shape starts over.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from bot.app import FLOWS
from bot.sessions.store import parse_session
from bot.skiplino import SkiplinoClient
from bot.testing.memory_store import MemoryChatStore
from conversations.callback import CallbackData
from conversations.context import Ctx
from conversations.engine import Engine
from conversations.flow import SHOWN, Action, Flow, Outcome, Shown, State
from conversations.flows.booking import BOOKING
from conversations.flows.menu import MENU
from conversations.session import BookingDraft, Frame, Session


class Plain(State):
    """A state that shows nothing in particular."""

    def __init__(self, name: str) -> None:
        """Name the state."""
        self.name = name

    async def render(self, ctx: Ctx) -> Shown:
        """Show nothing."""
        return SHOWN


async def nothing(ctx: Ctx, data: CallbackData) -> Outcome:
    """Do nothing."""
    return None


async def no_command(ctx: Ctx, arg: str) -> Outcome:
    """Do nothing."""
    return None


def extra_flow(
    *,
    states: tuple[str, ...] = ("extra.one",),
    actions: tuple[str, ...] = (),
    commands: tuple[str, ...] = (),
) -> Flow:
    """Return a small flow claiming the given names."""
    state_table: Mapping[str, State] = {name: Plain(name) for name in states}
    return Flow(
        name="extra",
        states=state_table,
        actions={code: Action(nothing) for code in actions},
        commands={command: no_command for command in commands},
    )


def build(*flows: Flow) -> Engine[SkiplinoClient, MemoryChatStore[Session]]:
    """Build an engine of the product's flows plus ``flows`` (no request is ever made)."""
    return Engine(
        flows=[*FLOWS, *flows],
        api=SkiplinoClient(base_url="http://api.invalid/external/v1", api_key="sk_x"),
        store=MemoryChatStore(session_model=Session),
        timezone=ZoneInfo("Asia/Bahrain"),
    )


def test_the_product_flows_fit_together() -> None:
    engine = build(extra_flow())
    assert engine.state("extra.one").name == "extra.one"
    assert engine.state("book.slot").name == "book.slot"


@pytest.mark.parametrize(
    ("flow", "message"),
    [
        pytest.param(extra_flow(states=("book.slot",)), "state 'book.slot'", id="state"),
        pytest.param(extra_flow(actions=("tkr",)), "action 'tkr'", id="action"),
        pytest.param(extra_flow(actions=("b",)), "action 'b'", id="engine-action"),
        pytest.param(extra_flow(commands=("book",)), "command 'book'", id="command"),
    ],
)
def test_two_flows_claiming_one_name_are_refused(flow: Flow, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(flow)


def test_a_flow_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="state 'menu'"):
        build(MENU)


def test_a_state_filed_under_another_name_is_refused() -> None:
    flow = Flow(name="extra", states={"extra.one": Plain("extra.two")})
    with pytest.raises(ValueError, match="calls itself"):
        build(flow)


def test_without_the_home_state_nothing_runs() -> None:
    with pytest.raises(ValueError, match="home state"):
        Engine(
            flows=[BOOKING],
            api=SkiplinoClient(base_url="http://api.invalid/external/v1", api_key="sk_x"),
            store=MemoryChatStore(session_model=Session),
            timezone=ZoneInfo("Asia/Bahrain"),
        )


def test_an_unknown_stored_state_shows_the_home_state() -> None:
    assert build().state("book.gone-in-an-old-deploy").name == "menu"


def test_a_session_stored_before_drafts_were_typed_starts_over() -> None:
    old = (
        '{"chat_id": 7, "flow": "menu", "state": "book.slot", "back": [],'
        ' "data": {"branch_id": "b1", "service_id": "s1", "day": "2026-12-02"},'
        ' "card_message_id": null, "step": 4, "version": 3}'
    )
    assert parse_session(old, 7, Session) is None


def test_a_typed_session_reads_back_as_it_was_saved() -> None:
    draft = BookingDraft(branch_id="b1", service_id="s1", day=date(2026, 12, 2))
    session = Session(
        chat_id=7,
        state="book.slot",
        draft=draft,
        back=[Frame(state="book.date", draft=BookingDraft(branch_id="b1", service_id="s1"))],
        step=4,
    )
    again = parse_session(session.model_dump_json(), 7, Session)
    assert again == session
    assert isinstance(again.draft, BookingDraft)
