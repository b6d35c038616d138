"""Serve an ASGI app over real HTTP on a free loopback port, inside the test's event loop.

Used where the code under test makes real HTTP requests: the fake Bot API posting to a
webhook, a load balancer forwarding to replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import uvicorn


class _Server(uvicorn.Server):
    """A uvicorn server that leaves the test process's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Do not take over SIGINT/SIGTERM."""
        yield


@contextlib.asynccontextmanager
async def serving(
    app: Any, *, lifespan: Literal["on", "off"] = "off", grace: float = 2.0
) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 and yield its base URL; stop it (and its lifespan) after."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan=lifespan,
        http="h11",
        ws="none",
        timeout_graceful_shutdown=int(grace),
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the server stopped while starting")
            await asyncio.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
