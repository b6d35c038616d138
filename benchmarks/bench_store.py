"""Own the session store benchmark: turns (lock, load, save, release) per second, Redis vs memory.

One cycle is the ``ChatStore.turn`` the bridge runs for every update that needs no profile
write: lock the chat (and renew it in the background), read the session and profile, save the
session, release the lock. Runs the cycles back to back on one chat (latency-bound) and on
many chats at once (throughput).
Must not be imported by product code or tests.

    python -m benchmarks.bench_store [--cycles N] [--chats C] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from benchmarks.redis_counting import RedisCounter, counting_client
from bot.sessions.redis_store import RedisChatStore
from bot.sessions.store import ChatStore
from bot.telegram.handlers import LockTimes
from bot.testing.memory_store import MemoryChatStore
from conversations.session import NoDraft, Session

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
FIRST_CHAT = 920_000_001


async def cycle(store: ChatStore[Session], chat_id: int) -> None:
    """Run one turn that changes and saves a chat's session, as the bridge does per update."""
    lock = LockTimes()
    async with store.turn(
        chat_id, chat_id, wait=lock.wait, hold_ms=lock.hold_ms, renew_seconds=lock.renew_seconds
    ) as turn:
        session = turn.session or Session(chat_id=chat_id, draft=NoDraft())
        session.step += 1
        if not await turn.save(session):
            raise RuntimeError(f"save of chat {chat_id} lost its version")


async def run_chats(store: ChatStore[Session], cycles: int, chats: int) -> float:
    """Run ``cycles`` cycles spread over ``chats`` concurrent chats; return the seconds taken."""
    per_chat, extra = divmod(cycles, chats)

    async def chat(index: int) -> None:
        """Run one chat's share of the cycles one after another."""
        for _ in range(per_chat + (1 if index < extra else 0)):
            await cycle(store, FIRST_CHAT + index)

    started = time.perf_counter()
    await asyncio.gather(*(chat(i) for i in range(chats)))
    return time.perf_counter() - started


@dataclass
class Options:
    """The command line."""

    cycles: int
    chats: int
    redis_url: str


async def main(options: Options) -> None:
    """Measure both stores, one chat and many chats, and print cycles per second."""
    counter = RedisCounter()
    client = counting_client(options.redis_url, counter)
    prefix = f"bench-{uuid.uuid4().hex[:12]}"
    stores: list[tuple[str, ChatStore[Session]]] = [
        ("memory", MemoryChatStore(session_model=Session)),
        ("redis", RedisChatStore(client, prefix=prefix, session_model=Session)),
    ]
    print(f"{'store':<8} {'chats':>5} {'cycles/s':>10} {'ms/cycle':>9} {'trips/cycle':>12}")
    try:
        for name, store in stores:
            # One warm-up cycle loads the Lua scripts and opens the first connection.
            await cycle(store, FIRST_CHAT - 1)
            for chats in (1, options.chats):
                mark = counter.snapshot()
                seconds = await run_chats(store, options.cycles, chats)
                trips = counter.since(mark)[1] / options.cycles if name == "redis" else 0.0
                print(
                    f"{name:<8} {chats:>5} {options.cycles / seconds:>10.0f} "
                    f"{seconds / options.cycles * chats * 1000:>9.3f} {trips:>12.2f}"
                )
    finally:
        plain: aioredis.Redis = aioredis.Redis.from_url(options.redis_url)
        async for key in plain.scan_iter(match=f"{prefix}:*"):
            await plain.delete(key)
        await plain.aclose()
        await client.aclose()


def parse(argv: Sequence[str] | None = None) -> Options:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_store",
        description="Measure acquire + load + commit cycles per second on Redis and in memory.",
    )
    parser.add_argument("--cycles", type=int, default=5000, help="cycles per run (default 5000)")
    parser.add_argument(
        "--chats", type=int, default=32, help="concurrent chats of the second run (default 32)"
    )
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    args = parser.parse_args(argv)
    if args.cycles < 1 or args.chats < 1:
        parser.error("--cycles and --chats must be at least 1")
    return Options(cycles=args.cycles, chats=args.chats, redis_url=args.redis_url)


if __name__ == "__main__":
    asyncio.run(main(parse()))
