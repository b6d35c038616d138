"""Own a fake Telegram Bot API: in-memory server state, the user side, and a PTB request class.

The console demo, the tests and the benchmarks talk to this instead of api.telegram.org.

- `FakeBotAPI` answers the Bot API methods the bot uses the way Telegram does: the
  ``{"ok": ..., "result": ...}`` envelope, HTTP status = ``error_code``, Telegram's error
  descriptions, the 4096-character and 64-byte ``callback_data`` limits, long polling with
  offset semantics. State lives in one asyncio loop; nothing here is thread-safe.
- `FakeUser` drives a private chat like a person (aiogram-dialog's ``BotClient`` style):
  ``send``, ``share_contact``, ``click`` a button by its label, read what the chat shows.
- `FakeRequest` plugs the fake into python-telegram-bot at its transport seam
  (``telegram.request.BaseRequest``), in-process. ``fake_server.py`` serves the same
  `FakeBotAPI` over HTTP.
- Webhooks: after ``setWebhook`` the fake POSTs every update as JSON to the URL, with the
  ``X-Telegram-Bot-Api-Secret-Token`` header, retrying a failed delivery a few times, and
  getUpdates answers 409 until ``deleteWebhook``. Call ``aclose()`` to stop delivering.

Must not import ``conversations`` or ``bot.skiplino``: the fake knows Telegram, not the product.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Literal, TypeVar

import httpx
from telegram.request import BaseRequest, RequestData

__all__ = [
    "ApiCall",
    "ApiResponse",
    "Button",
    "CallbackAnswer",
    "ChatMessage",
    "FakeBotAPI",
    "FakeRequest",
    "FakeUser",
    "TranscriptEvent",
    "WebhookDelivery",
    "normalize_params",
]

MAX_MESSAGE_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_COMMANDS = 100

# Telegram's own descriptions, so code that matches on them behaves as in production.
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
MESSAGE_TO_EDIT_NOT_FOUND = "Bad Request: message to edit not found"
MESSAGE_TO_DELETE_NOT_FOUND = "Bad Request: message to delete not found"
MESSAGE_CANT_BE_EDITED = "Bad Request: message can't be edited"
NO_TEXT_TO_EDIT = "Bad Request: there is no text in the message to edit"
# Telegram says "MESSAGE_TOO_LONG" for some edits; one wording keeps assertions simple.
MESSAGE_TOO_LONG = "Bad Request: message is too long"
MESSAGE_TEXT_EMPTY = "Bad Request: message text is empty"
CALLBACK_ANSWER_TOO_LONG = "Bad Request: MESSAGE_TOO_LONG"
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
BUTTON_DATA_INVALID = "Bad Request: BUTTON_DATA_INVALID"
BUTTON_TEXT_INVALID = "Bad Request: BUTTON_TEXT_INVALID"
TEXT_BUTTONS_UNALLOWED = "Bad Request: text buttons are unallowed in the inline keyboard"
BAD_MARKUP = "Bad Request: can't parse reply keyboard markup JSON object"
INLINE_MARKUP_REQUIRED = "Bad Request: inline keyboard expected"
CHAT_NOT_FOUND = "Bad Request: chat not found"
CHAT_ID_EMPTY = "Bad Request: chat_id is empty"
MESSAGE_ID_INVALID = "Bad Request: message identifier is not specified"
BOT_BLOCKED = "Forbidden: bot was blocked by the user"
BOT_COMMAND_INVALID = "Bad Request: BOT_COMMAND_INVALID"
# Telegram's exact wording for a bad description is undocumented; this names the field.
BOT_COMMAND_DESCRIPTION_INVALID = "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"
TOO_MANY_COMMANDS = "Bad Request: BOT_COMMANDS_TOO_MUCH"
CANT_PARSE_ENTITIES = "Bad Request: can't parse entities: "
GET_UPDATES_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
BAD_WEBHOOK_URL = "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
# Telegram's wording for a bad secret token is not documented; this names the field.
BAD_WEBHOOK_SECRET = "Bad Request: bad webhook: secret token contains unallowed characters"
NOT_FOUND = "Not Found"
UNAUTHORIZED = "Unauthorized"
WEBHOOK_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")

# Parameters whose values are strings in the Bot API. In form bodies (PTB's HTTP transport)
# every other value arrives JSON-encoded, so it is decoded; these must stay as they are
# ("123" as a text is text, not a number).
STRING_PARAMS = frozenset(
    {
        "text",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "action",
        "language_code",
        "url",
        "secret_token",
        "caption",
        "business_connection_id",
        "message_effect_id",
        "ip_address",
    }
)

# Methods whose success shows the user that the bot reacted (see `FakeUser.wait_for_reply`).
REPLY_METHODS = frozenset(
    {
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "deleteMessage",
        "answerCallbackQuery",
    }
)
# Methods that count towards `flood_every`.
FLOOD_METHODS = frozenset({"sendMessage", "editMessageText", "editMessageReplyMarkup"})

INLINE_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)

HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)

UpdateKind = Literal["message", "callback_query"]
EventKind = Literal[
    "user_text", "user_contact", "user_click", "sent", "edited", "deleted", "answered"
]
Json = dict[str, Any]
T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Public value types


@dataclass
class ApiCall:
    """One Bot API call as the fake received it, and how it was answered."""

    method: str
    params: Json
    seq: int = 0
    status: int = 0
    description: str | None = None

    @property
    def ok(self) -> bool:
        """Return whether the call succeeded."""
        return self.status == 200


@dataclass(frozen=True)
class ApiResponse:
    """An answer of the fake: the HTTP status and the JSON envelope."""

    status: int
    body: Json

    @property
    def payload(self) -> bytes:
        """Return the body as UTF-8 JSON bytes."""
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST of an update to the webhook, and how the bot's server answered it."""

    update_id: int
    attempt: int
    status: int | None  # None when the connection failed
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Return whether the server accepted the update (a 2xx answer)."""
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Button:
    """An inline keyboard button as the user sees it."""

    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    """A bot message in its current state (after edits), as the user sees it."""

    message_id: int
    text: str
    source: str
    parse_mode: str | None
    keyboard: tuple[tuple[Button, ...], ...]
    edited: bool

    @property
    def buttons(self) -> list[list[str]]:
        """Return the inline keyboard as rows of labels."""
        return [[button.text for button in row] for row in self.keyboard]

    def button(self, label: str | re.Pattern[str]) -> Button:
        """Return the button matching ``label`` (exact, then case-insensitive substring)."""
        return _find_button(self, label)


@dataclass(frozen=True)
class TranscriptEvent:
    """One thing that happened in a chat, in order.

    ``reply_keyboard`` is ``None`` when the message did not touch the reply keyboard and
    ``()`` when it removed it.
    """

    kind: EventKind
    message_id: int | None = None
    text: str | None = None
    buttons: tuple[tuple[str, ...], ...] = ()
    reply_keyboard: tuple[tuple[str, ...], ...] | None = None
    data: str | None = None
    show_alert: bool = False

    @property
    def from_bot(self) -> bool:
        """Return whether the bot (not the user) caused this event."""
        return not self.kind.startswith("user_")


@dataclass
class CallbackAnswer:
    """A callback query the user caused, and the bot's answer to it if any."""

    query_id: str
    user_id: int
    message_id: int
    data: str
    created_at: float
    answered: bool = False
    text: str | None = None
    show_alert: bool = False


# ---------------------------------------------------------------------------------------------
# Internal state


class _ApiError(Exception):
    """A Bot API error answer."""

    def __init__(self, status: int, description: str, parameters: Json | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def response(self) -> ApiResponse:
        """Return the envelope Telegram sends for this error."""
        body: Json = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return ApiResponse(self.status, body)


def _bad_request(description: str) -> _ApiError:
    """Return a 400 error."""
    return _ApiError(400, description)


@dataclass
class _Message:
    message_id: int
    chat_id: int
    from_bot: bool
    date: int
    text: str | None = None
    source: str | None = None
    parse_mode: str | None = None
    entities: list[Json] | None = None
    inline_keyboard: list[list[Json]] | None = None
    contact: Json | None = None
    edit_date: int | None = None
    deleted: bool = False


@dataclass
class _PendingUpdate:
    update_id: int
    kind: UpdateKind
    body: Json
    chat_id: int
    delivered_seq: int | None = None


@dataclass
class _Chat:
    user: FakeUser
    next_message_id: int = 1
    messages: dict[int, _Message] = field(default_factory=dict)
    transcript: list[TranscriptEvent] = field(default_factory=list)
    reply_keyboard: list[list[Json]] | None = None
    one_time_keyboard: bool = False
    last_activity: float = 0.0
    last_delivery_seq: int = 0
    last_reply_seq: int = 0
    user_event_count: int = 0


# ---------------------------------------------------------------------------------------------
# The fake server


class FakeBotAPI:
    """In-memory Telegram Bot API for one bot, used within one asyncio loop."""

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_id: int = 7_000_000_001,
        username: str = "skiplino_test_bot",
        first_name: str = "Skiplino Test",
        callback_ttl: float = 300.0,
        flood_every: int | None = None,
        flood_retry_after: int = 1,
        latency: float = 0.0,
        quiet_period: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        webhook_attempts: int = 3,
        webhook_retry_delay: float = 0.05,
        webhook_timeout: float = 10.0,
    ) -> None:
        """Create an empty fake; ``token=None`` accepts any token.

        A failed webhook delivery is tried ``webhook_attempts`` times in all, waiting
        ``webhook_retry_delay`` seconds, doubled each time, between tries; then the update
        is dropped, as Telegram gives up "after a reasonable amount of attempts".
        """
        if flood_every is not None and flood_every < 1:
            raise ValueError("flood_every must be at least 1")
        self.token = token
        self.bot_id = bot_id
        self.username = username
        self.first_name = first_name
        self.callback_ttl = callback_ttl
        self.flood_every = flood_every
        self.flood_retry_after = flood_retry_after
        self.latency = latency
        self.quiet_period = quiet_period
        self.calls: list[ApiCall] = []
        self.callback_answers: dict[str, CallbackAnswer] = {}
        # Set by setWebhook; a test may also set it directly to play a webhook left active
        # elsewhere (getUpdates then fails with 409, and nothing is delivered).
        self.webhook_url = ""
        self.webhook_attempts = max(webhook_attempts, 1)
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.webhook_deliveries: list[WebhookDelivery] = []
        self._webhook_secret: str | None = None
        self._webhook_max_connections = 40
        self._webhook_last_error: tuple[int, str] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._clock = clock
        self._chats: dict[int, _Chat] = {}
        self._updates: list[_PendingUpdate] = []
        self._update_ids = itertools.count(100_000_001)
        self._query_ids = itertools.count(4_200_000_000_000_001)
        self._auto_user_ids = itertools.count(1001)
        self._allowed_updates: frozenset[str] | None = None
        self._commands: dict[tuple[str, str], list[Json]] = {}
        self._seq = 0
        self._flood_count = 0
        self._last_activity = 0.0
        self._poll: asyncio.Future[str] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._listeners: list[Callable[[int, TranscriptEvent], None]] = []
        self._handlers: dict[str, Callable[[Json], Any]] = {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
        }
        self._method_names = {name.lower(): name for name in [*self._handlers, "getUpdates"]}

    # -- users ------------------------------------------------------------------------------

    def user(
        self,
        user_id: int | None = None,
        *,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> FakeUser:
        """Return the user with this id, creating them and their private chat if new."""
        if user_id is not None and user_id in self._chats:
            return self._chats[user_id].user
        if user_id is None:
            user_id = next(self._auto_user_ids)
            while user_id in self._chats:
                user_id = next(self._auto_user_ids)
        user = FakeUser(
            self,
            user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        self._chats[user_id] = _Chat(user=user)
        return user

    def transcript(self, chat_id: int) -> list[TranscriptEvent]:
        """Return a copy of everything that happened in the chat, in order."""
        return list(self._chat(chat_id).transcript)

    def subscribe(self, listener: Callable[[int, TranscriptEvent], None]) -> Callable[[], None]:
        """Call ``listener(chat_id, event)`` for every new transcript event; return unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def calls_of(self, method: str) -> list[ApiCall]:
        """Return the recorded calls of one method (case-insensitive name)."""
        wanted = method.lower()
        return [call for call in self.calls if call.method.lower() == wanted]

    def commands(
        self, language_code: str = "", scope: Mapping[str, Any] | None = None
    ) -> list[tuple[str, str]]:
        """Return the stored command list for a language and scope as (command, description)."""
        stored = self._commands.get((_scope_key(scope), language_code), [])
        return [(item["command"], item["description"]) for item in stored]

    @property
    def pending_updates(self) -> int:
        """Return how many updates wait to be confirmed by the bot."""
        return len(self._updates)

    # -- waiting ----------------------------------------------------------------------------

    # A deadline that ends in an AssertionError describing the state reads better in a
    # failing test than a bare TimeoutError from asyncio.timeout, hence the parameter.
    async def idle(self, quiet: float | None = None, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until every update was fetched and no bot call came for ``quiet`` seconds."""
        quiet = self.quiet_period if quiet is None else quiet
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            undelivered = sum(1 for update in self._updates if update.delivered_seq is None)
            calm = now - self._last_activity
            if not undelivered and calm >= quiet:
                return
            if now >= deadline:
                raise AssertionError(
                    f"the bot did not go idle within {timeout} s: "
                    f"{undelivered} update(s) not fetched, last call {calm:.3f} s ago"
                )
            wait = deadline - now if undelivered else min(quiet - calm, deadline - now)
            await self._wait_change(wait)

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - see idle()
    ) -> None:
        """Wait until ``predicate()`` holds, re-checking after every call and update."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"condition not met within {timeout} s")
            await self._wait_change(remaining)

    def release_pollers(self) -> None:
        """Make a waiting long poll return now (used when a transport shuts down)."""
        if self._poll is not None and not self._poll.done():
            self._poll.set_result("release")

    async def _wait_change(self, seconds: float) -> None:
        """Wait until state changes or ``seconds`` pass."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait([waiter], timeout=max(seconds, 0.0))
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _changed(self) -> None:
        """Wake everything waiting for a state change."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- entry point ------------------------------------------------------------------------

    async def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, token: str | None = None
    ) -> ApiResponse:
        """Answer one Bot API call like Telegram would."""
        canonical = self._method_names.get(method.lower())
        record = ApiCall(canonical or method, normalize_params(params or {}))
        self._seq += 1
        record.seq = self._seq
        self.calls.append(record)
        chat = self._chat_of_call(canonical, record.params)
        self._mark_activity(canonical, chat)
        try:
            if self.token is not None and token != self.token:
                raise _ApiError(401, UNAUTHORIZED)
            if canonical is None:
                raise _ApiError(404, NOT_FOUND)
            if canonical == "getUpdates":
                result: Any = await self._get_updates(record.params)
            else:
                if self.latency > 0:
                    await asyncio.sleep(self.latency)
                self._check_flood(canonical)
                result = self._handlers[canonical](record.params)
        except _ApiError as error:
            response = error.response()
        else:
            response = ApiResponse(200, {"ok": True, "result": result})
        record.status = response.status
        record.description = response.body.get("description")
        # Attribution may only be possible now (a sendMessage to a new chat) - recompute.
        chat = chat or self._chat_of_call(canonical, record.params)
        self._mark_activity(canonical, chat)
        if chat is not None and record.ok and canonical in REPLY_METHODS:
            chat.last_reply_seq = record.seq
        self._changed()
        return response

    def _chat_of_call(self, canonical: str | None, params: Json) -> _Chat | None:
        """Return the chat a call concerns, if any."""
        if canonical == "answerCallbackQuery":
            answer = self.callback_answers.get(str(params.get("callback_query_id")))
            return self._chats.get(answer.user_id) if answer else None
        chat_id = params.get("chat_id")
        return self._chats.get(chat_id) if isinstance(chat_id, int) else None

    def _mark_activity(self, canonical: str | None, chat: _Chat | None) -> None:
        """Remember that the bot just did something (long polls do not count)."""
        if canonical == "getUpdates":
            return
        now = time.monotonic()
        self._last_activity = now
        if chat is not None:
            chat.last_activity = now

    def _check_flood(self, canonical: str) -> None:
        """Answer every Nth send with 429, as Telegram's flood control does."""
        if self.flood_every is None or canonical not in FLOOD_METHODS:
            return
        self._flood_count += 1
        if self._flood_count % self.flood_every == 0:
            raise _ApiError(
                429,
                f"Too Many Requests: retry after {self.flood_retry_after}",
                {"retry_after": self.flood_retry_after},
            )

    # -- updates ----------------------------------------------------------------------------

    def _enqueue(self, chat: _Chat, kind: UpdateKind, payload: Json) -> int:
        """Queue an update for the bot and wake the long poll."""
        update_id = next(self._update_ids)
        body: Json = {"update_id": update_id, kind: payload}
        self._updates.append(_PendingUpdate(update_id, kind, body, chat.user.id))
        self._last_activity = time.monotonic()
        if self._poll is not None and not self._poll.done():
            self._poll.set_result("update")
        self._changed()
        return update_id

    async def _get_updates(self, params: Json) -> list[Json]:
        """Long-poll for updates with Telegram's offset and timeout semantics."""
        if self.webhook_url:
            raise _ApiError(409, WEBHOOK_CONFLICT)
        offset = _int_param(params, "offset", 0)
        limit = min(max(_int_param(params, "limit", 100), 1), 100)
        timeout = max(_float_param(params, "timeout", 0.0), 0.0)
        allowed = params.get("allowed_updates")
        # The newest long poll wins; Telegram ends the older one with 409.
        if self._poll is not None and not self._poll.done():
            self._poll.set_result("conflict")
        self._confirm(offset)
        if isinstance(allowed, list):
            # An empty list means "all the default kinds", like Telegram.
            self._allowed_updates = frozenset(str(kind) for kind in allowed) or None
        ready = self._deliverable(limit)
        if ready or timeout <= 0:
            return self._deliver(ready)
        poll: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._poll = poll
        try:
            await asyncio.wait([poll], timeout=timeout)
        finally:
            if self._poll is poll:
                self._poll = None
        if poll.done() and poll.result() == "conflict":
            raise _ApiError(409, GET_UPDATES_CONFLICT)
        return self._deliver(self._deliverable(limit))

    def _confirm(self, offset: int) -> None:
        """Forget the updates that ``offset`` confirms."""
        if offset > 0:
            self._updates = [update for update in self._updates if update.update_id >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _deliverable(self, limit: int) -> list[_PendingUpdate]:
        """Return up to ``limit`` updates, dropping kinds the bot does not want."""
        if self._allowed_updates is not None:
            allowed = self._allowed_updates
            self._updates = [update for update in self._updates if update.kind in allowed]
        return self._updates[:limit]

    def _deliver(self, updates: list[_PendingUpdate]) -> list[Json]:
        """Mark updates as fetched by the bot and return their bodies."""
        for update in updates:
            update.delivered_seq = self._seq
            chat = self._chats.get(update.chat_id)
            if chat is not None:
                chat.last_delivery_seq = self._seq
        if updates:
            self._changed()
        return [update.body for update in updates]

    # -- method handlers --------------------------------------------------------------------

    def _true(self, params: Json) -> bool:
        """Answer a method that only says yes."""
        return True

    def _bot_user(self) -> Json:
        """Return the bot as a Telegram User object."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def _get_me(self, params: Json) -> Json:
        """Answer getMe."""
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _set_webhook(self, params: Json) -> bool:
        """Answer setWebhook: start POSTing updates to the URL (an empty URL removes it)."""
        url = params.get("url", "")
        if not isinstance(url, str):
            raise _bad_request(BAD_WEBHOOK_URL)
        if not url:
            return self._delete_webhook(params)
        # Telegram wants HTTPS on port 443, 80, 88 or 8443; the fake also takes plain HTTP
        # on any port, since the bots it serves listen on loopback without certificates.
        if not url.startswith(("https://", "http://")):
            raise _bad_request(BAD_WEBHOOK_URL)
        secret = params.get("secret_token")
        if secret is not None and (
            not isinstance(secret, str) or not WEBHOOK_SECRET_PATTERN.fullmatch(secret)
        ):
            raise _bad_request(BAD_WEBHOOK_SECRET)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(str(kind) for kind in allowed) or None
        self._webhook_max_connections = min(max(_int_param(params, "max_connections", 40), 1), 100)
        if params.get("drop_pending_updates") is True:
            self._updates.clear()
        self.webhook_url = url
        self._webhook_secret = secret
        self._webhook_last_error = None
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(
                self._run_webhook(), name="fake-bot-api-webhook"
            )
        return True

    def _delete_webhook(self, params: Json) -> bool:
        """Answer deleteWebhook, dropping pending updates when asked."""
        # The delivery task sees the empty URL when `call` wakes it, and stops; an update
        # it was posting stays pending for getUpdates, as Telegram keeps unconfirmed ones.
        self.webhook_url = ""
        self._webhook_secret = None
        if params.get("drop_pending_updates") is True:
            self._updates.clear()
        return True

    def _get_webhook_info(self, params: Json) -> Json:
        """Answer getWebhookInfo."""
        info: Json = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = self._webhook_max_connections
            if self._allowed_updates is not None:
                info["allowed_updates"] = sorted(self._allowed_updates)
        if self._webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        return info

    # -- webhook delivery -------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop delivering to the webhook (the URL stays set, so getUpdates still gets 409)."""
        task, self._webhook_task = self._webhook_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run_webhook(self) -> None:
        """POST pending updates to the webhook until it is deleted.

        Like Telegram, several updates may be in flight at once (up to ``max_connections``),
        but one chat's updates go one after the other, in order.
        """
        in_flight: dict[int, asyncio.Task[None]] = {}
        busy_chats: set[int] = set()
        async with httpx.AsyncClient(timeout=self.webhook_timeout) as client:
            try:
                while self.webhook_url:
                    for update in self._deliverable(len(self._updates)):
                        if len(in_flight) >= self._webhook_max_connections:
                            break
                        if update.update_id in in_flight or update.chat_id in busy_chats:
                            continue
                        busy_chats.add(update.chat_id)
                        in_flight[update.update_id] = asyncio.create_task(
                            self._post_update(client, update, in_flight, busy_chats)
                        )
                    await self._wait_change(1.0)
            finally:
                for task in in_flight.values():
                    task.cancel()
                await asyncio.gather(*in_flight.values(), return_exceptions=True)

    async def _post_update(
        self,
        client: httpx.AsyncClient,
        update: _PendingUpdate,
        in_flight: dict[int, asyncio.Task[None]],
        busy_chats: set[int],
    ) -> None:
        """Deliver one update with retries; forget it once accepted or given up."""
        # Stays False when the webhook is deleted or delivery stops half-way: the update
        # then waits for getUpdates, as Telegram keeps every unconfirmed update.
        finished = False
        try:
            for attempt in range(1, self.webhook_attempts + 1):
                if attempt > 1:
                    await asyncio.sleep(self.webhook_retry_delay * 2 ** (attempt - 2))
                url, secret = self.webhook_url, self._webhook_secret
                if not url:
                    return
                self._deliver([update])
                headers = {"Content-Type": "application/json"}
                if secret:
                    headers[WEBHOOK_SECRET_HEADER] = secret
                payload = json.dumps(update.body, ensure_ascii=False).encode("utf-8")
                try:
                    response = await client.post(url, content=payload, headers=headers)
                except httpx.HTTPError as exc:
                    error = f"Connection failed: {type(exc).__name__}"
                    self.webhook_deliveries.append(
                        WebhookDelivery(update.update_id, attempt, None, error)
                    )
                else:
                    delivery = WebhookDelivery(update.update_id, attempt, response.status_code)
                    self.webhook_deliveries.append(delivery)
                    if delivery.ok:
                        finished = True
                        return
                    error = (
                        "Wrong response from the webhook: "
                        f"{response.status_code} {response.reason_phrase}"
                    )
                self._webhook_last_error = (int(time.time()), error)
            # Given up: like Telegram, the update is not offered again.
            finished = True
        finally:
            if finished:
                self._updates = [pending for pending in self._updates if pending is not update]
            del in_flight[update.update_id]
            busy_chats.discard(update.chat_id)
            self._changed()

    def _send_message(self, params: Json) -> Json:
        """Answer sendMessage."""
        chat = self._target_chat(params)
        source, text, parse_mode = self._message_text(params)
        markup = params.get("reply_markup")
        inline = _inline_keyboard(markup)
        reply_keyboard = None if inline is not None else _reply_keyboard(markup)
        message = self._new_message(chat, from_bot=True)
        message.text, message.source, message.parse_mode = text, source, parse_mode
        message.inline_keyboard = inline
        if isinstance(params.get("entities"), list):
            message.entities = params["entities"]
        touched_keyboard: tuple[tuple[str, ...], ...] | None = None
        if reply_keyboard is not None:
            rows, one_time = reply_keyboard
            chat.reply_keyboard = rows or None
            chat.one_time_keyboard = one_time
            touched_keyboard = _label_rows(rows)
        self._record(
            chat,
            TranscriptEvent(
                "sent",
                message.message_id,
                text,
                _label_rows(inline),
                reply_keyboard=touched_keyboard,
            ),
        )
        return self._message_json(message)

    def _edit_message_text(self, params: Json) -> Json:
        """Answer editMessageText; without reply_markup the inline keyboard goes, as in Telegram."""
        chat, message = self._message_to_edit(params)
        if message.text is None:
            raise _bad_request(NO_TEXT_TO_EDIT)
        source, text, parse_mode = self._message_text(params)
        inline = _inline_keyboard(params.get("reply_markup"), inline_only=True)
        if (text, source, inline) == (message.text, message.source, message.inline_keyboard):
            raise _bad_request(NOT_MODIFIED)
        message.text, message.source, message.parse_mode = text, source, parse_mode
        message.inline_keyboard = inline
        return self._edited(chat, message)

    def _edit_message_reply_markup(self, params: Json) -> Json:
        """Answer editMessageReplyMarkup; a missing markup removes the keyboard."""
        chat, message = self._message_to_edit(params)
        inline = _inline_keyboard(params.get("reply_markup"), inline_only=True)
        if inline == message.inline_keyboard:
            raise _bad_request(NOT_MODIFIED)
        message.inline_keyboard = inline
        return self._edited(chat, message)

    def _edited(self, chat: _Chat, message: _Message) -> Json:
        """Stamp an edit, record it and return the message."""
        message.edit_date = int(time.time())
        self._record(
            chat,
            TranscriptEvent(
                "edited", message.message_id, message.text, _label_rows(message.inline_keyboard)
            ),
        )
        return self._message_json(message)

    def _delete_message(self, params: Json) -> bool:
        """Answer deleteMessage (bots may delete both sides of a private chat)."""
        chat = self._target_chat(params)
        message = chat.messages.get(_int_param(params, "message_id", 0))
        if message is None or message.deleted:
            raise _bad_request(MESSAGE_TO_DELETE_NOT_FOUND)
        message.deleted = True
        self._record(chat, TranscriptEvent("deleted", message.message_id, message.text))
        return True

    def _answer_callback_query(self, params: Json) -> bool:
        """Answer answerCallbackQuery: once per query, within ``callback_ttl`` seconds."""
        answer = self.callback_answers.get(str(params.get("callback_query_id", "")))
        if (
            answer is None
            or answer.answered
            or self._clock() - answer.created_at > self.callback_ttl
        ):
            raise _bad_request(QUERY_TOO_OLD)
        text = params.get("text")
        if isinstance(text, str) and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad_request(CALLBACK_ANSWER_TOO_LONG)
        answer.answered = True
        answer.text = text if isinstance(text, str) else None
        answer.show_alert = params.get("show_alert") is True
        chat = self._chats.get(answer.user_id)
        if chat is not None:
            self._record(
                chat,
                TranscriptEvent(
                    "answered",
                    answer.message_id,
                    answer.text,
                    data=answer.data,
                    show_alert=answer.show_alert,
                ),
            )
        return True

    def _send_chat_action(self, params: Json) -> bool:
        """Answer sendChatAction (recorded in `calls` only: it leaves nothing in the chat)."""
        self._target_chat(params)
        return True

    def _set_my_commands(self, params: Json) -> bool:
        """Answer setMyCommands, storing the list per scope and language."""
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("Bad Request: commands must be an array")
        if len(commands) > MAX_COMMANDS:
            raise _bad_request(TOO_MANY_COMMANDS)
        stored: list[Json] = []
        for item in commands:
            if not isinstance(item, dict):
                raise _bad_request(BOT_COMMAND_INVALID)
            command, description = item.get("command"), item.get("description")
            if not isinstance(command, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", command):
                raise _bad_request(BOT_COMMAND_INVALID)
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise _bad_request(BOT_COMMAND_DESCRIPTION_INVALID)
            stored.append({"command": command, "description": description})
        self._commands[self._commands_key(params)] = stored
        return True

    def _get_my_commands(self, params: Json) -> list[Json]:
        """Answer getMyCommands."""
        return [dict(item) for item in self._commands.get(self._commands_key(params), [])]

    def _delete_my_commands(self, params: Json) -> bool:
        """Answer deleteMyCommands."""
        self._commands.pop(self._commands_key(params), None)
        return True

    @staticmethod
    def _commands_key(params: Json) -> tuple[str, str]:
        """Return the storage key of a command list: scope and language."""
        scope = params.get("scope")
        language = params.get("language_code")
        return (
            _scope_key(scope if isinstance(scope, dict) else None),
            language if isinstance(language, str) else "",
        )

    # -- helpers of the handlers ------------------------------------------------------------

    def _chat(self, chat_id: int) -> _Chat:
        """Return a known chat or fail like a test assertion."""
        try:
            return self._chats[chat_id]
        except KeyError:
            raise AssertionError(f"no user/chat {chat_id} in the fake Bot API") from None

    def _target_chat(self, params: Json) -> _Chat:
        """Return the chat named by ``chat_id``, failing like Telegram."""
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad_request(CHAT_ID_EMPTY)
        # Private chats cannot be addressed by @username, so only ids resolve.
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise _bad_request(CHAT_NOT_FOUND)
        if chat.user.blocked:
            raise _ApiError(403, BOT_BLOCKED)
        return chat

    def _message_to_edit(self, params: Json) -> tuple[_Chat, _Message]:
        """Return the bot message an edit names, failing like Telegram."""
        if params.get("inline_message_id"):
            # The fake has no inline mode, so no inline message can exist.
            raise _bad_request(MESSAGE_TO_EDIT_NOT_FOUND)
        chat = self._target_chat(params)
        if params.get("message_id") is None:
            raise _bad_request(MESSAGE_ID_INVALID)
        message = chat.messages.get(_int_param(params, "message_id", 0))
        if message is None or message.deleted:
            raise _bad_request(MESSAGE_TO_EDIT_NOT_FOUND)
        if not message.from_bot:
            raise _bad_request(MESSAGE_CANT_BE_EDITED)
        return chat, message

    @staticmethod
    def _message_text(params: Json) -> tuple[str, str, str | None]:
        """Return (source, visible text, parse mode) of a text parameter, validated."""
        source = params.get("text")
        if not isinstance(source, str):
            raise _bad_request(MESSAGE_TEXT_EMPTY)
        parse_mode = params.get("parse_mode")
        parse_mode = parse_mode if isinstance(parse_mode, str) and parse_mode else None
        text = _visible_text(source, parse_mode).strip()
        if not text:
            raise _bad_request(MESSAGE_TEXT_EMPTY)
        # Telegram counts characters after entity parsing; so do we.
        if len(text) > MAX_MESSAGE_LENGTH:
            raise _bad_request(MESSAGE_TOO_LONG)
        return source, text, parse_mode

    def _new_message(self, chat: _Chat, *, from_bot: bool) -> _Message:
        """Create the next message of a chat (both sides share one id sequence)."""
        message = _Message(
            message_id=chat.next_message_id,
            chat_id=chat.user.id,
            from_bot=from_bot,
            date=int(time.time()),
        )
        chat.next_message_id += 1
        chat.messages[message.message_id] = message
        return message

    def _record(self, chat: _Chat, event: TranscriptEvent) -> None:
        """Append an event to a chat's transcript and tell the listeners."""
        chat.transcript.append(event)
        if not event.from_bot:
            chat.user_event_count = len(chat.transcript)
        for listener in list(self._listeners):
            listener(chat.user.id, event)

    def _message_json(self, message: _Message) -> Json:
        """Return a message as a Telegram Message object."""
        chat = self._chat(message.chat_id)
        body: Json = {
            "message_id": message.message_id,
            "from": self._bot_user() if message.from_bot else chat.user.as_json(),
            "chat": chat.user.chat_json(),
            "date": message.date,
        }
        if message.edit_date is not None:
            body["edit_date"] = message.edit_date
        if message.text is not None:
            body["text"] = message.text
        if message.entities:
            body["entities"] = message.entities
        if message.contact is not None:
            body["contact"] = message.contact
        # Telegram echoes only inline keyboards back in Message objects.
        if message.inline_keyboard:
            body["reply_markup"] = {"inline_keyboard": message.inline_keyboard}
        return body

    def _view(self, message: _Message) -> ChatMessage:
        """Return what the user sees of a bot message."""
        return ChatMessage(
            message_id=message.message_id,
            text=message.text or "",
            source=message.source or message.text or "",
            parse_mode=message.parse_mode,
            keyboard=tuple(
                tuple(
                    Button(
                        text=str(button.get("text", "")),
                        callback_data=button.get("callback_data"),
                        url=button.get("url"),
                    )
                    for button in row
                )
                for row in message.inline_keyboard or []
            ),
            edited=message.edit_date is not None,
        )


# ---------------------------------------------------------------------------------------------
# The user side


class FakeUser:
    """A person in a private chat with the bot: acts, then reads what the chat shows.

    Every action returns once its update is queued; ``await user.wait_for_reply()`` then
    waits for the bot to react.
    """

    def __init__(
        self,
        api: FakeBotAPI,
        user_id: int,
        *,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> None:
        """Create a user; use `FakeBotAPI.user` instead of calling this."""
        self.api = api
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.blocked = False

    def __repr__(self) -> str:
        """Return a short description for test output."""
        return f"FakeUser(id={self.id}, first_name={self.first_name!r})"

    @property
    def _chat(self) -> _Chat:
        return self.api._chat(self.id)

    def as_json(self) -> Json:
        """Return the user as a Telegram User object."""
        body: Json = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            body["last_name"] = self.last_name
        if self.username:
            body["username"] = self.username
        if self.language_code:
            body["language_code"] = self.language_code
        return body

    def chat_json(self) -> Json:
        """Return the private chat with this user as a Telegram Chat object."""
        body: Json = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            body["last_name"] = self.last_name
        if self.username:
            body["username"] = self.username
        return body

    # -- actions ----------------------------------------------------------------------------

    async def send(self, text: str) -> int:
        """Type and send a text message; a leading "/command" gets a bot_command entity."""
        if not text.strip():
            raise ValueError("a Telegram client cannot send an empty message")
        chat = self._chat
        message = self.api._new_message(chat, from_bot=False)
        message.text = message.source = text
        command = re.match(r"/[^\s]+", text)
        if command:
            message.entities = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command.group())}
            ]
        self._hide_one_time_keyboard()
        self.api._record(chat, TranscriptEvent("user_text", message.message_id, text))
        self.api._enqueue(chat, "message", self.api._message_json(message))
        return message.message_id

    async def share_contact(
        self,
        phone: str,
        user_id: int | None = None,
        *,
        first_name: str | None = None,
        omit_user_id: bool = False,
    ) -> int:
        """Share a contact: by default the user's own (as the request_contact button does)."""
        chat = self._chat
        contact: Json = {"phone_number": phone, "first_name": first_name or self.first_name}
        if self.last_name and first_name is None:
            contact["last_name"] = self.last_name
        if not omit_user_id:
            contact["user_id"] = self.id if user_id is None else user_id
        message = self.api._new_message(chat, from_bot=False)
        message.contact = contact
        self._hide_one_time_keyboard()
        self.api._record(chat, TranscriptEvent("user_contact", message.message_id, phone))
        self.api._enqueue(chat, "message", self.api._message_json(message))
        return message.message_id

    async def press(self, label: str | re.Pattern[str]) -> int:
        """Press a button of the reply keyboard (sends its text, or the contact it requests)."""
        rows = self._chat.reply_keyboard
        if not rows:
            raise AssertionError(f"{self!r} has no reply keyboard to press {label!r} on")
        buttons = [button for row in rows for button in row]
        button = _match_one(
            buttons, lambda item: str(item.get("text", "")), label, _label_rows(rows)
        )
        if button.get("request_contact") is True:
            raise AssertionError(
                f"button {button.get('text')!r} requests the contact: "
                "use share_contact(phone) to share it"
            )
        return await self.send(str(button.get("text", "")))

    async def click(self, label: str | re.Pattern[str], message_id: int | None = None) -> str:
        """Click an inline button by its label; return the callback query id."""
        message = self._clickable(message_id)
        button = _find_button(self.api._view(message), label)
        if button.callback_data is None:
            raise AssertionError(f"button {button.text!r} is not a callback button")
        return self._enqueue_callback(message, button.callback_data)

    async def click_data(self, data: str, message_id: int | None = None) -> str:
        """Send a callback query with any data (forged or stale) from a bot message."""
        return self._enqueue_callback(self._clickable(message_id), data)

    def block(self) -> None:
        """Block the bot: its sends to this user fail with 403 from now on."""
        self.blocked = True

    def unblock(self) -> None:
        """Unblock the bot."""
        self.blocked = False

    def _hide_one_time_keyboard(self) -> None:
        """Hide a one-time reply keyboard once the user has sent something."""
        chat = self._chat
        if chat.one_time_keyboard:
            chat.reply_keyboard = None
            chat.one_time_keyboard = False

    def _clickable(self, message_id: int | None) -> _Message:
        """Return the bot message to click on: the given one or the newest with a keyboard."""
        chat = self._chat
        if message_id is not None:
            message = chat.messages.get(message_id)
            if message is None or message.deleted or not message.from_bot:
                raise AssertionError(f"no bot message {message_id} in the chat of {self!r}")
            return message
        for message in reversed(chat.messages.values()):
            if message.from_bot and not message.deleted and message.inline_keyboard:
                return message
        raise AssertionError(f"no bot message with an inline keyboard in the chat of {self!r}")

    def _enqueue_callback(self, message: _Message, data: str) -> str:
        """Queue a callback_query update from a message."""
        chat = self._chat
        query_id = str(next(self.api._query_ids))
        self.api.callback_answers[query_id] = CallbackAnswer(
            query_id=query_id,
            user_id=self.id,
            message_id=message.message_id,
            data=data,
            created_at=self.api._clock(),
        )
        self.api._record(chat, TranscriptEvent("user_click", message.message_id, data=data))
        self.api._enqueue(
            chat,
            "callback_query",
            {
                "id": query_id,
                "from": self.as_json(),
                "message": self.api._message_json(message),
                "chat_instance": str(-self.id),
                "data": data,
            },
        )
        return query_id

    # -- what the user sees -----------------------------------------------------------------

    def messages(self) -> list[ChatMessage]:
        """Return the bot messages still in the chat, in their current state."""
        chat = self._chat
        return [
            self.api._view(message)
            for message in chat.messages.values()
            if message.from_bot and not message.deleted
        ]

    def last_message(self) -> ChatMessage:
        """Return the newest bot message still in the chat."""
        messages = self.messages()
        if not messages:
            raise AssertionError(f"the bot has no message in the chat of {self!r}")
        return messages[-1]

    def reply_keyboard(self) -> list[list[str]] | None:
        """Return the reply keyboard shown under the input field as label rows, if any."""
        rows = self._chat.reply_keyboard
        return [list(row) for row in _label_rows(rows)] if rows else None

    @property
    def transcript(self) -> list[TranscriptEvent]:
        """Return everything that happened in this chat, in order."""
        return list(self._chat.transcript)

    def unanswered_callbacks(self) -> list[CallbackAnswer]:
        """Return this user's callback queries the bot has not answered (spinner still on)."""
        return [
            answer
            for answer in self.api.callback_answers.values()
            if answer.user_id == self.id and not answer.answered
        ]

    async def wait_for_reply(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109 - fails with a report, see FakeBotAPI.idle()
        quiet: float | None = None,
    ) -> list[TranscriptEvent]:
        """Wait until the bot fetched this user's updates, reacted, then stayed quiet.

        "Reacted" means a successful send, edit, delete or callback answer in this chat
        after the last update was fetched; "quiet" means no call about this chat for
        ``quiet`` seconds (default `FakeBotAPI.quiet_period`), so follow-up edits land
        too. Return the bot's events since the user's last action.
        """
        api = self.api
        quiet = api.quiet_period if quiet is None else quiet
        deadline = time.monotonic() + timeout
        while True:
            chat = self._chat
            now = time.monotonic()
            unfetched = [
                update
                for update in api._updates
                if update.chat_id == self.id and update.delivered_seq is None
            ]
            reacted = chat.last_reply_seq > chat.last_delivery_seq
            calm = now - chat.last_activity
            if not unfetched and reacted and calm >= quiet:
                return [event for event in chat.transcript[chat.user_event_count :]]
            if now >= deadline:
                raise AssertionError(self._no_reply_report(timeout, len(unfetched), reacted))
            wait = deadline - now
            if not unfetched and reacted:
                wait = min(wait, quiet - calm)
            await api._wait_change(wait)

    def _no_reply_report(self, timeout: float, unfetched: int, reacted: bool) -> str:
        """Describe why the bot did not answer in time."""
        lines = [f"the bot did not reply to {self!r} within {timeout} s"]
        if unfetched:
            lines.append(f"{unfetched} update(s) were never fetched (is the bot polling?)")
        elif not reacted:
            lines.append("its updates were fetched but nothing was sent, edited or answered")
        failed = [
            call
            for call in self.api.calls[-50:]
            if not call.ok and call.params.get("chat_id") == self.id
        ]
        lines.extend(f"failed: {call.method} -> {call.description}" for call in failed[-5:])
        return "; ".join(lines)


# ---------------------------------------------------------------------------------------------
# The PTB transport


class FakeRequest(BaseRequest):
    """A python-telegram-bot request class that answers from a `FakeBotAPI`, in-process."""

    def __init__(self, api: FakeBotAPI) -> None:
        """Bind the request class to a fake (the base URL of the Bot object is ignored)."""
        self.api = api

    @property
    def read_timeout(self) -> float | None:
        """Return the default read timeout (no network: only long polls wait)."""
        return 5.0

    async def initialize(self) -> None:
        """Do nothing: there is no connection pool."""

    async def shutdown(self) -> None:
        """Release a long poll of this process so shutdown is prompt."""
        self.api.release_pollers()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Route ``.../bot<token>/<method>`` to the fake and return its status and body."""
        token, api_method = split_bot_url(url)
        if api_method is None:
            return 404, ApiResponse(404, _not_found_body()).payload
        params = request_data.parameters if request_data is not None else {}
        response = await self.api.call(api_method, params, token=token)
        return response.status, response.payload


def split_bot_url(url: str) -> tuple[str | None, str | None]:
    """Return (token, method) of a Bot API URL like ``https://host/bot<token>/<method>``."""
    path = url.split("?", 1)[0].rstrip("/")
    head, _, method = path.rpartition("/")
    token_segment = head.rpartition("/")[2]
    if not method or not token_segment.startswith("bot"):
        return None, None
    return token_segment[3:], method


def _not_found_body() -> Json:
    """Return Telegram's body for an unknown method or path."""
    return {"ok": False, "error_code": 404, "description": NOT_FOUND}


# ---------------------------------------------------------------------------------------------
# Parameter and markup helpers


def normalize_params(raw: Mapping[str, Any]) -> Json:
    """Return Bot API parameters with JSON-encoded values decoded.

    PTB's in-process ``RequestData.parameters`` are already Python values; form bodies carry
    every non-string value JSON-encoded (``reply_markup``, ``chat_id``, ``show_alert``), and
    JSON bodies may still carry ``reply_markup`` as a string. One rule covers all three.
    """
    params: Json = {}
    for name, value in raw.items():
        if value is None:
            continue
        if isinstance(value, str) and name not in STRING_PARAMS:
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        params[name] = value
    return params


def _int_param(params: Json, name: str, default: int) -> int:
    """Return an integer parameter, 400 if it is not one."""
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad_request(f"Bad Request: invalid {name} specified")
    return int(value)


def _float_param(params: Json, name: str, default: float) -> float:
    """Return a numeric parameter, 400 if it is not one."""
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad_request(f"Bad Request: invalid {name} specified")
    return float(value)


def _scope_key(scope: Mapping[str, Any] | None) -> str:
    """Return a canonical key of a BotCommandScope (absent means the default scope)."""
    return json.dumps(dict(scope) if scope else {"type": "default"}, sort_keys=True)


def _inline_keyboard(markup: object, *, inline_only: bool = False) -> list[list[Json]] | None:
    """Return a validated inline keyboard, or None when the markup is something else."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad_request(BAD_MARKUP)
    rows = markup.get("inline_keyboard")
    if rows is None:
        if inline_only:
            raise _bad_request(INLINE_MARKUP_REQUIRED)
        return None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad_request(BAD_MARKUP)
    keyboard: list[list[Json]] = []
    for row in rows:
        buttons: list[Json] = []
        for button in row:
            if not isinstance(button, dict):
                raise _bad_request(BAD_MARKUP)
            if not isinstance(button.get("text"), str) or not button["text"]:
                raise _bad_request(BUTTON_TEXT_INVALID)
            if not any(action in button for action in INLINE_BUTTON_ACTIONS):
                raise _bad_request(TEXT_BUTTONS_UNALLOWED)
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not (
                    1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
                ):
                    raise _bad_request(BUTTON_DATA_INVALID)
            buttons.append({key: value for key, value in button.items() if value is not None})
        if buttons:
            keyboard.append(buttons)
    return keyboard or None


def _reply_keyboard(markup: object) -> tuple[list[list[Json]], bool] | None:
    """Return (rows, one_time) for a reply keyboard, ([], False) for a removal, else None."""
    if not isinstance(markup, dict):
        return None
    if markup.get("remove_keyboard") is True:
        return [], False
    rows = markup.get("keyboard")
    if rows is None:
        return None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad_request(BAD_MARKUP)
    keyboard: list[list[Json]] = []
    for row in rows:
        # The Bot API allows plain strings as text-only buttons.
        buttons = [{"text": item} if isinstance(item, str) else item for item in row]
        for button in buttons:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise _bad_request(BAD_MARKUP)
            if not button["text"]:
                raise _bad_request(BUTTON_TEXT_INVALID)
        keyboard.append(buttons)
    return keyboard, markup.get("one_time_keyboard") is True


def _label_rows(rows: list[list[Json]] | None) -> tuple[tuple[str, ...], ...]:
    """Return the labels of keyboard rows."""
    return tuple(tuple(str(button.get("text", "")) for button in row) for row in rows or [])


def _find_button(message: ChatMessage, label: str | re.Pattern[str]) -> Button:
    """Return the inline button matching a label, or fail listing the labels there are."""
    buttons = [button for row in message.keyboard for button in row]
    return _match_one(
        buttons,
        lambda button: button.text,
        label,
        tuple(tuple(row) for row in message.buttons),
        where=f"message {message.message_id}",
    )


def _match_one(
    items: list[T],
    text_of: Callable[[T], str],
    label: str | re.Pattern[str],
    rows: tuple[tuple[str, ...], ...],
    where: str = "the reply keyboard",
) -> T:
    """Pick the one item whose text matches: exact, then case-insensitive substring."""
    if isinstance(label, re.Pattern):
        matches = [item for item in items if label.search(text_of(item))]
    else:
        matches = [item for item in items if text_of(item) == label]
        if matches:
            return matches[0]
        wanted = label.casefold()
        matches = [item for item in items if wanted in text_of(item).casefold()]
    if len(matches) == 1:
        return matches[0]
    shown = " | ".join(" ".join(f"[{text}]" for text in row) for row in rows) or "(none)"
    if matches:
        found = ", ".join(repr(text_of(item)) for item in matches)
        raise AssertionError(f"{label!r} matches several buttons on {where}: {found}")
    raise AssertionError(f"no button {label!r} on {where}; buttons: {shown}")


def _utf16_len(text: str) -> int:
    """Return the length in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


class _EntityError(Exception):
    """Telegram could not parse the formatting of a text."""


class _TelegramHTML(HTMLParser):
    """Parse the HTML subset Telegram accepts; collect the visible text."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.parts: list[str] = []
        self.open_tags: list[str] = []
        self._line_starts = [0] + [match.end() for match in re.finditer("\n", source)]

    def byte_offset(self) -> int:
        """Return the UTF-8 byte offset of the parser's position."""
        line, column = self.getpos()
        index = self._line_starts[line - 1] + column
        return len(self.source[:index].encode("utf-8"))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Accept a supported tag, reject anything else like Telegram."""
        if tag not in HTML_TAGS:
            raise _EntityError(f'Unsupported start tag "{tag}" at byte offset {self.byte_offset()}')
        self.open_tags.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Reject self-closing tags such as <br/>: Telegram has none."""
        raise _EntityError(f'Unsupported start tag "{tag}" at byte offset {self.byte_offset()}')

    def handle_endtag(self, tag: str) -> None:
        """Close the innermost open tag, which must be this one."""
        if not self.open_tags:
            raise _EntityError(f"Unexpected end tag at byte offset {self.byte_offset()}")
        if self.open_tags[-1] != tag:
            raise _EntityError(
                f"Unmatched end tag at byte offset {self.byte_offset()}, "
                f'expected "</{self.open_tags[-1]}>", found "</{tag}>"'
            )
        self.open_tags.pop()

    def handle_data(self, data: str) -> None:
        """Collect visible text."""
        self.parts.append(data)


def _visible_text(source: str, parse_mode: str | None) -> str:
    """Return the text the user sees: HTML is parsed and checked as Telegram does.

    Markdown modes are recorded but not parsed: their text is shown as sent.
    """
    if parse_mode is None or parse_mode.upper() != "HTML":
        return source
    parser = _TelegramHTML(source)
    try:
        parser.feed(source)
        parser.close()
        if parser.open_tags:
            raise _EntityError(
                f'Can\'t find end tag corresponding to start tag "{parser.open_tags[-1]}"'
            )
    except _EntityError as error:
        raise _bad_request(CANT_PARSE_ENTITIES + str(error)) from None
    return "".join(parser.parts)
