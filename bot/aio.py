"""Own small asyncio helpers shared by the layers.

Must not import Telegram, conversations, the Skiplino client or the stores.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any


@contextlib.asynccontextmanager
async def running(job: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``job`` in the background while the body runs, then cancel it."""
    task = asyncio.create_task(job)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
