"""Fixtures for real components shared by every test package."""

from __future__ import annotations

import os

# python-telegram-bot 22 warns on every RetryAfter unless timedelta mode is chosen.
os.environ.setdefault("PTB_TIMEDELTA", "1")
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix() -> str:
    """Return a key prefix of this test alone, so tests never see each other's keys."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis_client(redis_prefix: str) -> AsyncIterator[aioredis.Redis]:
    """Connect to the real Redis and delete this test's keys afterwards."""
    client: aioredis.Redis = aioredis.from_url(REDIS_URL, decode_responses=False)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - environment problem, not a test result
        pytest.fail(f"Redis at {REDIS_URL} does not answer: {exc}")
    yield client
    async for key in client.scan_iter(match=f"{redis_prefix}:*"):
        await client.delete(key)
    await client.aclose()
