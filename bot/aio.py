"""Own small asyncio helpers shared by the layers.

Must not import Telegram, conversations, the Skiplino client or the stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

# How long leaving ``running`` waits for the background job to end. A job stuck in a call
# that swallows its cancellation must not keep the caller (and the chat's lock) waiting.
STOP_TIMEOUT_SECONDS = 1.0

Job = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until ``stop`` is set; return True when it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


def _log_failure(task: asyncio.Task[None]) -> None:
    """Log the error a finished background job ended with, if any."""
    # A helper running beside the body (renewal, typing) must never fail the body itself.
    if not task.cancelled() and task.exception() is not None:
        log.warning("background job failed", exc_info=task.exception())


@contextlib.asynccontextmanager
async def running(job: Job, *, stop_timeout: float = STOP_TIMEOUT_SECONDS) -> AsyncIterator[None]:
    """Run ``job(stop)`` in the background while the body runs, then stop it.

    On exit ``stop`` is set and the job is cancelled; the exit waits at most
    ``stop_timeout`` seconds for it to end. A job should check ``stop`` (``pause`` does)
    so that it also ends after swallowing the cancellation.
    """
    stop = asyncio.Event()
    task = asyncio.create_task(job(stop))
    try:
        yield
    finally:
        stop.set()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=stop_timeout)
        if task in done:
            _log_failure(task)
        else:
            log.warning("background job did not stop within %.1f s; leaving it", stop_timeout)
            task.add_done_callback(_log_failure)
