"""Own a Redis client that counts what it sends, so figures come from the connection itself.

``INFO commandstats`` is server-wide and other processes may share the server, so the
benchmarks count at the connection and show the server-wide delta only as a cross-check.
Must not be imported by product code or tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection

# Sent once per new connection by redis-py, not by the store; reported apart.
HANDSHAKE = frozenset({"HELLO", "CLIENT", "AUTH", "SELECT", "PING"})


class RedisCounter:
    """Commands by name and round trips (writes to the socket) of every counting client."""

    def __init__(self) -> None:
        self.commands: Counter[str] = Counter()
        self.round_trips = 0

    def snapshot(self) -> tuple[Counter[str], int]:
        """Return a copy of the counts, to subtract later."""
        return Counter(self.commands), self.round_trips

    def since(self, mark: tuple[Counter[str], int]) -> tuple[Counter[str], int]:
        """Return the store's commands and round trips since ``mark`` (handshakes left out)."""
        commands, trips = mark
        delta = self.commands - commands
        handshake = sum(n for name, n in delta.items() if name in HANDSHAKE)
        store = Counter({name: n for name, n in delta.items() if name not in HANDSHAKE})
        return store, self.round_trips - trips - handshake


def counting_client(url: str, counter: RedisCounter) -> aioredis.Redis:
    """Return a client on ``url`` whose connections report to ``counter``."""

    class CountingConnection(Connection):
        """A connection that counts each command and each socket write."""

        async def send_command(self, *args: Any, **kwargs: Any) -> None:
            """Count the command by name, then send it."""
            counter.commands[_name(args)] += 1
            await super().send_command(*args, **kwargs)

        async def send_packed_command(
            self, command: bytes | str | Iterable[bytes], check_health: bool = True
        ) -> None:
            """Count one round trip (a pipeline is one write), then send."""
            counter.round_trips += 1
            await super().send_packed_command(command, check_health)

    client: aioredis.Redis = aioredis.Redis.from_url(
        url, decode_responses=False, connection_class=CountingConnection
    )
    return client


def _name(args: tuple[Any, ...]) -> str:
    """Return the command name of a packed command's arguments."""
    if not args:
        return "?"
    first = args[0]
    name = first.decode() if isinstance(first, bytes) else str(first)
    return name.split()[0].upper()


async def server_commandstats(client: aioredis.Redis) -> Counter[str]:
    """Return the server's calls per command (``INFO commandstats``), all clients together."""
    info: dict[str, Any] = await client.info("commandstats")
    stats: Counter[str] = Counter()
    for key, value in info.items():
        if key.startswith("cmdstat_") and isinstance(value, dict):
            stats[key.removeprefix("cmdstat_").upper()] = int(value.get("calls", 0))
    return stats
