"""Edges of the update cycle: a busy chat, and a session that expired."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
import redis.asyncio as aioredis

from bot.app import FLOWS
from bot.i18n import default_translator
from bot.sessions.models import Profile
from bot.sessions.redis_store import RedisChatStore
from bot.skiplino import SkiplinoClient
from bot.telegram.handlers import LockTimes, Reply, TelegramBridge
from bot.testing.memory_store import MemoryChatStore
from conversations.engine import Engine
from conversations.events import Command, Tap, TextInput, UserInfo
from conversations.session import Session
from tests.fakes.harness import START


def _no_api(request: httpx.Request) -> httpx.Response:
    """Fail the test if the engine calls Skiplino while the chat is busy."""
    raise AssertionError(f"unexpected Skiplino call {request.method} {request.url}")


async def test_busy_chat_says_so_in_the_profiles_language_and_changes_nothing(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    store = RedisChatStore(redis_client, prefix=redis_prefix, session_model=Session)
    api = SkiplinoClient(
        base_url="http://api/external/v1", api_key="sk_x", transport=httpx.MockTransport(_no_api)
    )
    engine = Engine(
        flows=FLOWS,
        api=api,
        store=store,
        timezone=ZoneInfo("Asia/Bahrain"),
        clock=lambda: START,
    )
    bridge = TelegramBridge(engine, store, default_translator(), lock=LockTimes(wait=0.05))
    user = UserInfo(id=42, first_name="Layla", language_code="en")
    await store.put_profile(42, Profile(locale="ar"))
    token = await store.acquire(42)  # another update of this chat is running
    seen: list[Reply] = []

    async def deliver(outcome: Reply) -> None:
        seen.append(outcome)

    await bridge.handle(42, user, TextInput("hello"), deliver)
    await bridge.handle(42, user, Tap("1|0|book", message_id=5), deliver)

    [typed] = seen
    assert [line.key for card in typed.cards for line in card.lines] == ["errors.busy"]
    assert typed.locale == "ar"
    text = default_translator().render(typed.cards[0].lines[0], typed.locale)
    assert text != default_translator().render(typed.cards[0].lines[0], "en")
    # A tap gets no new card: the update holding the lock redraws the card itself.
    assert len(seen) == 1
    assert (await store.load(42, 42)).session is None
    await store.release(42, token)
    await api.aclose()


async def test_a_button_of_an_expired_session_does_not_act_in_the_next_one() -> None:
    store = MemoryChatStore(session_model=Session)
    api = SkiplinoClient(
        base_url="http://api/external/v1", api_key="sk_x", transport=httpx.MockTransport(_no_api)
    )
    now = [START]
    engine = Engine(
        flows=FLOWS,
        api=api,
        store=store,
        timezone=ZoneInfo("Asia/Bahrain"),
        clock=lambda: now[0],
    )
    bridge = TelegramBridge(engine, store, default_translator())
    user = UserInfo(id=42, first_name="Layla")
    seen: list[Reply] = []

    async def deliver(outcome: Reply) -> None:
        seen.append(outcome)

    await bridge.handle(42, user, Command("start"), deliver)
    old_book = next(
        b.data for row in seen[-1].cards[0].buttons for b in row if b.data.endswith("|book")
    )
    store.kv.delete("session:42")  # the session expired overnight
    now[0] = START + timedelta(days=1)
    await bridge.handle(42, user, Command("start"), deliver)

    await bridge.handle(42, user, Tap(old_book, message_id=1), deliver)

    assert [line.key for line in seen[-1].cards[0].lines][:2] == [
        "errors.stale_button",
        "menu.title",
    ]
    assert (await store.load(42, 42)).session.state == "menu"  # type: ignore[union-attr]
    await api.aclose()
