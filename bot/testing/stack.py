"""Own a whole bot over stand-ins: real Application and engine, fake Bot API, sandbox, Redis.

Fakes sit only at the transport seams: PTB's request class (FakeBotAPI) and the Skiplino
HTTP transport (the sandbox app, in-process). Everything between is the product's code.
The tests drive it through scripted chats; the benchmarks load it with many users.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import redis.asyncio as aioredis
from telegram.ext import Application

from bot.app import build_application, build_engine
from bot.sessions.redis_store import RedisChatStore
from bot.sessions.store import ChatStore
from bot.settings import Settings
from bot.skiplino import SkiplinoClient
from bot.telegram.handlers import TelegramBridge
from bot.testing.fake_api import FakeBotAPI, FakeRequest
from conversations.engine import Engine
from conversations.session import Session
from sandbox import Sandbox

# Tuesday 1 December 2026, 10:00 in Bahrain: a working morning, deterministic for every run.
START = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
SECRET_KEY = "sk_test_sandbox"
TOKEN = "123456:TEST-TOKEN"


@dataclass
class Clock:
    """A clock tests move by hand; shared by the sandbox and the bot."""

    now: datetime = START

    def __call__(self) -> datetime:
        """Return the current instant."""
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(**delta)


def settings() -> Settings:
    """Return settings for tests (no .env file is read)."""
    return Settings(
        _env_file=None,
        TELEGRAM_BOT_TOKEN=TOKEN,
        SKIPLINO_API_KEY=SECRET_KEY,
        SKIPLINO_API_URL="http://sandbox/external/v1",
        TELEGRAM_API_URL="http://telegram.invalid/bot",
    )


def skiplino_client(sandbox: Sandbox, **kwargs: Any) -> SkiplinoClient:
    """Return an API client wired to the in-process sandbox."""
    options: dict[str, Any] = {"max_retries": 1, "backoff_base": 0.0, "timeout": 5.0}
    options.update(kwargs)
    return SkiplinoClient(
        base_url="http://sandbox/external/v1",
        api_key=SECRET_KEY,
        transport=httpx.ASGITransport(app=sandbox.app),
        **options,
    )


@dataclass
class BotWorker:
    """One bot process's worth of objects: engine + Application polling the fake API."""

    engine: Engine[SkiplinoClient, ChatStore[Session]]
    application: Application  # type: ignore[type-arg]

    @property
    def bridge(self) -> TelegramBridge:
        """Return the bridge installed in the Application (tests may tune its lock timing)."""
        for handlers in self.application.handlers.values():
            for handler in handlers:
                owner = getattr(handler.callback, "__self__", None)
                if isinstance(owner, TelegramBridge):
                    return owner
        raise LookupError("no TelegramBridge is installed in this Application")

    async def start(self) -> None:
        """Initialise and start polling."""
        await self.application.initialize()
        # run_polling calls post_init (which publishes the command menus); initialize() does not.
        if self.application.post_init is not None:
            await self.application.post_init(self.application)
        await self.application.start()
        assert self.application.updater is not None
        await self.application.updater.start_polling(poll_interval=0.0, timeout=1)

    async def stop(self) -> None:
        """Stop polling and shut down (closes the engine's API client)."""
        assert self.application.updater is not None
        if self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()


@dataclass
class Stack:
    """The sandbox, the fake Bot API and the bot workers of one test or benchmark run."""

    redis: aioredis.Redis
    prefix: str
    clock: Clock = field(default_factory=Clock)
    sandbox: Sandbox = field(init=False)
    telegram: FakeBotAPI = field(default_factory=lambda: FakeBotAPI(quiet_period=0.08))
    workers: list[BotWorker] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sandbox = Sandbox(secret_key=SECRET_KEY, clock=self.clock)

    def store(self) -> ChatStore[Session]:
        """Return a store on the test's Redis keys."""
        return RedisChatStore(self.redis, prefix=self.prefix, session_model=Session)

    def worker(self, *, api: SkiplinoClient | None = None) -> BotWorker:
        """Build (not start) a bot worker sharing this harness's Redis, sandbox and Telegram."""
        engine = build_engine(
            settings(),
            store=self.store(),
            api=api or skiplino_client(self.sandbox),
            clock=self.clock,
        )
        application = build_application(
            settings(),
            engine,
            request=FakeRequest(self.telegram),
            updates_request=FakeRequest(self.telegram),
            token=TOKEN,
        )
        worker = BotWorker(engine, application)
        self.workers.append(worker)
        return worker

    async def start(self) -> BotWorker:
        """Start one worker and return it."""
        worker = self.worker()
        await worker.start()
        return worker

    async def stop(self) -> None:
        """Stop every running worker."""
        self.telegram.release_pollers()
        for worker in self.workers:
            await worker.stop()
