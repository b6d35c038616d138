"""Contract tests of the chat stores: one suite run against Redis and against memory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import Field
from redis.asyncio.connection import Connection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.sessions import (
    ChatBusy,
    ChatStore,
    Profile,
    RedisChatStore,
    StoredSession,
    StoreUnavailable,
    UpdateClaim,
)
from bot.testing.memory_store import MemoryChatStore
from tests.conftest import REDIS_URL
from tests.fakes.redis_relay import HeldReplyRelay

CHAT = 1001
USER = 2002


class Session(StoredSession):
    """A session document of the shape a conversation layer might keep (the store is generic)."""

    flow: str = "menu"
    state: str = "menu"
    data: dict[str, Any] = Field(default_factory=dict)
    back: list[dict[str, Any]] = Field(default_factory=list)
    card_message_id: int | None = None
    step: int = 0


@dataclass
class Backend:
    """A store under test plus a look at its raw storage, the same for both backends."""

    name: str
    store: ChatStore[Session]
    # Build a store on the same storage with another session TTL.
    with_session_ttl: Callable[[int], ChatStore[Session]]
    # Write a raw value under "session:<id>" / "profile:<id>", bypassing the store.
    plant: Callable[[str, int, str], Awaitable[None]]
    # Redis-like PTTL of "session:<id>" / "profile:<id>": -2 missing, -1 no expiry.
    pttl: Callable[[str, int], Awaitable[int]]


def redis_key(prefix: str, kind: str, ident: int) -> str:
    """Return the documented Redis key of a lock, session or profile."""
    return f"{prefix}:{kind}:{{{ident}}}"


@pytest.fixture(params=["redis", "memory"])
async def backend(
    request: pytest.FixtureRequest, redis_client: aioredis.Redis, redis_prefix: str
) -> AsyncIterator[Backend]:
    """Yield each store backend in turn."""
    if request.param == "redis":
        store = RedisChatStore(redis_client, prefix=redis_prefix, session_model=Session)

        async def plant_redis(kind: str, ident: int, raw: str) -> None:
            """Write a raw document into Redis."""
            await redis_client.set(redis_key(redis_prefix, kind, ident), raw)

        async def pttl_redis(kind: str, ident: int) -> int:
            """Read a key's PTTL from Redis."""
            return int(await redis_client.pttl(redis_key(redis_prefix, kind, ident)))

        yield Backend(
            "redis",
            store,
            lambda ttl: RedisChatStore(
                redis_client, prefix=redis_prefix, session_model=Session, session_ttl_seconds=ttl
            ),
            plant_redis,
            pttl_redis,
        )
        await store.close()
    else:
        memory = MemoryChatStore(session_model=Session)
        stores = [memory]

        def with_ttl(ttl: int) -> ChatStore[Session]:
            """Build a memory store with another TTL (it has its own storage)."""
            other = MemoryChatStore(session_model=Session, session_ttl_seconds=ttl)
            stores.append(other)
            return other

        async def plant_memory(kind: str, ident: int, raw: str) -> None:
            """Write a raw document into the first memory store."""
            memory.kv.set(f"{kind}:{ident}", raw)

        async def pttl_memory(kind: str, ident: int) -> int:
            """Read a key's PTTL from the first memory store."""
            return memory.kv.pttl(f"{kind}:{ident}")

        yield Backend("memory", memory, with_ttl, plant_memory, pttl_memory)
        for each in stores:
            await each.close()


def a_session(**data: Any) -> Session:
    """Return a session in the middle of a booking."""
    return Session(chat_id=CHAT, flow="book", state="choose_slot", data=dict(data), step=3)


# --- the lock ------------------------------------------------------------------------------


async def test_second_holder_waits_until_the_lock_is_released(backend: Backend) -> None:
    store = backend.store
    token = await store.acquire(CHAT)
    with pytest.raises(ChatBusy):
        await store.acquire(CHAT, wait=0.1)

    await store.release(CHAT, token)

    assert await store.acquire(CHAT, wait=0) != token


async def test_lock_of_a_crashed_holder_expires_after_hold_time(backend: Backend) -> None:
    store = backend.store
    await store.acquire(CHAT, hold_ms=150)
    started = time.monotonic()

    await store.acquire(CHAT, wait=2.0)

    assert 0.1 <= time.monotonic() - started < 1.5


async def test_acquire_gives_up_with_chat_busy_after_the_wait(backend: Backend) -> None:
    store = backend.store
    await store.acquire(CHAT)
    started = time.monotonic()

    with pytest.raises(ChatBusy):
        await store.acquire(CHAT, wait=0.2)

    assert 0.2 <= time.monotonic() - started < 1.5


async def test_locks_of_different_chats_do_not_exclude_each_other(backend: Backend) -> None:
    await backend.store.acquire(CHAT)

    await backend.store.acquire(CHAT + 1, wait=0)


async def test_release_with_a_wrong_token_keeps_the_lock(backend: Backend) -> None:
    store = backend.store
    await store.acquire(CHAT)

    await store.release(CHAT, "not-the-token")

    with pytest.raises(ChatBusy):
        await store.acquire(CHAT, wait=0)


async def test_concurrent_updates_of_one_chat_are_serialised(backend: Backend) -> None:
    store = backend.store

    async def count_up(times: int) -> None:
        """Increment a counter in the session, one locked update at a time."""
        for _ in range(times):
            token = await store.acquire(CHAT, wait=5.0)
            loaded = await store.load(CHAT, USER)
            session = loaded.session or Session(chat_id=CHAT)
            session.data["n"] = session.data.get("n", 0) + 1
            await asyncio.sleep(0.005)  # a transition that awaits, so the tasks interleave
            assert await store.commit(CHAT, token, session)

    await asyncio.gather(count_up(5), count_up(5), count_up(5))

    stored = (await store.load(CHAT, USER)).session
    assert stored is not None
    assert stored.data["n"] == 15
    assert stored.version == 15


# --- session and profile -----------------------------------------------------------------


async def test_load_of_a_new_chat_finds_nothing(backend: Backend) -> None:
    loaded = await backend.store.load(CHAT, USER)

    assert loaded.session is None
    assert loaded.profile is None


async def test_load_returns_what_commit_saved(backend: Backend) -> None:
    store = backend.store
    token = await store.acquire(CHAT)
    session = a_session(branch="b1", page=2)
    session.back.append({"state": "choose_service", "data": {"branch": "b1"}})
    session.card_message_id = 77
    profile = Profile(locale="ar", customer_id="c-1", name="Layla")

    saved = await store.commit(CHAT, token, session, profile=(USER, profile))

    assert saved is True
    assert session.version == 1
    loaded = await store.load(CHAT, USER)
    assert loaded.session == session
    assert loaded.profile == profile
    assert await store.get_profile(USER) == profile


async def test_commit_releases_the_lock(backend: Backend) -> None:
    store = backend.store
    token = await store.acquire(CHAT)

    await store.commit(CHAT, token, a_session())

    await store.acquire(CHAT, wait=0)


async def test_commit_without_profile_keeps_the_stored_profile(backend: Backend) -> None:
    store = backend.store
    await store.put_profile(USER, Profile(locale="ar"))
    token = await store.acquire(CHAT)

    await store.commit(CHAT, token, a_session())

    assert (await store.load(CHAT, USER)).profile == Profile(locale="ar")


async def test_each_commit_advances_the_version(backend: Backend) -> None:
    store = backend.store
    session = a_session()
    for expected in (1, 2, 3):
        token = await store.acquire(CHAT)
        assert await store.commit(CHAT, token, session)
        assert session.version == expected
    stored = (await store.load(CHAT, USER)).session
    assert stored is not None
    assert stored.version == 3


async def test_stale_writer_is_rejected_and_the_first_writer_wins(backend: Backend) -> None:
    store = backend.store
    token = await store.acquire(CHAT)
    await store.commit(CHAT, token, a_session(slot="09:00"))
    # Two workers hold version 1, as when the first one's lock expired mid-update.
    first = (await store.load(CHAT, USER)).session
    second = (await store.load(CHAT, USER)).session
    assert first is not None
    assert second is not None
    first.data["slot"] = "10:00"
    second.data["slot"] = "11:00"

    first_token = await store.acquire(CHAT)
    assert await store.commit(CHAT, first_token, first) is True
    second_token = await store.acquire(CHAT)
    second_saved = await store.commit(
        CHAT, second_token, second, profile=(USER, Profile(locale="ar"))
    )

    assert second_saved is False
    assert second.version == 1
    stored = (await store.load(CHAT, USER)).session
    assert stored is not None
    assert stored.data["slot"] == "10:00"
    assert stored.version == 2
    assert await store.get_profile(USER) is None  # the rejected commit wrote nothing
    await store.acquire(CHAT, wait=0)  # ...but still released its lock


async def test_commit_after_lock_expiry_leaves_the_new_holders_lock(backend: Backend) -> None:
    store = backend.store
    old_token = await store.acquire(CHAT, hold_ms=50)
    await asyncio.sleep(0.1)
    await store.acquire(CHAT, wait=0)  # another worker took over the chat

    await store.commit(CHAT, old_token, a_session())

    with pytest.raises(ChatBusy):
        await store.acquire(CHAT, wait=0)


async def test_session_and_profile_have_their_own_ttls(backend: Backend) -> None:
    store = backend.store
    token = await store.acquire(CHAT)
    await store.commit(CHAT, token, a_session(), profile=(USER, Profile(locale="en")))

    session_pttl = await backend.pttl("session", CHAT)
    assert 86_000_000 < session_pttl <= 86_400_000
    year_ms = 365 * 24 * 3600 * 1000
    assert year_ms - 60_000 < await backend.pttl("profile", USER) <= year_ms
    await store.put_profile(USER, Profile(locale="ar"))
    assert year_ms - 60_000 < await backend.pttl("profile", USER) <= year_ms


async def test_every_load_restarts_the_profile_inactivity_clock(backend: Backend) -> None:
    await backend.plant("profile", USER, Profile(locale="ar").model_dump_json())
    assert await backend.pttl("profile", USER) == -1  # planted raw, without a TTL

    loaded = await backend.store.load(CHAT, USER)

    assert loaded.profile == Profile(locale="ar")
    year_ms = 365 * 24 * 3600 * 1000
    assert year_ms - 60_000 < await backend.pttl("profile", USER) <= year_ms


async def test_a_load_without_a_profile_creates_none(backend: Backend) -> None:
    await backend.store.load(CHAT, USER)

    assert await backend.pttl("profile", USER) == -2


async def test_a_forgotten_profile_is_gone(backend: Backend) -> None:
    await backend.store.put_profile(USER, Profile(locale="ar", mobile="+97333000000"))

    await backend.store.forget_profile(USER)

    assert await backend.store.get_profile(USER) is None
    assert (await backend.store.load(CHAT, USER)).profile is None


async def test_session_and_cache_expire_but_the_profile_stays(backend: Backend) -> None:
    store = backend.with_session_ttl(1)
    token = await store.acquire(CHAT)
    await store.commit(CHAT, token, a_session(), profile=(USER, Profile(locale="ar")))
    await store.cache_set("branches:en", "[]", ttl_seconds=1)

    await asyncio.sleep(1.1)

    loaded = await store.load(CHAT, USER)
    assert loaded.session is None
    assert loaded.profile == Profile(locale="ar")
    assert await store.cache_get("branches:en") is None


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[1, 2]",
        '{"version": 7}',  # valid JSON, but no chat_id: e.g. written by an older release
        '{"chat_id": "not-a-number", "version": 4}',
    ],
)
async def test_corrupt_session_counts_as_none_and_a_fresh_one_saves(
    backend: Backend, raw: str
) -> None:
    store = backend.store
    await backend.plant("session", CHAT, raw)

    loaded = await store.load(CHAT, USER)

    assert loaded.session is None
    token = await store.acquire(CHAT)
    assert await store.commit(CHAT, token, Session(chat_id=CHAT)) is True
    stored = (await store.load(CHAT, USER)).session
    assert stored == Session(chat_id=CHAT, version=1)


async def test_corrupt_profile_counts_as_none(backend: Backend) -> None:
    await backend.plant("profile", USER, '{"locale": ')

    assert (await backend.store.load(CHAT, USER)).profile is None
    assert await backend.store.get_profile(USER) is None


# --- cache -----------------------------------------------------------------------------------


async def test_cache_returns_what_was_set_until_it_expires(backend: Backend) -> None:
    store = backend.store
    assert await store.cache_get("services:b1") is None

    await store.cache_set("services:b1", '{"x": "خدمة"}', ttl_seconds=60)

    assert await store.cache_get("services:b1") == '{"x": "خدمة"}'


async def test_cache_refuses_a_ttl_below_one_second(backend: Backend) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        await backend.store.cache_set("k", "v", ttl_seconds=0)


# --- Redis only --------------------------------------------------------------------------


async def test_prefixes_isolate_two_bots_on_one_redis(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    bot_a = RedisChatStore(redis_client, prefix=redis_prefix, session_model=Session)
    bot_b = RedisChatStore(redis_client, prefix=f"{redis_prefix}:b", session_model=Session)
    token = await bot_a.acquire(CHAT)
    await bot_b.acquire(CHAT, wait=0)  # not blocked by the other bot's lock

    await bot_a.commit(CHAT, token, a_session(), profile=(USER, Profile(locale="ar")))
    await bot_a.cache_set("k", "a", ttl_seconds=60)

    loaded_b = await bot_b.load(CHAT, USER)
    assert loaded_b.session is None
    assert loaded_b.profile is None
    assert await bot_b.cache_get("k") is None
    assert await redis_client.exists(redis_key(redis_prefix, "session", CHAT)) == 1


async def test_a_reachable_store_answers_ping(backend: Backend) -> None:
    # The webhook server's health check counts a ping that does not raise as "up".
    await backend.store.ping()


def test_prefix_with_braces_is_refused() -> None:
    client = aioredis.Redis()
    with pytest.raises(ValueError, match="prefix"):
        RedisChatStore(client, prefix="bot{1}", session_model=Session)


@pytest.fixture
async def dead_redis() -> AsyncIterator[RedisChatStore[Session]]:
    """Yield a store whose Redis refuses connections (nothing listens on port 1)."""
    store = RedisChatStore.from_url(
        "redis://:s3cret-pw@127.0.0.1:1/0", prefix="dead", session_model=Session
    )
    yield store
    await store.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.acquire(CHAT, wait=0),
        lambda s: s.load(CHAT, USER),
        lambda s: s.commit(CHAT, "t", Session(chat_id=CHAT)),
        lambda s: s.release(CHAT, "t"),
        lambda s: s.get_profile(USER),
        lambda s: s.put_profile(USER, Profile()),
        lambda s: s.cache_get("k"),
        lambda s: s.cache_set("k", "v", 5),
        lambda s: s.ping(),
    ],
    ids=[
        "acquire",
        "load",
        "commit",
        "release",
        "get_profile",
        "put_profile",
        "get",
        "set",
        "ping",
    ],
)
async def test_unreachable_redis_raises_store_unavailable_without_the_password(
    dead_redis: RedisChatStore[Session],
    call: Callable[[RedisChatStore[Session]], Awaitable[object]],
) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        await call(dead_redis)

    assert "s3cret-pw" not in str(caught.value)


async def test_redis_that_stops_answering_raises_store_unavailable(redis_prefix: str) -> None:
    hung: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Accept the connection and never answer."""
        hung.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.Redis(
        host="127.0.0.1", port=port, socket_timeout=0.1, retry=Retry(NoBackoff(), retries=1)
    )
    store = RedisChatStore(client, prefix=redis_prefix, session_model=Session, owns_client=True)
    try:
        with pytest.raises(StoreUnavailable, match="TimeoutError"):
            await store.load(CHAT, USER)
    finally:
        await store.close()
        for writer in hung:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_one_update_costs_three_redis_round_trips(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    sent: list[int] = []

    class CountingConnection(Connection):
        """Count each batch of commands written to the socket: one per round trip."""

        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            sent.append(1)
            await super().send_packed_command(command, check_health)

    pool = ConnectionPool.from_url(REDIS_URL, connection_class=CountingConnection)
    store = RedisChatStore(
        aioredis.Redis(connection_pool=pool), prefix=redis_prefix, session_model=Session
    )
    profile = (USER, Profile(locale="ar"))
    # Warm up: the connection handshake and the first script load are one-off costs.
    token = await store.acquire(CHAT)
    await store.load(CHAT, USER)
    await store.commit(CHAT, token, a_session(), profile=profile)
    await store.release(CHAT, "warm-up")

    sent.clear()
    token = await store.acquire(CHAT)
    acquire_trips = len(sent)
    sent.clear()
    session = (await store.load(CHAT, USER)).session
    load_trips = len(sent)
    assert session is not None
    sent.clear()
    saved = await store.commit(CHAT, token, session, profile=profile)
    commit_trips = len(sent)

    assert saved is True
    assert (acquire_trips, load_trips, commit_trips) == (1, 1, 1)
    await pool.aclose()


async def test_commit_without_release_saves_and_keeps_the_lock(backend: Backend) -> None:
    store = backend.store
    token = await store.acquire(CHAT)
    session = Session(chat_id=CHAT, state="book.slot")

    assert await store.commit(CHAT, token, session, release=False)

    with pytest.raises(ChatBusy):
        await store.acquire(CHAT, wait=0)
    await store.release(CHAT, token)
    loaded = await store.load(CHAT, USER)
    assert loaded.session is not None
    assert loaded.session.state == "book.slot"


async def test_cache_get_many_answers_in_order_with_none_for_missing(backend: Backend) -> None:
    store = backend.store
    await store.cache_set("branches:en", "[1]", 60)
    await store.cache_set("tree:b1:en", "[2]", 60)

    values = await store.cache_get_many(["tree:b1:en", "nothing:here", "branches:en"])

    assert values == ["[2]", None, "[1]"]
    assert await store.cache_get_many([]) == []


async def test_extend_keeps_the_lock_only_for_its_holder(backend: Backend) -> None:
    store = backend.store
    token = await store.acquire(CHAT, hold_ms=150)

    assert await store.extend(CHAT, token, 2_000)
    assert not await store.extend(CHAT, "not-the-token", 2_000)
    await asyncio.sleep(0.3)

    with pytest.raises(ChatBusy):
        await store.acquire(CHAT, wait=0)
    await store.release(CHAT, token)
    assert not await store.extend(CHAT, token, 2_000)


# --- the turn: one update of a chat ----------------------------------------------------------

TIMES: dict[str, Any] = {"wait": 0.0, "hold_ms": 5_000, "renew_seconds": 3.0}


async def test_turn_loads_what_was_saved_and_keeps_the_lock_until_it_ends(
    backend: Backend,
) -> None:
    store = backend.store
    await store.put_profile(USER, Profile(locale="ar"))
    async with store.turn(CHAT, USER, **TIMES) as turn:
        assert turn.session is None
        assert turn.profile == Profile(locale="ar")
        session = a_session(slot="09:00")
        assert await turn.save(session, Profile(locale="en", name="Layla"))
        assert session.version == 1
        # The replies go out here: the chat stays locked until the turn ends.
        with pytest.raises(ChatBusy):
            await store.acquire(CHAT, wait=0)

    async with store.turn(CHAT, USER, **TIMES) as again:
        assert again.session == session
        assert again.profile == Profile(locale="en", name="Layla")


async def test_turn_without_a_profile_keeps_the_stored_one(backend: Backend) -> None:
    store = backend.store
    await store.put_profile(USER, Profile(locale="ar"))
    async with store.turn(CHAT, USER, **TIMES) as turn:
        assert await turn.save(a_session())

    assert await store.get_profile(USER) == Profile(locale="ar")


async def test_turn_of_a_busy_chat_raises_chat_busy_and_leaves_the_holders_lock(
    backend: Backend,
) -> None:
    store = backend.store
    token = await store.acquire(CHAT)

    with pytest.raises(ChatBusy):
        async with store.turn(CHAT, USER, **{**TIMES, "wait": 0.1}):
            pytest.fail("a busy chat must not be entered")

    with pytest.raises(ChatBusy):
        await store.acquire(CHAT, wait=0)
    await store.release(CHAT, token)


async def test_turn_releases_the_lock_when_the_update_fails(backend: Backend) -> None:
    store = backend.store

    with pytest.raises(RuntimeError, match="transition failed"):
        async with store.turn(CHAT, USER, **TIMES):
            raise RuntimeError("transition failed")

    await store.acquire(CHAT, wait=0)


async def test_turn_releases_the_lock_when_the_update_is_cancelled(backend: Backend) -> None:
    store = backend.store
    inside = asyncio.Event()

    async def update() -> None:
        """Take a turn and wait inside it until cancelled."""
        async with store.turn(CHAT, USER, **TIMES):
            inside.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(update())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await store.acquire(CHAT, wait=0)


async def test_rejected_save_writes_nothing_and_the_turn_still_releases(backend: Backend) -> None:
    store = backend.store
    async with store.turn(CHAT, USER, **TIMES) as turn:
        assert await turn.save(a_session(slot="09:00"))
    async with store.turn(CHAT, USER, **TIMES) as turn:
        stale = turn.session
        assert stale is not None
        # Another worker moved the chat on, as when our lock expired mid-update.
        newer = stale.model_copy(deep=True)
        assert await store.commit(CHAT, "other-worker", newer, release=False)
        stale.data["slot"] = "11:00"

        assert await turn.save(stale, Profile(locale="ar")) is False

    stored = (await store.load(CHAT, USER)).session
    assert stored is not None
    assert stored.data["slot"] == "09:00"
    assert stored.version == 2
    assert await store.get_profile(USER) is None
    await store.acquire(CHAT, wait=0)


async def test_turn_renews_its_lock_past_the_hold_time(backend: Backend) -> None:
    store = backend.store
    async with store.turn(CHAT, USER, wait=0, hold_ms=150, renew_seconds=0.03):
        await asyncio.sleep(0.4)  # well past the hold time: only renewal keeps the lock
        with pytest.raises(ChatBusy):
            await store.acquire(CHAT, wait=0)

    await store.acquire(CHAT, wait=0)


async def test_a_failed_load_releases_the_lock_it_took(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = backend.store

    async def failing_load(chat_id: int, user_id: int) -> None:
        """Fail like a Redis that went away after the lock was taken."""
        raise StoreUnavailable("load")

    monkeypatch.setattr(store, "load", failing_load)

    with pytest.raises(StoreUnavailable):
        async with store.turn(CHAT, USER, **TIMES):
            pytest.fail("a turn whose load failed must not be entered")

    await store.acquire(CHAT, wait=0)


async def test_a_store_outage_at_release_never_masks_the_update(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = backend.store

    async def failing_release(chat_id: int, token: str) -> None:
        """Fail like a Redis that went away after the replies were sent."""
        raise StoreUnavailable("release")

    monkeypatch.setattr(store, "release", failing_release)
    async with store.turn(CHAT, USER, **TIMES) as turn:
        assert await turn.save(a_session())

    # The update's own error is what surfaces, not the outage while releasing.
    with pytest.raises(RuntimeError, match="transition failed"):
        async with store.turn(CHAT + 1, USER, **TIMES):
            raise RuntimeError("transition failed")


async def test_a_renewal_that_swallows_its_cancellation_cannot_wedge_the_turn(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = backend.store
    renewing = asyncio.Event()
    reply_arrives = asyncio.Event()
    calls: list[str] = []

    async def stubborn_extend(chat_id: int, token: str, hold_ms: int) -> bool:
        """Renew like a client that, once cancelled, still waits for its reply."""
        calls.append(token)
        renewing.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await reply_arrives.wait()
        return True

    monkeypatch.setattr(store, "extend", stubborn_extend)
    started = time.monotonic()
    async with asyncio.timeout(5):
        async with store.turn(
            CHAT, USER, wait=0, hold_ms=5_000, renew_seconds=0.01, stop_timeout=0.2
        ):
            await renewing.wait()

    assert time.monotonic() - started < 2.0
    await store.acquire(CHAT, wait=0)  # the chat was released all the same
    reply_arrives.set()
    await asyncio.sleep(0.1)
    # The stray renewal saw the stop flag and ended instead of renewing again.
    assert len(calls) == 1


async def test_one_turn_costs_four_redis_round_trips(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    sent: list[int] = []

    class CountingConnection(Connection):
        """Count each batch of commands written to the socket: one per round trip."""

        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            sent.append(1)
            await super().send_packed_command(command, check_health)

    pool = ConnectionPool.from_url(REDIS_URL, connection_class=CountingConnection)
    store = RedisChatStore(
        aioredis.Redis(connection_pool=pool), prefix=redis_prefix, session_model=Session
    )
    # Warm up: the connection handshake and the first script loads are one-off costs.
    async with store.turn(CHAT, USER, **TIMES) as turn:
        await turn.save(a_session())

    sent.clear()
    async with store.turn(CHAT, USER, **TIMES) as turn:
        entered = len(sent)
        assert turn.session is not None
        assert await turn.save(turn.session, Profile(locale="ar"))
        saved = len(sent)

    assert (entered, saved, len(sent)) == (2, 3, 4)  # acquire + load, save, release
    await pool.aclose()


async def test_an_update_is_claimed_once_and_then_known_as_in_progress(backend: Backend) -> None:
    store = backend.store

    first = await store.claim_update(7, "token-a", hold_ms=5_000)
    again = await store.claim_update(7, "token-a", hold_ms=5_000)
    other = await store.claim_update(7, "token-b", hold_ms=5_000)
    elsewhere = await store.claim_update(8, "token-b", hold_ms=5_000)

    assert first is UpdateClaim.CLAIMED
    # A retried call (its first reply lost) finds its own token: still ours.
    assert again is UpdateClaim.CLAIMED
    assert other is UpdateClaim.IN_PROGRESS
    assert elsewhere is UpdateClaim.CLAIMED


async def test_a_finished_update_is_known_as_done_by_everyone(backend: Backend) -> None:
    store = backend.store
    await store.claim_update(7, "token-a", hold_ms=5_000)

    await store.finish_update(7, keep_seconds=60)

    assert await store.claim_update(7, "token-b", hold_ms=5_000) is UpdateClaim.DONE
    assert await store.claim_update(7, "token-a", hold_ms=5_000) is UpdateClaim.DONE
    # A late release by the first claimant must not turn "done" back into "to do".
    await store.release_update(7, "token-a")
    assert await store.claim_update(7, "token-c", hold_ms=5_000) is UpdateClaim.DONE


async def test_a_released_claim_lets_the_redelivery_be_handled(backend: Backend) -> None:
    store = backend.store
    await store.claim_update(7, "token-a", hold_ms=5_000)

    await store.release_update(7, "token-b")  # not the holder: nothing happens
    held = await store.claim_update(7, "token-c", hold_ms=5_000)
    await store.release_update(7, "token-a")
    freed = await store.claim_update(7, "token-c", hold_ms=5_000)

    assert held is UpdateClaim.IN_PROGRESS
    assert freed is UpdateClaim.CLAIMED


async def test_the_claim_of_a_crashed_replica_expires_so_the_redelivery_is_handled(
    backend: Backend,
) -> None:
    store = backend.store
    await store.claim_update(7, "dead-replica", hold_ms=150)
    assert await store.claim_update(7, "live-replica", hold_ms=5_000) is UpdateClaim.IN_PROGRESS

    await asyncio.sleep(0.3)

    assert await store.claim_update(7, "live-replica", hold_ms=5_000) is UpdateClaim.CLAIMED


async def test_done_is_kept_only_for_its_time(backend: Backend) -> None:
    store = backend.store
    await store.finish_update(7, keep_seconds=1)

    await asyncio.sleep(1.2)

    assert await store.claim_update(7, "token-a", hold_ms=5_000) is UpdateClaim.CLAIMED


@pytest.mark.parametrize("token", ["", "done"])
async def test_a_claim_token_that_could_read_as_done_is_refused(
    backend: Backend, token: str
) -> None:
    with pytest.raises(ValueError, match="claim token"):
        await backend.store.claim_update(7, token, hold_ms=5_000)


async def test_update_claims_live_under_the_prefix_with_a_short_then_a_long_ttl(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    store = RedisChatStore(redis_client, prefix=redis_prefix, session_model=Session)
    key = f"{redis_prefix}:update:7"

    await store.claim_update(7, "token-a", hold_ms=5_000)
    claimed_ttl = await redis_client.pttl(key)
    await store.finish_update(7, keep_seconds=3600)
    done_ttl = await redis_client.pttl(key)

    assert 0 < claimed_ttl <= 5_000
    assert 3_500_000 < done_ttl <= 3_600_000
    assert await redis_client.get(key) == b"done"


# --- a save safe to send again ---------------------------------------------------------------


async def test_a_save_sent_again_finds_its_own_write_and_counts_as_saved(backend: Backend) -> None:
    store = backend.store
    token = await store.acquire(CHAT)
    session = a_session(slot="09:00")
    again = session.model_copy(deep=True)  # what a retry sends: the same bytes, same version

    assert await store.commit(CHAT, token, session, release=False, nonce="n-1") is True
    # The reply was lost; the same save arrives a second time.
    assert await store.commit(CHAT, token, again, release=False, nonce="n-1") is True

    assert again.version == 1
    stored = (await store.load(CHAT, USER)).session
    assert stored is not None
    assert stored.version == 1  # written once, not twice
    assert stored.data["slot"] == "09:00"


async def test_a_stale_save_with_another_nonce_is_still_rejected(backend: Backend) -> None:
    store = backend.store
    token = await store.acquire(CHAT)
    stale = a_session(slot="09:00")
    assert await store.commit(CHAT, token, a_session(slot="10:00"), release=False) is True

    assert await store.commit(CHAT, token, stale, release=False, nonce="someone-else") is False
    stored = (await store.load(CHAT, USER)).session
    assert stored is not None
    assert stored.data["slot"] == "10:00"


async def test_a_rejected_turn_save_names_the_real_cause(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    store = backend.store
    async with store.turn(CHAT, USER, wait=1, hold_ms=5_000, renew_seconds=1) as turn:
        # Another writer moved the chat on meanwhile (as after our lock expired).
        other = a_session(slot="11:00")
        await store.commit(CHAT, "not-the-lock", other, release=False)
        assert await turn.save(a_session(slot="12:00")) is False

    [line] = [r.getMessage() for r in caplog.records if "save rejected" in r.getMessage()]
    assert "another writer moved the session on" in line


async def test_a_save_whose_reply_outlives_the_socket_timeout_is_saved_once(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    # The document is marked, so only the save's reply is held back (not the load's).
    relay = HeldReplyRelay(hold_seconds=0.6, marker=b"held-reply-marker")
    port = await relay.open()
    client = aioredis.Redis(
        host="127.0.0.1", port=port, socket_timeout=0.2, retry=Retry(NoBackoff(), retries=2)
    )
    store = RedisChatStore(client, prefix=redis_prefix, session_model=Session, owns_client=True)
    try:
        async with store.turn(CHAT, USER, wait=1, hold_ms=5_000, renew_seconds=1) as turn:
            saved = await turn.save(a_session(note="held-reply-marker"))
        assert relay.sent_with_marker == 2  # redis-py sent the save a second time
        assert saved is True
        stored = (
            await RedisChatStore(redis_client, prefix=redis_prefix, session_model=Session).load(
                CHAT, USER
            )
        ).session
        assert stored is not None
        assert stored.version == 1
    finally:
        await store.close()
        await relay.close()


# --- store failures name their cause -----------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (RedisConnectionError("Error 111 connecting"), "connection failed"),
        (RedisTimeoutError("Timeout reading from socket"), "timeout"),
        (OutOfMemoryError("command not allowed when used memory > 'maxmemory'."), "out of memory"),
        (ReadOnlyError("You can't write against a read only replica."), "read-only"),
        (AuthenticationError("invalid username-password pair"), "authentication refused"),
        (ResponseError("NOAUTH Authentication required."), "authentication refused"),
        (ResponseError("WRONGPASS invalid username-password pair"), "authentication refused"),
        (ResponseError("READONLY You can't write against a read only replica."), "read-only"),
    ],
    ids=[
        "connection",
        "timeout",
        "oom",
        "readonly",
        "auth",
        "noauth",
        "wrongpass",
        "readonly-text",
    ],
)
async def test_each_redis_failure_names_its_own_cause(
    redis_client: aioredis.Redis, redis_prefix: str, error: Exception, cause: str
) -> None:
    store = RedisChatStore(redis_client, prefix=redis_prefix, session_model=Session)

    async def fail(*args: object, **kwargs: object) -> object:
        raise error

    store._load = fail  # type: ignore[assignment]
    with pytest.raises(StoreUnavailable) as caught:
        await store.load(CHAT, USER)
    assert caught.value.cause.startswith(cause)
    assert caught.value.cause in str(caught.value)


async def test_a_refused_connection_is_named_as_such(
    dead_redis: RedisChatStore[Session],
) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        await dead_redis.ping()
    assert caught.value.cause == "connection refused"
