"""A TCP relay in front of the test Redis that can hold back the reply to one chosen command.

Held longer than the client's socket timeout, the reply is lost to redis-py, which sends the
same command again on a new connection: the case a save must survive.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from urllib.parse import urlparse

from tests.conftest import REDIS_URL


@dataclass
class HeldReplyRelay:
    """Relay to the real Redis; hold back the first reply to a command carrying ``marker``."""

    hold_seconds: float
    # Bytes that mark the command whose reply is held; None while nothing is armed.
    marker: bytes | None = None
    server: asyncio.Server | None = None
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    # Replies held so far (at most one per arming), and commands seen with the marker.
    held: int = 0
    sent_with_marker: int = 0

    def hold_next_reply_to(self, marker: bytes) -> None:
        """Arm the relay: hold back the reply to the next command containing ``marker``."""
        self.marker, self.held, self.sent_with_marker = marker, 0, 0

    async def open(self) -> int:
        """Start relaying; return the port to connect through on 127.0.0.1."""
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop relaying and drop every connection."""
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Pipe one client connection to Redis and back, holding one reply when armed."""
        target = urlparse(REDIS_URL)
        up_reader, up_writer = await asyncio.open_connection(target.hostname, target.port or 6379)
        self.writers += [writer, up_writer]
        hold = asyncio.Event()

        async def upstream() -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await reader.read(65536):
                    if self.marker is not None and self.marker in data:
                        self.sent_with_marker += 1
                        if self.held == 0:
                            self.held += 1
                            hold.set()
                    up_writer.write(data)
                    await up_writer.drain()
            up_writer.close()

        async def downstream() -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await up_reader.read(65536):
                    if hold.is_set():
                        hold.clear()
                        await asyncio.sleep(self.hold_seconds)
                    writer.write(data)
                    await writer.drain()
            writer.close()

        await asyncio.gather(upstream(), downstream())
