"""A whole bot for tests, driven like a person: the stack of `bot.testing.stack` plus chats.

Fakes sit only at the transport seams (see `bot.testing.stack`); a `Chat` sends, taps and
reads what the user sees, as aiogram-dialog's test client does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

from bot.app import build_application, build_engine
from bot.sessions.redis_store import RedisChatStore
from bot.telegram.webhook import create_webhook_app
from bot.testing.fake_api import ChatMessage, FakeBotAPI, FakeRequest, FakeUser
from bot.testing.stack import (
    SECRET_KEY,
    START,
    TOKEN,
    BotWorker,
    Clock,
    Stack,
    settings,
    skiplino_client,
)
from conversations.session import Session
from sandbox import Sandbox

__all__ = [
    "SECRET_KEY",
    "START",
    "TOKEN",
    "BotWorker",
    "Chat",
    "Clock",
    "Harness",
    "settings",
    "skiplino_client",
    "webhook_app",
]


def webhook_app(redis_url: str, prefix: str, secret: str, path: str) -> Starlette:
    """Return a webhook app of a bot on ``redis_url`` whose health probe pings that Redis."""
    store = RedisChatStore.from_url(redis_url, prefix=prefix, session_model=Session)
    engine = build_engine(settings(), store=store, api=skiplino_client(Sandbox(secret_key="k")))
    telegram = FakeBotAPI()
    application = build_application(
        settings(),
        engine,
        request=FakeRequest(telegram),
        updates_request=FakeRequest(telegram),
        token=TOKEN,
    )
    return create_webhook_app(application, secret, path, ready=store.ping)


@dataclass
class Harness(Stack):
    """The stack of one test, with chats that drive it."""

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
