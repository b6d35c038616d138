"""Fixtures for real components shared by every test package."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

# python-telegram-bot 22 warns on every RetryAfter unless timedelta mode is chosen.
os.environ.setdefault("PTB_TIMEDELTA", "1")

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _answers_ping(port: int) -> bool:
    """Tell whether a Redis answers PING on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ensure_redis() -> str:
    """Return the Redis URL for tests, starting a private redis-server if none answers.

    The tests need a real Redis (docs/architecture.md §7); on a machine without one running, a
    throw-away server on a free loopback port keeps the README's one test command enough.
    """
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        return configured
    if _answers_ping(6379):
        return DEFAULT_REDIS_URL
    binary = shutil.which("redis-server")
    if binary is None:
        return DEFAULT_REDIS_URL  # the redis_client fixture then fails with a clear message
    port = _free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(server.terminate)
    deadline = time.monotonic() + 10
    while not _answers_ping(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/0"


REDIS_URL = _ensure_redis()


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
