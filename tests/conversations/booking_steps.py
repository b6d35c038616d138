"""Shared steps of the booking dialogue tests: walk a chat to a step, read what the sandbox holds.

Also the test seam for network trouble: ``NetworkTransport`` puts the in-process sandbox
behind an httpx transport that honours read timeouts (``httpx.ASGITransport`` ignores
them) and can break chosen requests before or after the sandbox handled them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import httpx

from bot.skiplino import SkiplinoClient
from bot.testing.fake_api import ChatMessage
from conversations.session import Session
from sandbox import CustomerRecord, Sandbox, TicketRecord
from tests.fakes.harness import SECRET_KEY, Chat, Harness

# Where the sample company's appointment service sits (Seef Mall > Customer Service).
BRANCH = "Seef Mall"
APPOINTMENT_GROUP = "Customer Service"
APPOINTMENT_SERVICE = "Account Opening"
WALK_IN_GROUP = "Teller"
WALK_IN_SERVICE = "Cash Withdrawal"

QUIET_SECONDS = 0.02

STALE_LINE = "That button is from an earlier step; here is where you are now."
UNAVAILABLE_LINE = "The booking service is not answering right now."


class SteadyChat(Chat):
    """A chat driver that waits for the bot's card, not only for the answer to a tap.

    A callback query is answered before the engine runs, and ``wait_for_reply`` counts that
    answer as a reaction; on a slow machine an update that calls the API several times could
    then be read before its card arrives. Every action here waits for a sent or edited message.
    """

    async def send(self, text: str) -> ChatMessage:
        """Type ``text`` and return the bot's latest message once its card is shown."""
        await self.user.send(text)
        return await self.settle()

    async def tap(self, label: str | re.Pattern[str], message_id: int | None = None) -> ChatMessage:
        """Tap a button by label and return the bot's latest message once its card is shown."""
        await self.user.click(label, message_id)
        return await self.settle()

    async def tap_data(self, data: str, message_id: int | None = None) -> ChatMessage:
        """Send raw callback data and return the bot's latest message once its card is shown."""
        await self.user.click_data(data, message_id)
        return await self.settle()

    async def settle(self, timeout: float = 5.0) -> ChatMessage:  # noqa: ASYNC109
        """Wait until a card followed the user's last action and the chat went quiet."""
        await self.user.api.wait_until(self._card_shown, timeout=timeout)
        # The cards of one update are sent back to back under the chat's lock, so once the
        # first is there a short quiet spell is enough for the rest to land.
        await self.user.wait_for_reply(timeout=timeout, quiet=QUIET_SECONDS)
        return self.last

    def _card_shown(self) -> bool:
        """Tell whether a message was sent or edited after the user's last action."""
        events = self.user.transcript
        last_action = max((i for i, e in enumerate(events) if not e.from_bot), default=-1)
        return any(e.kind in ("sent", "edited") for e in events[last_action + 1 :])


def user(harness: Harness, user_id: int = 1001, **kwargs: str) -> SteadyChat:
    """Return a steady chat driver for a Telegram user of ``harness``."""
    kwargs.setdefault("first_name", "Layla")
    return SteadyChat(harness.telegram.user(user_id, **kwargs))


def day_label(day: date) -> str:
    """Return the label of a day button as an English user sees it ("Wed 2 Dec")."""
    return f"{day:%a} {day.day} {day:%b}"


def long_date(day: date) -> str:
    """Return a day as the cards write it in English ("2 December 2026")."""
    return f"{day.day} {day:%B %Y}"


async def open_booking(chat: Chat) -> ChatMessage:
    """Start over and open the branch list."""
    await chat.send("/start")
    return await chat.tap("Book a ticket")


async def to_walk_in_confirm(chat: Chat) -> ChatMessage:
    """Walk to the Confirm step of a walk-in at Seef Mall, Cash Withdrawal."""
    await open_booking(chat)
    await chat.tap(BRANCH)
    await chat.tap(WALK_IN_GROUP)
    await chat.tap(WALK_IN_SERVICE)
    return await chat.tap("Join the queue now")


async def to_date_step(chat: Chat) -> ChatMessage:
    """Walk to the date step of an appointment at Seef Mall, Account Opening."""
    await open_booking(chat)
    await chat.tap(BRANCH)
    await chat.tap(APPOINTMENT_GROUP)
    await chat.tap(APPOINTMENT_SERVICE)
    return await chat.tap("Book a time")


async def to_slot_step(chat: Chat, day: date) -> ChatMessage:
    """Walk to the slot list of ``day`` (one of the coming week's buttons)."""
    await to_date_step(chat)
    return await chat.tap(day_label(day))


def customer_of(sandbox: Sandbox, user_id: int) -> CustomerRecord | None:
    """Return the sandbox customer linked to a Telegram user (externalId ``tg-<id>``)."""
    return next((c for c in sandbox.customers if c.external_id == f"tg-{user_id}"), None)


def tickets_of(sandbox: Sandbox, user_id: int) -> list[TicketRecord]:
    """Return the tickets the sandbox holds for a Telegram user's customer."""
    customer = customer_of(sandbox, user_id)
    if customer is None:
        return []
    return [t for t in sandbox.tickets if t.customer_id == customer.id]


def calls(sandbox: Sandbox, method: str, path: str) -> int:
    """Count the API calls the sandbox received on ``method`` + a path regex (API-relative)."""
    pattern = re.compile(path)
    return sum(1 for r in sandbox.requests if r.method == method and pattern.fullmatch(r.api_path))


async def session_of(harness: Harness, chat: Chat) -> Session:
    """Return the chat's session as Redis holds it."""
    loaded = await harness.store().load(chat.user.id, chat.user.id)
    assert loaded.session is not None, "no session stored for the chat"
    return loaded.session


Effect = Literal["timeout", "connect", "502", "503"]


@dataclass
class Break:
    """Break matching requests: ``before`` the sandbox sees them, or ``after`` it answered."""

    method: str
    path: re.Pattern[str]
    effect: Effect
    when: Literal["before", "after"]
    times: int
    skip: int = 0  # let this many matching requests through first

    def matches(self, request: httpx.Request) -> bool:
        """Tell whether this break applies to ``request``."""
        api_path = request.url.path.removeprefix("/external/v1")
        return (
            self.times > 0 and request.method == self.method and bool(self.path.fullmatch(api_path))
        )


@dataclass
class Hook:
    """Run ``action`` once, right after the sandbox answered a matching request."""

    method: str
    path: re.Pattern[str]
    action: Callable[[], Awaitable[None]]


@dataclass
class NetworkTransport(httpx.AsyncBaseTransport):
    """The sandbox as if over a network: read timeouts apply, chosen requests break."""

    sandbox: Sandbox
    breaks: list[Break] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.inner = httpx.ASGITransport(app=self.sandbox.app)

    def fail(
        self,
        method: str,
        path: str,
        effect: Effect,
        *,
        when: Literal["before", "after"],
        times: int = 1,
        skip: int = 0,
    ) -> None:
        """Break ``times`` requests on ``method`` + path regex, after ``skip`` went through."""
        self.breaks.append(Break(method, re.compile(path), effect, when, times, skip))

    def then(self, method: str, path: str, action: Callable[[], Awaitable[None]]) -> None:
        """Run ``action`` once after the next request on ``method`` + path regex was answered."""
        self.hooks.append(Hook(method, re.compile(path), action))

    def _take(self, request: httpx.Request, when: str) -> Effect | None:
        """Use up one matching break of kind ``when``."""
        for item in self.breaks:
            if item.when == when and item.matches(request):
                if item.skip > 0:
                    item.skip -= 1
                    continue
                item.times -= 1
                return item.effect
        return None

    async def _run_hooks(self, request: httpx.Request) -> None:
        """Run (and forget) the hooks of ``request``."""
        api_path = request.url.path.removeprefix("/external/v1")
        for hook in list(self.hooks):
            if hook.method == request.method and hook.path.fullmatch(api_path):
                self.hooks.remove(hook)
                await hook.action()

    @staticmethod
    def _broken(request: httpx.Request, effect: Effect) -> httpx.Response:
        """Raise or answer the way ``effect`` says."""
        if effect == "timeout":
            raise httpx.ReadTimeout("read timed out", request=request)
        if effect == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(int(effect), json={"message": "Bad gateway.", "error": None})

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Forward to the sandbox within the read timeout, breaking where asked."""
        effect = self._take(request, "before")
        if effect is not None:
            return self._broken(request, effect)
        read = (request.extensions.get("timeout") or {}).get("read")
        try:
            async with asyncio.timeout(read):
                response = await self.inner.handle_async_request(request)
                await response.aread()
        except TimeoutError:
            raise httpx.ReadTimeout("read timed out", request=request) from None
        await self._run_hooks(request)
        effect = self._take(request, "after")
        if effect is not None:
            return self._broken(request, effect)
        return response


def network_client(transport: NetworkTransport, **options: float) -> SkiplinoClient:
    """Return an API client that talks to the sandbox through ``transport``."""
    settings: dict[str, float] = {"max_retries": 1, "backoff_base": 0.0, "timeout": 5.0}
    settings.update(options)
    return SkiplinoClient(
        base_url="http://sandbox/external/v1",
        api_key=SECRET_KEY,
        transport=transport,
        timeout=settings["timeout"],
        max_retries=int(settings["max_retries"]),
        backoff_base=settings["backoff_base"],
    )
