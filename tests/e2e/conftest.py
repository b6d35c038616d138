"""Fixtures for process-level tests: the sandbox and the bot as child processes.

The fake Telegram Bot API is served over HTTP from the test's own event loop; the bot
process reaches it through ``TELEGRAM_API_URL``, the sandbox through ``SKIPLINO_API_URL``
and the local Redis under the test's own key prefix. Every child is stopped in teardown,
whatever the test did.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from bot.testing.fake_api import FakeBotAPI
from bot.testing.fake_server import FakeBotAPIServer
from tests.conftest import REDIS_URL
from tests.e2e.processes import Children, SandboxProcess, UserChat, start_sandbox

BotEnv = Callable[[], dict[str, str]]
ChatOf = Callable[..., UserChat]


@pytest.fixture
def bot_token() -> str:
    """Return a fake bot token that is easy to spot in any output."""
    return f"7000000001:E2E-SECRET-BOT-TOKEN-{secrets.token_hex(6)}"


@pytest.fixture
def api_key() -> str:
    """Return a fake Skiplino secret key that is easy to spot in any output."""
    return f"sk_test_E2E-SECRET-API-KEY-{secrets.token_hex(6)}"


@pytest.fixture
async def children(
    tmp_path: Path,
    telegram: FakeBotAPIServer,
    redis_client: aioredis.Redis,
) -> AsyncIterator[Children]:
    """Track the test's child processes and stop every one of them afterwards."""
    # Set up after (so torn down before) the fake Bot API and the Redis cleanup: no bot may
    # poll a stopped server or write keys after they were deleted.
    tracked = Children(cwd=tmp_path)
    try:
        yield tracked
    finally:
        await tracked.stop_all()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """Return an HTTP client for the sandbox's API and admin routes."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture
async def sandbox(children: Children, http: httpx.AsyncClient, api_key: str) -> SandboxProcess:
    """Start ``skiplino-bot sandbox`` on a free port with the test's API key."""
    return await start_sandbox(children, http, api_key=api_key)


@pytest.fixture
async def telegram(bot_token: str) -> AsyncIterator[FakeBotAPIServer]:
    """Serve a fake Bot API, accepting only the test's token, on a free loopback port."""
    api = FakeBotAPI(token=bot_token)
    async with FakeBotAPIServer(api) as server:
        yield server


@pytest.fixture
def bot_env(
    telegram: FakeBotAPIServer,
    sandbox: SandboxProcess,
    bot_token: str,
    api_key: str,
    redis_prefix: str,
) -> BotEnv:
    """Return a factory of the environment of ``skiplino-bot run`` for this test."""

    def make() -> dict[str, str]:
        return {
            "TELEGRAM_BOT_TOKEN": bot_token,
            "TELEGRAM_API_URL": telegram.base_url,
            "SKIPLINO_API_URL": sandbox.api_url,
            "SKIPLINO_API_KEY": api_key,
            "REDIS_URL": REDIS_URL,
            "REDIS_PREFIX": redis_prefix,
        }

    return make


@pytest.fixture
def chat_of(telegram: FakeBotAPIServer, redis_client: aioredis.Redis, redis_prefix: str) -> ChatOf:
    """Return a factory: ``chat_of(user_id, first_name=...)`` -> that user's `UserChat`."""

    def make(user_id: int, **profile: str) -> UserChat:
        return UserChat(telegram.api.user(user_id, **profile), redis_client, redis_prefix)

    return make
