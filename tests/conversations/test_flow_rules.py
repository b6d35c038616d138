"""Conversation rules: Back, stale and forged buttons, typed text, commands, a dead Redis.

Most tests talk to ``TelegramBridge.handle`` directly with a show function that records the
replies (no Telegram: cheaper, and every transition is visible); a few go through the
real Application to see what a Telegram user sees.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlparse

import pytest
import redis.asyncio as aioredis

from bot.app import BotEngine, build_engine
from bot.i18n import Msg, Translator
from bot.sessions.redis_store import RedisChatStore
from bot.telegram.handlers import Reply, TelegramBridge
from conversations import callback
from conversations.events import Command, Event, Tap, TextInput, UserInfo
from conversations.replies import Button, ButtonKind, Card
from conversations.session import BookingDraft, Session
from sandbox import Sandbox
from tests.conftest import REDIS_URL
from tests.conversations.booking_steps import (
    STALE_LINE,
    NetworkTransport,
    day_label,
    network_client,
    session_of,
    tickets_of,
    to_date_step,
    to_slot_step,
    user,
)
from tests.fakes.harness import Harness, settings, skiplino_client

TODAY = date(2026, 12, 1)
TOMORROW = TODAY + timedelta(days=1)
TRANSLATOR = Translator()


@dataclass
class FlowChat:
    """A chat driven straight through ``TelegramBridge.handle``; every outcome is kept."""

    engine: BotEngine
    user: UserInfo
    sandbox: Sandbox
    outcomes: list[Reply] = field(default_factory=list)
    next_message_id: int = 100

    async def deliver(self, outcome: Reply) -> None:
        """Record an outcome and play Telegram: the edited card keeps its id, a new one gets one."""
        self.outcomes.append(outcome)
        if not outcome.cards:
            return
        last = outcome.cards[-1]
        if outcome.edit_message_id is not None and len(outcome.cards) == 1 and not last.new_message:
            return
        self.next_message_id += 1

    async def event(self, event: Event) -> Reply:
        """Handle one event and return its outcome."""
        bridge = TelegramBridge(self.engine, self.engine.store, TRANSLATOR)
        await bridge.handle(self.user.id, self.user, event, self.deliver)
        return self.outcomes[-1]

    async def send(self, text: str) -> Reply:
        """Type ``text`` (a leading slash makes it a command)."""
        if text.startswith("/"):
            name, _, arg = text[1:].partition(" ")
            return await self.event(Command(name, arg))
        return await self.event(TextInput(text))

    async def tap_data(self, data: str) -> Reply:
        """Tap a button with raw callback data on the current card."""
        return await self.event(Tap(data, message_id=self.next_message_id))

    async def tap(self, label: str) -> Reply:
        """Tap the current card's button whose English label contains ``label``."""
        return await self.tap_data(self.button(label).data)

    @property
    def card(self) -> Card:
        """Return the card shown last."""
        cards = [card for outcome in self.outcomes for card in outcome.cards]
        return cards[-1]

    @property
    def text(self) -> str:
        """Return the last card's text in English."""
        return "\n".join(TRANSLATOR.render(line, "en") for line in self.card.lines)

    def keys(self) -> list[str]:
        """Return the catalog keys of the last card's lines."""
        return [line.key for line in self.card.lines]

    def buttons(self) -> list[Button]:
        """Return the last card's buttons."""
        return [button for row in self.card.buttons for button in row]

    def labels(self) -> list[str]:
        """Return the last card's button labels in English."""
        return [TRANSLATOR.render(button.label, "en") for button in self.buttons()]

    def button(self, label: str) -> Button:
        """Return the one button whose English label contains ``label``."""
        found = [b for b in self.buttons() if label in TRANSLATOR.render(b.label, "en")]
        assert len(found) == 1, f"{label!r} matches {len(found)} of {self.labels()}"
        return found[0]


@pytest.fixture
async def flow(redis_client: aioredis.Redis, redis_prefix: str) -> AsyncIterator[FlowChat]:
    """Return a chat wired to an engine on real Redis and the in-process sandbox."""
    harness = Harness(redis=redis_client, prefix=redis_prefix)
    engine = build_engine(
        settings(), store=harness.store(), api=skiplino_client(harness.sandbox), clock=harness.clock
    )
    yield FlowChat(
        engine, UserInfo(id=3001, first_name="Sara", language_code="en"), harness.sandbox
    )
    await engine.api.aclose()


async def stored(chat: FlowChat) -> Session:
    """Return the chat's session as Redis holds it."""
    loaded = await chat.engine.store.load(chat.user.id, chat.user.id)
    assert loaded.session is not None
    return loaded.session


async def walk_to_slot_step(chat: FlowChat) -> None:
    """Walk the engine chat to tomorrow's slot list."""
    await chat.send("/book")
    for label in ("Seef Mall", "Customer Service", "Account Opening", "Book a time"):
        await chat.tap(label)
    await chat.tap(day_label(TOMORROW))


# --- each transition, directly through the engine ---------------------------------------------

APPOINTMENT_STEPS = [
    # (button to tap, state reached, key of the card's first line)
    ("Seef Mall", "book.group", "booking.choose_group"),
    ("Customer Service", "book.service", "booking.choose_service"),
    ("Account Opening", "book.mode", "booking.service_title"),
    ("Book a time", "book.date", "booking.choose_date"),
    (day_label(TOMORROW), "book.slot", "booking.choose_slot"),
    ("10:30", "book.confirm", "booking.confirm_title"),
]


async def test_each_step_leads_to_the_next_and_back_returns_exactly(flow: FlowChat) -> None:
    await flow.send("/book")
    assert (await stored(flow)).state == "book.branch"
    assert flow.keys() == ["booking.choose_branch"]
    for label, state, first_key in APPOINTMENT_STEPS:
        before_text, before = flow.text, await stored(flow)
        await flow.tap(label)
        now = await stored(flow)
        assert (now.state, flow.keys()[0]) == (state, first_key), label
        await flow.tap("Back")
        back = await stored(flow)
        assert (back.state, back.draft, back.back) == (before.state, before.draft, before.back)
        assert flow.text == before_text, f"Back after {label!r}"
        await flow.tap(label)
    assert "Time: 2 December 2026, 10:30" in flow.text


async def test_back_from_the_first_step_goes_to_the_menu(flow: FlowChat) -> None:
    await flow.send("/book")
    await flow.tap("Back")
    assert (await stored(flow)).state == "menu"
    assert flow.keys() == ["menu.title"]


async def test_typed_text_where_buttons_are_expected_gives_a_hint(flow: FlowChat) -> None:
    await flow.send("/book")
    buttons = flow.card.buttons
    before = await stored(flow)

    outcome = await flow.send("Seef Mall please")

    assert flow.keys() == ["errors.use_buttons", "booking.choose_branch"]
    assert outcome.cards[-1].buttons != ()
    assert len(flow.card.buttons) == len(buttons)
    after = await stored(flow)
    assert (after.state, after.draft) == (before.state, before.draft)


async def test_bad_text_in_the_date_step_keeps_the_step(flow: FlowChat) -> None:
    await flow.send("/book")
    for label in ("Seef Mall", "Customer Service", "Account Opening", "Book a time"):
        await flow.tap(label)
    for text, key in (
        ("blah", "booking.date_not_understood"),
        ("yesterday", "booking.date_past"),
        ("1/11/2027", "booking.date_too_far"),
    ):
        await flow.send(text)
        assert flow.keys()[:2] == [key, "booking.choose_date"], text
        assert (await stored(flow)).state == "book.date"


async def test_a_stale_button_reshows_the_current_step_without_acting(flow: FlowChat) -> None:
    await flow.send("/book")
    old_branch_button = flow.button("Seef Mall").data
    await flow.tap("Manama Central")
    before = await stored(flow)

    await flow.tap_data(old_branch_button)

    after = await stored(flow)
    assert (after.state, after.draft, after.back) == (before.state, before.draft, before.back)
    assert flow.keys()[0] == "errors.stale_button"
    assert "Choose a service:" in flow.text
    assert "Manama Central Branch" in flow.text


FORGERIES = [
    "",
    "garbage",
    "1|zz!|sl|202612020730",
    "9|{step}|b",
    "1|{step}|ok",
    "1|{step}|sl",
    "1|{step}|sl|209912312330",
    "1|{step}|sl|202612020745",  # not a slot start
    "1|{step}|sl|202612011200|x",
    "1|{step}|dt|20991231",
    "1|{step}|dt|20261301",
    "1|{step}|br|AAAAAAAAAA",
    "1|{step}|" + "x" * 70,
]


@pytest.mark.parametrize("forged", FORGERIES)
async def test_forged_callback_data_on_the_slot_step_never_acts(
    flow: FlowChat, forged: str
) -> None:
    await walk_to_slot_step(flow)
    before = await stored(flow)
    slots = flow.text
    requests = len(flow.sandbox.requests)

    await flow.tap_data(forged.format(step=callback._to_base36(before.step)))

    after = await stored(flow)
    assert (after.state, after.draft, after.back) == (before.state, before.draft, before.back)
    assert flow.text.endswith(slots)
    assert flow.keys()[0] in ("errors.stale_button", "booking.slot_taken")
    # A forged button costs at most the one slot list it re-shows.
    assert len(flow.sandbox.requests) - requests <= 2
    assert tickets_of(flow.sandbox, flow.user.id) == []


@pytest.mark.parametrize(
    ("command", "state", "first_key"),
    [
        ("/start", "menu", "menu.welcome"),
        ("/book", "book.branch", "booking.choose_branch"),
        ("/tickets", "tickets.list", None),
        ("/language", "language", "language.choose"),
        ("/help", "help", "help.text"),
    ],
)
async def test_every_command_works_from_the_slot_step(
    flow: FlowChat, command: str, state: str, first_key: str | None
) -> None:
    await walk_to_slot_step(flow)

    outcome = await flow.send(command)

    assert (await stored(flow)).state == state
    assert outcome.cards
    assert outcome.cards[-1].buttons
    if first_key is not None:
        assert flow.keys()[0] == first_key
    assert all(b.kind != ButtonKind.CALLBACK or len(b.data) <= 64 for b in flow.buttons())


async def test_back_after_help_or_language_returns_to_the_slot_step(flow: FlowChat) -> None:
    await walk_to_slot_step(flow)
    slots = flow.text
    await flow.send("/help")
    await flow.tap("Back")
    assert flow.text == slots
    await flow.send("/language")
    await flow.tap("Back")
    assert flow.text == slots
    assert (await stored(flow)).state == "book.slot"


# --- through Telegram --------------------------------------------------------------------------


async def test_a_button_of_an_earlier_card_reshows_the_current_step(harness: Harness) -> None:
    chat = user(harness)
    dates = await to_date_step(chat)
    # Typed text gets a fresh card; the old one keeps its (now stale) buttons.
    await chat.send("blah")
    current = chat.last
    assert current.message_id != dates.message_id
    slots = await chat.tap(day_label(TOMORROW))
    stale_date = dates.button(day_label(TODAY)).callback_data
    assert stale_date is not None

    await chat.tap_data(stale_date, message_id=dates.message_id)

    # The tapped (old) card is turned into the current step.
    [shown] = [m for m in chat.user.messages() if m.message_id == dates.message_id]
    assert shown.text.startswith(STALE_LINE)
    assert shown.text.endswith(slots.text)
    draft = (await session_of(harness, chat)).draft
    assert isinstance(draft, BookingDraft)
    assert draft.day == TOMORROW
    assert tickets_of(harness.sandbox, chat.user.id) == []


async def test_a_stale_confirm_after_booking_books_nothing_more(harness: Harness) -> None:
    chat = user(harness)
    await to_slot_step(chat, TOMORROW)
    confirm = await chat.tap("10:30")
    confirm_data = confirm.button("Confirm").callback_data
    assert confirm_data is not None
    booked = await chat.tap("Confirm")
    assert len(tickets_of(harness.sandbox, chat.user.id)) == 1

    # The copy of the tap that booked leaves the success card as it is (no edit at all).
    await chat.user.click_data(confirm_data)
    await chat.user.wait_for_reply()
    await harness.telegram.idle(quiet=0.2)

    assert chat.last.text == booked.text
    assert "🎫 Ticket" in chat.last.text
    assert len(tickets_of(harness.sandbox, chat.user.id)) == 1


async def test_garbage_callback_data_reshows_the_step(harness: Harness) -> None:
    chat = user(harness)
    slots = await to_slot_step(chat, TOMORROW)

    for forged in ("hello", "1|0|x", "1|zz|ok"):
        shown = await chat.tap_data(forged)
        assert shown.text == f"{STALE_LINE}\n{slots.text}"
    assert (await session_of(harness, chat)).state == "book.slot"
    assert chat.user.unanswered_callbacks() == []


async def test_callback_data_of_every_button_fits_telegrams_limit(harness: Harness) -> None:
    chat = user(harness)
    await to_slot_step(chat, TOMORROW)
    await chat.tap("10:30")
    await chat.tap("Confirm")
    await chat.send("/tickets")

    sent = [
        *harness.telegram.calls_of("sendMessage"),
        *harness.telegram.calls_of("editMessageText"),
    ]
    assert sent
    assert [c.description for c in sent if not c.ok] == []
    datas = [
        button.get("callback_data", "")
        for call in sent
        for row in (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
        for button in row
    ]
    assert len(datas) > 40
    assert all(1 <= len(data.encode()) <= 64 for data in datas)
    # The widest payload the codec can make still fits: a far step and a slot argument.
    assert len(callback.encode(36**9, "sl", "202612312330")) <= 64


# --- a dead Redis ------------------------------------------------------------------------------


async def test_a_dead_redis_gets_the_localized_apology_and_no_crash(redis_prefix: str) -> None:
    harness = Harness(redis=aioredis.Redis(), prefix=redis_prefix)
    store = RedisChatStore.from_url(
        "redis://127.0.0.1:1/0", prefix=redis_prefix, session_model=Session
    )
    engine = build_engine(
        settings(), store=store, api=skiplino_client(harness.sandbox), clock=harness.clock
    )
    try:
        for language, event in (
            ("en", Command("start")),
            ("ar", TextInput("hello")),
            ("ar", Tap("1|3|ok", message_id=5)),
        ):
            chat = FlowChat(
                engine,
                UserInfo(id=3100, first_name="Ali", language_code=language),
                harness.sandbox,
            )
            outcome = await chat.event(event)
            assert outcome.locale == language
            [card] = outcome.cards
            assert card.lines == (Msg("errors.store_unavailable"),)
            assert TRANSLATOR.render(card.lines[0], language) == TRANSLATOR.text(
                "errors.store_unavailable", language
            )
        assert harness.sandbox.requests == []
    finally:
        await engine.api.aclose()
        await store.close()
        await harness.redis.aclose()


@dataclass
class RedisLine:
    """A TCP relay in front of the real Redis that a test can cut, as when Redis goes down."""

    server: asyncio.Server | None = None
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def open(self) -> str:
        """Start relaying; return the Redis URL to connect through."""
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Pipe one client connection to Redis and back."""
        target = urlparse(REDIS_URL)
        up_reader, up_writer = await asyncio.open_connection(target.hostname, target.port or 6379)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_redis_lost_in_the_middle_of_an_update_costs_no_crash(redis_prefix: str) -> None:
    harness = Harness(redis=aioredis.Redis(), prefix=redis_prefix)
    line = RedisLine()
    store = RedisChatStore.from_url(await line.open(), prefix=redis_prefix, session_model=Session)
    transport = NetworkTransport(harness.sandbox)
    engine = build_engine(
        settings(), store=store, api=network_client(transport), clock=harness.clock
    )
    chat = FlowChat(
        engine, UserInfo(id=3200, first_name="Huda", language_code="en"), harness.sandbox
    )
    try:
        await chat.send("/start")
        # Redis goes away while the transition waits for the branch list.
        transport.then("GET", "/branches", line.cut)

        outcome = await chat.tap("Book a ticket")

        # The branch list was not saved, so it is not shown: the user gets the apology.
        assert [card.lines for card in outcome.cards] == [(Msg("errors.store_unavailable"),)]
        again = await chat.send("/start")
        assert [card.lines for card in again.cards] == [(Msg("errors.store_unavailable"),)]
    finally:
        await engine.api.aclose()
        await store.close()
        await harness.redis.aclose()
