"""A whole bot for tests: real Application and engine, fake Bot API, sandbox, real Redis.

Fakes sit only at the transport seams: PTB's request class (FakeBotAPI) and the Skiplino
HTTP transport (the sandbox app, in-process). Everything between is the product's code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import redis.asyncio as aioredis
from telegram.ext import Application

from bot.app import build_application, build_engine
from bot.sandbox import Sandbox
from bot.sessions.redis_store import RedisChatStore
from bot.sessions.store import ChatStore
from bot.settings import Settings
from bot.skiplino import SkiplinoClient
from bot.telegram.fake_api import ChatMessage, FakeBotAPI, FakeRequest, FakeUser
from conversations.engine import Engine

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

    engine: Engine
    application: Application  # type: ignore[type-arg]

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
class Harness:
    """The sandbox, the fake Bot API and the bot workers of one test."""

    redis: aioredis.Redis
    prefix: str
    clock: Clock = field(default_factory=Clock)
    sandbox: Sandbox = field(init=False)
    telegram: FakeBotAPI = field(default_factory=lambda: FakeBotAPI(quiet_period=0.08))
    workers: list[BotWorker] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sandbox = Sandbox(secret_key=SECRET_KEY, clock=self.clock)

    def store(self) -> ChatStore:
        """Return a store on the test's Redis keys."""
        return RedisChatStore(self.redis, prefix=self.prefix)

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

    def user(self, user_id: int = 1001, **kwargs: Any) -> Chat:
        """Return a chat driver for a Telegram user."""
        kwargs.setdefault("first_name", "Layla")
        return Chat(self.telegram.user(user_id, **kwargs))


@dataclass
class Chat:
    """Drive a chat like a person and read what they see."""

    user: FakeUser

    async def send(self, text: str) -> ChatMessage:
        """Type ``text`` and return the bot's latest message once it has answered."""
        mark = len(self.user.api.calls)
        await self.user.send(text)
        return await self.await_card(mark)

    async def tap(self, label: str | re.Pattern[str], message_id: int | None = None) -> ChatMessage:
        """Tap a button by its label and return the bot's latest message afterwards."""
        mark = len(self.user.api.calls)
        await self.user.click(label, message_id)
        return await self.await_card(mark)

    async def tap_data(self, data: str, message_id: int | None = None) -> ChatMessage:
        """Send a raw (stale or forged) callback and return the latest message afterwards."""
        mark = len(self.user.api.calls)
        await self.user.click_data(data, message_id)
        return await self.await_card(mark)

    async def await_card(self, mark: int, timeout: float = 5.0) -> ChatMessage:  # noqa: ASYNC109
        """Wait until the bot tried to show a card after call ``mark``, then went quiet.

        A callback query is answered before the engine runs, so the answer alone does not
        mean the card is there; an attempted send or edit (even one Telegram refuses as
        "not modified") does.
        """
        api, chat_id = self.user.api, self.user.id

        def card_attempted() -> bool:
            return any(
                call.method.lower() in ("sendmessage", "editmessagetext")
                and str(call.params.get("chat_id")) == str(chat_id)
                for call in api.calls[mark:]
            )

        await api.wait_until(card_attempted, timeout=timeout)
        await self.user.wait_for_reply(timeout=timeout)
        return self.user.last_message()

    @property
    def last(self) -> ChatMessage:
        """Return the bot's latest message."""
        return self.user.last_message()

    def labels(self) -> list[str]:
        """Return the labels of the latest message's buttons."""
        return [label for row in self.last.buttons for label in row]

    def times(self) -> list[str]:
        """Return the times of the latest slot list's buttons ("10:30 · 3 places left")."""
        return [label.split(" · ")[0] for label in self.labels()]
