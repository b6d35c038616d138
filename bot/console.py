"""Own ``skiplino-bot console``: chat with the real bot in a terminal, with no network at all.

The same Application, engine and conversations as ``skiplino-bot run``, wired to the
in-process fake Telegram Bot API (`FakeBotAPI` + `FakeRequest`) and to the sandbox running
in-process (httpx's ASGI transport). Sessions live in memory, or in Redis when ``REDIS_URL``
is set explicitly. The chat is read through `FakeBotAPI.subscribe`: new messages and edits
are printed as they happen, inline buttons are numbered and chosen by typing the number.

With a terminal on stdin the user types; otherwise lines are read from stdin one at a time,
each only after the bot has answered the previous one, so a file or pipe scripts a dialogue.

Must not import the conversation flows: like a person, it only sees what the chat shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import Literal, TextIO

import httpx

from bot.app import build_application, build_engine, make_translator
from bot.i18n import Msg, Translator, resolve_locale
from bot.logs import setup_logging
from bot.sessions.models import Profile
from bot.sessions.redis_store import RedisChatStore
from bot.sessions.store import ChatStore, StoreUnavailable
from bot.settings import Settings
from bot.skiplino import SkiplinoClient
from bot.telegram.handlers import AnyApplication
from bot.testing.fake_api import ChatMessage, FakeBotAPI, FakeRequest, FakeUser, TranscriptEvent
from bot.testing.memory_store import MemoryChatStore
from conversations.session import Session
from sandbox import Sandbox

# The Bot API fake accepts any token; PTB only needs a non-empty one.
CONSOLE_TOKEN = "1:console"
SANDBOX_BASE_URL = "http://sandbox/external/v1"
DEFAULT_SANDBOX_KEY = "sk_test_sandbox"
USER_ID = 424_242
DEMO_PHONE = "+97333445566"
CONTACT_COMMAND = ":contact"
HELP_COMMAND = ":help"
QUIT_COMMANDS = frozenset({":quit", ":q"})
# Long enough for a slow sandbox call with retries; a silent bot is reported, not fatal.
REPLY_TIMEOUT = 15.0
INDENT = "    "
EXIT_INTERRUPTED = 130

ChoiceKind = Literal["callback", "url", "text", "contact"]


@dataclass(frozen=True)
class Choice:
    """A button the user can pick by its number."""

    label: str
    kind: ChoiceKind
    message_id: int | None = None
    value: str | None = None  # callback data or URL


class Style:
    """ANSI colours, or nothing when colours are off."""

    def __init__(self, enabled: bool) -> None:
        """Turn colours on or off."""
        self.enabled = enabled

    def _wrap(self, code: str, text: str) -> str:
        """Wrap ``text`` in an SGR code when colours are on."""
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def bot(self, text: str) -> str:
        """Colour the bot's name."""
        return self._wrap("1;36", text)

    def updated(self, text: str) -> str:
        """Colour the marker of an edited message."""
        return self._wrap("1;33", text)

    def number(self, text: str) -> str:
        """Colour a button number."""
        return self._wrap("1;35", text)

    def you(self, text: str) -> str:
        """Colour the user's prompt."""
        return self._wrap("1;32", text)

    def dim(self, text: str) -> str:
        """Colour hints and notices."""
        return self._wrap("2", text)


@dataclass
class ChatView:
    """Print the chat as it happens and remember which numbers mean which buttons."""

    api: FakeBotAPI
    user: FakeUser
    translator: Translator
    locale: str
    style: Style
    out: TextIO
    inline: list[Choice] = field(default_factory=list)
    inline_message_id: int | None = None
    reply: list[Choice] = field(default_factory=list)

    def t(self, key: str, **params: object) -> str:
        """Render a console text of the catalogs."""
        return self.translator.render(Msg(key, params), self.locale)

    def write(self, text: str = "") -> None:
        """Print one block of text and show it at once."""
        self.out.write(text + "\n")
        self.out.flush()

    def help_line(self) -> str:
        """Return the help line."""
        return self.t("console.help", contact=f"{CONTACT_COMMAND} {DEMO_PHONE}")

    def prompt(self) -> str:
        """Return the prompt shown before the user's input."""
        return self.style.you(self.t("console.you") + "> ")

    def on_event(self, chat_id: int, event: TranscriptEvent) -> None:
        """Print what the bot did in the user's chat."""
        if chat_id != self.user.id:
            return
        if event.kind in ("sent", "edited") and event.message_id is not None:
            self._show_message(event, event.message_id)
        elif event.kind == "answered" and event.text:
            self.write(f"{self.style.bot(self.t('console.bot') + ':')} {event.text}")

    def _show_message(self, event: TranscriptEvent, message_id: int) -> None:
        """Print a new or edited bot message with its numbered buttons."""
        message = self._message(message_id)
        name = "console.updated" if event.kind == "edited" else "console.bot"
        header = self.t(name) + ":"
        header = self.style.updated(header) if event.kind == "edited" else self.style.bot(header)
        lines = (event.text or "").split("\n")
        block = [f"{header} {lines[0]}", *(INDENT + line for line in lines[1:])]
        if message is not None and message.keyboard:
            self.inline = self._inline_choices(message)
            self.inline_message_id = message.message_id
            block += self._button_rows(message.buttons, start=1)
        elif message_id == self.inline_message_id:
            # The keyboard of the card the numbers referred to is gone.
            self.inline, self.inline_message_id = [], None
        if event.kind == "sent" and event.reply_keyboard is not None:
            self.reply = self._reply_choices(event.reply_keyboard)
            block += self._button_rows([list(row) for row in event.reply_keyboard], start=1)
        self.write("\n".join(block))

    def _message(self, message_id: int) -> ChatMessage | None:
        """Return the bot message with this id as the user sees it."""
        for message in reversed(self.user.messages()):
            if message.message_id == message_id:
                return message
        return None

    def _button_rows(self, rows: list[list[str]], start: int) -> list[str]:
        """Return keyboard rows as text lines with a number before each label."""
        lines: list[str] = []
        number = start
        for row in rows:
            cells = []
            for label in row:
                cells.append(f"{self.style.number(f'[{number}]')} {label}")
                number += 1
            lines.append(INDENT + "   ".join(cells))
        return lines

    @staticmethod
    def _inline_choices(message: ChatMessage) -> list[Choice]:
        """Return the inline buttons of a message as choices, in reading order."""
        choices: list[Choice] = []
        for row in message.keyboard:
            for button in row:
                if button.callback_data is not None:
                    choices.append(
                        Choice(button.text, "callback", message.message_id, button.callback_data)
                    )
                else:
                    choices.append(Choice(button.text, "url", message.message_id, button.url))
        return choices

    def _reply_choices(self, labels: tuple[tuple[str, ...], ...]) -> list[Choice]:
        """Return the reply keyboard just sent as choices, telling contact buttons apart."""
        contact_labels = self._contact_labels()
        return [
            Choice(label, "contact" if label in contact_labels else "text")
            for row in labels
            for label in row
        ]

    def _contact_labels(self) -> set[str]:
        """Return the labels of request_contact buttons in the newest sendMessage to this chat."""
        # The transcript carries labels only; the recorded call still has the full markup.
        for call in reversed(self.api.calls):
            if call.method != "sendMessage" or call.params.get("chat_id") != self.user.id:
                continue
            markup = call.params.get("reply_markup")
            rows = markup.get("keyboard") if isinstance(markup, dict) else None
            if not isinstance(rows, list):
                return set()
            return {
                str(button.get("text"))
                for row in rows
                if isinstance(row, list)
                for button in row
                if isinstance(button, dict) and button.get("request_contact") is True
            }
        return set()

    def choice(self, number: int) -> Choice | None:
        """Return the button a number names: the reply keyboard's while it is shown."""
        choices = self.reply or self.inline
        return choices[number - 1] if 1 <= number <= len(choices) else None

    def user_acted(self) -> None:
        """Forget the reply keyboard: the bot always sends it as one-time."""
        self.reply = []


class LineReader:
    """Read stdin lines without blocking the event loop, in a daemon thread per line.

    A daemon thread lets the process exit at Ctrl-C even while a read is pending, where a
    thread of the loop's default executor would keep it waiting for Enter.
    """

    def __init__(self, stream: TextIO) -> None:
        """Read from ``stream``."""
        self.stream = stream

    async def readline(self) -> str:
        """Return the next line with its newline, or "" at end of input."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()

        def deliver(line: str) -> None:
            if not future.done():
                future.set_result(line)

        def read() -> None:
            try:
                line = self.stream.readline()
            except (OSError, ValueError, UnicodeDecodeError):
                line = ""
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(deliver, line)

        threading.Thread(target=read, name="console-stdin", daemon=True).start()
        return await future


class Console:
    """One console chat: the bot, its fakes, the view and the input loop."""

    def __init__(
        self,
        settings: Settings,
        *,
        locale: str | None,
        stdin: TextIO,
        stdout: TextIO,
        stderr: TextIO,
    ) -> None:
        """Prepare (not start) the sandbox, the fake Telegram and the view."""
        self.settings = settings
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.interactive = stdin.isatty()
        self.translator = make_translator(settings)
        self.language_code = locale or settings.bot_default_locale
        ui_locale = resolve_locale(locale, None, settings.bot_default_locale)
        key = settings.skiplino_api_key
        self.api_key = key.get_secret_value() if key is not None and key.get_secret_value() else ""
        self.sandbox = Sandbox(
            secret_key=self.api_key or DEFAULT_SANDBOX_KEY, timezone=settings.skiplino_timezone
        )
        self.telegram = FakeBotAPI(quiet_period=0.05)
        self.user = self.telegram.user(
            USER_ID,
            first_name=self.translator.render(Msg("console.user_name"), ui_locale),
            language_code=self.language_code,
        )
        color = stdout.isatty() and not settings.no_color
        self.view = ChatView(
            self.telegram, self.user, self.translator, ui_locale, Style(color), stdout
        )
        self.application: AnyApplication | None = None

    async def _store(self) -> ChatStore[Session]:
        """Return the session store: Redis when REDIS_URL was given and answers, else memory."""
        memory = MemoryChatStore(
            session_model=Session, session_ttl_seconds=self.settings.session_ttl_seconds
        )
        if not self.settings.redis_url_given:
            return memory
        store = RedisChatStore.from_url(
            self.settings.redis_url,
            # Apart from a production bot's keys that may share this Redis.
            prefix=f"{self.settings.redis_prefix}:console",
            session_model=Session,
            session_ttl_seconds=self.settings.session_ttl_seconds,
        )
        try:
            # The embedded sandbox starts empty every run, so a customer id linked in an
            # earlier run would point nowhere: start the console user afresh. Name lookups
            # are not covered by the connect timeout, hence the overall cap.
            await asyncio.wait_for(store.put_profile(USER_ID, Profile()), timeout=3)
        except (StoreUnavailable, TimeoutError):
            await store.close()
            print(self.view.t("console.redis_unavailable"), file=self.stderr, flush=True)
            return memory
        return store

    async def start(self) -> None:
        """Build and start the Application polling the fake Bot API."""
        client = SkiplinoClient(
            base_url=SANDBOX_BASE_URL,
            api_key=self.api_key or DEFAULT_SANDBOX_KEY,
            timeout=self.settings.skiplino_timeout_seconds,
            transport=httpx.ASGITransport(app=self.sandbox.app),
        )
        engine = build_engine(self.settings, store=await self._store(), api=client)
        application = build_application(
            self.settings,
            engine,
            translator=self.translator,
            request=FakeRequest(self.telegram),
            updates_request=FakeRequest(self.telegram),
            token=CONSOLE_TOKEN,
        )
        self.application = application
        await application.initialize()
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0, timeout=1)

    async def stop(self) -> None:
        """Stop polling and shut the Application down (closes the API client and store)."""
        application = self.application
        if application is None:
            return
        self.telegram.release_pollers()
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()

    async def wait_for_bot(self) -> None:
        """Wait until the bot has answered the user's last action and gone quiet."""
        try:
            await self.user.wait_for_reply(timeout=REPLY_TIMEOUT)
        except AssertionError:
            self.view.write(self.view.style.dim(self.view.t("console.no_reply")))

    async def chat(self) -> None:
        """Greet, then turn input lines into user actions until end of input or ``:quit``."""
        view = self.view
        view.write(view.style.dim(view.help_line()))
        view.write()
        await self.user.send("/start")
        await self.wait_for_bot()
        reader = LineReader(self.stdin)
        while True:
            if self.interactive:
                self.stdout.write(view.prompt())
                self.stdout.flush()
            raw = await reader.readline()
            if raw == "":
                if self.interactive:
                    view.write()
                return
            line = raw.strip()
            if not line:
                continue
            if not self.interactive:
                view.write(view.prompt() + line)
            if line.lower() in QUIT_COMMANDS:
                return
            if await self.act(line):
                await self.wait_for_bot()

    async def act(self, line: str) -> bool:
        """Do what the line asks; return whether the bot was sent something."""
        view = self.view
        command, _, rest = line.partition(" ")
        if command.lower() == HELP_COMMAND:
            view.write(view.style.dim(view.help_line()))
            return False
        if command.lower() == CONTACT_COMMAND:
            view.user_acted()
            await self.user.share_contact(rest.strip() or DEMO_PHONE)
            return True
        choice = view.choice(int(line)) if line.isdigit() else None
        if choice is None:
            view.user_acted()
            await self.user.send(line)
            return True
        if choice.kind == "url":
            view.write(view.style.dim(choice.value or ""))
            return False
        view.user_acted()
        if choice.kind == "callback":
            await self.user.click_data(choice.value or "", choice.message_id)
        elif choice.kind == "contact":
            await self.user.share_contact(DEMO_PHONE)
        else:
            await self.user.send(choice.label)
        return True


async def _run(console: Console) -> int:
    """Run the console until the chat ends or SIGINT/SIGTERM; always shut the bot down."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows: there Ctrl-C arrives as KeyboardInterrupt instead.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    unsubscribe = console.telegram.subscribe(console.view.on_event)
    session = asyncio.create_task(_session(console))
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({session, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not session.done():
            session.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await session
        await console.stop()
        unsubscribe()
        for signum in handled:
            loop.remove_signal_handler(signum)
    if stop.is_set():
        if console.interactive:
            console.view.write()
        return EXIT_INTERRUPTED
    return 0


async def _session(console: Console) -> None:
    """Start the bot and chat."""
    await console.start()
    await console.chat()


def _quiet_logging(settings: Settings) -> None:
    """Log warnings and errors only, to stderr, with secrets redacted."""
    secrets = [
        secret.get_secret_value()
        for secret in (settings.telegram_bot_token, settings.skiplino_api_key)
        if secret is not None
    ]
    setup_logging(secrets, level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)


def run_console(settings: Settings, *, locale: str | None = None) -> int:
    """Chat with the bot in this terminal; return the exit status."""
    _quiet_logging(settings)
    for stream in (sys.stdout, sys.stderr):
        # Emoji and Arabic must not crash a terminal or pipe with a narrow encoding.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    console = Console(
        settings, locale=locale, stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr
    )
    try:
        return asyncio.run(_run(console))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
