"""Fixtures for dialogue tests: a harness with one bot worker running."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.fakes.harness import Harness


@pytest.fixture
async def harness(redis_client: aioredis.Redis, redis_prefix: str) -> AsyncIterator[Harness]:
    """Return a harness whose first worker is already polling."""
    h = Harness(redis=redis_client, prefix=redis_prefix)
    await h.start()
    yield h
    await h.stop()
