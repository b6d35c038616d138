"""Own the child processes of the end-to-end tests: start them, read their output, stop them.

`Child` drains stdout and stderr in tasks of the running loop (a full pipe can never block
the child) and waits with a deadline on everything. `start_sandbox` runs
``skiplino-bot sandbox`` and `start_bot` runs ``skiplino-bot run`` and returns once the
bot long-polls the fake Bot API. `UserChat` drives a chat through the fake Bot API and
waits for the bot process's answer. Everything here awaits and never blocks: the fake Bot
API server the bot talks to runs in the same loop.

Must not import conversations or the product's Skiplino client: the tests see the bot from
outside, as its processes, the fake Telegram and the sandbox's HTTP API.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

from bot.testing.fake_api import ChatMessage, FakeBotAPI, FakeUser

VENV_BIN = Path(sys.executable).parent
# The console script of pyproject's [project.scripts]; `python -m bot` is the fallback.
CONSOLE_SCRIPT = VENV_BIN / "skiplino-bot"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
REPLY_TIMEOUT = 10.0
READY_LINE = re.compile(r"Skiplino sandbox ready at (\S+)")
# Variables a child may inherit; anything else (a developer's TELEGRAM_BOT_TOKEN, say)
# must not leak into a test's bot.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
# Callback data of the booking flow's day and slot buttons ("1|<step>|dt|20261203").
DAY_BUTTON = re.compile(r"\|dt\|(\d{8})$")
SLOT_BUTTON = re.compile(r"\|sl\|\d{12}$")


def skiplino_command(*args: str) -> list[str]:
    """Return the argv of ``skiplino-bot <args>``: the console script, else ``python -m bot``."""
    if CONSOLE_SCRIPT.exists():
        return [str(CONSOLE_SCRIPT), *args]
    return [sys.executable, "-m", "bot", *args]


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """Return a clean environment for a child: a few basics plus ``extra``."""
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    # PTB 22 warns about timedelta/int durations unless told which one the bot uses.
    env["PTB_TIMEDELTA"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass(eq=False)
class Child:
    """A running child process whose output is collected as it comes."""

    name: str
    process: asyncio.subprocess.Process
    _stdout: bytearray = field(default_factory=bytearray)
    _stderr: bytearray = field(default_factory=bytearray)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def spawn(
        cls, name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path
    ) -> Child:
        """Start ``argv`` with its output piped and drained."""
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
        )
        child = cls(name, process)
        assert process.stdout is not None
        assert process.stderr is not None
        child._readers = [
            asyncio.create_task(child._drain(process.stdout, child._stdout)),
            asyncio.create_task(child._drain(process.stderr, child._stderr)),
        ]
        return child

    async def _drain(self, stream: asyncio.StreamReader, sink: bytearray) -> None:
        """Append everything the stream yields to ``sink`` until it closes."""
        while chunk := await stream.read(65536):
            sink.extend(chunk)
            async with self._changed:
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        """Return the process id."""
        return self.process.pid

    @property
    def stdout(self) -> str:
        """Return what the child wrote to stdout so far."""
        return self._stdout.decode("utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        """Return what the child wrote to stderr so far."""
        return self._stderr.decode("utf-8", errors="replace")

    @property
    def output(self) -> str:
        """Return stdout and stderr, one after the other."""
        return self.stdout + self.stderr

    @property
    def running(self) -> bool:
        """Tell whether the process has not exited yet."""
        return self.process.returncode is None

    def _streams_closed(self) -> bool:
        """Tell whether both pipes reached end of file."""
        return all(reader.done() for reader in self._readers)

    def describe(self) -> str:
        """Return the child's state and output, for assertion messages."""
        state = "running" if self.running else f"exited with {self.process.returncode}"
        tail = self.output[-3000:] or "(no output)"
        return f"{self.name} (pid {self.pid}) {state}; output:\n{tail}"

    async def wait_for_output(self, pattern: re.Pattern[str], within: float) -> re.Match[str]:
        """Return the first match of ``pattern`` in stdout + stderr; fail on exit or deadline."""
        # A deadline in seconds rather than asyncio.timeout: failing with the output helps more.
        deadline = time.monotonic() + within
        async with self._changed:
            while True:
                found = pattern.search(self.output)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if self._streams_closed() or remaining <= 0:
                    raise AssertionError(
                        f"no {pattern.pattern!r} within {within} s: " + self.describe()
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_exit(self, within: float) -> int | None:
        """Wait for the process to exit and its output to be read; None if it is still running."""
        # asyncio.wait, unlike wait_for, leaves the readers alone when time is up.
        waiter = asyncio.ensure_future(self.process.wait())
        done, _ = await asyncio.wait([waiter, *self._readers], timeout=within)
        if waiter not in done:
            waiter.cancel()
            return None
        return self.process.returncode

    async def kill(self) -> int:
        """SIGKILL the process (as an OOM killer or a crashed host would) and reap it."""
        if self.running:
            self.process.send_signal(signal.SIGKILL)
        code = await self.wait_exit(STOP_TIMEOUT)
        if code is None:
            raise AssertionError("did not die of SIGKILL: " + self.describe())
        return code

    async def stop(self, within: float = STOP_TIMEOUT) -> int:
        """Ask the process to stop with SIGTERM; SIGKILL it if it has not within ``within`` s."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)
        code = await self.wait_exit(within)
        if code is None:
            return await self.kill()
        return code


class Children:
    """Every child a test started, so teardown can stop them whatever happened."""

    def __init__(self, cwd: Path) -> None:
        """Start children in ``cwd`` (no ``.env`` file there, so only the given env counts)."""
        self.cwd = cwd
        self.started: list[Child] = []

    async def spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        """Start a child and remember it."""
        child = await Child.spawn(name, argv, env=env, cwd=self.cwd)
        self.started.append(child)
        return child

    async def stop_all(self) -> None:
        """Stop every child still running: SIGTERM, then SIGKILL after a grace period."""
        await asyncio.gather(*(child.stop() for child in self.started if child.running))


@dataclass
class SandboxProcess:
    """A ``skiplino-bot sandbox`` child and an HTTP client for its API and admin routes."""

    child: Child
    api_url: str
    api_key: str
    http: httpx.AsyncClient

    @property
    def root(self) -> str:
        """Return the server's root URL (the admin routes live under ``/_sandbox``)."""
        return self.api_url.removesuffix("/external/v1")

    async def sample(self) -> dict[str, Any]:
        """Return the ids and dates of the sample company."""
        response = await self.http.get(f"{self.root}/_sandbox/sample")
        response.raise_for_status()
        data: dict[str, Any] = response.json()["data"]
        return data

    async def recorded_requests(self) -> list[dict[str, Any]]:
        """Return the API calls the sandbox received, oldest first."""
        response = await self.http.get(f"{self.root}/_sandbox/requests")
        response.raise_for_status()
        records: list[dict[str, Any]] = response.json()["data"]
        return records

    async def bookings_made(self) -> int:
        """Return how many POST /tickets/book calls the sandbox answered with success."""
        return sum(
            1
            for record in await self.recorded_requests()
            if record["method"] == "POST"
            and record["path"].endswith("/tickets/book")
            and record["status"] is not None
            and 200 <= record["status"] < 300
        )

    async def set_faults(self, payload: Mapping[str, Any]) -> None:
        """Change the fault switches, e.g. ``{"force": ["GET:/branches=401"]}``."""
        response = await self.http.post(f"{self.root}/_sandbox/faults", json=dict(payload))
        response.raise_for_status()

    async def clear_faults(self) -> None:
        """Turn every fault switch off."""
        response = await self.http.delete(f"{self.root}/_sandbox/faults")
        response.raise_for_status()

    async def tickets_of(self, external_id: str) -> list[dict[str, Any]]:
        """Return a customer's tickets, newest first, through the API as a client sees them."""
        response = await self.http.get(
            f"{self.api_url}/customers/tickets",
            params={"externalId": external_id, "limit": 10},
            headers={"Authorization": f"Bearer {self.api_key}"},
        )
        if response.status_code == 422:
            return []  # no such customer (yet)
        response.raise_for_status()
        tickets: list[dict[str, Any]] = response.json()["data"]
        return tickets


async def start_sandbox(
    children: Children, http: httpx.AsyncClient, *, api_key: str, timezone: str = "Asia/Bahrain"
) -> SandboxProcess:
    """Run ``skiplino-bot sandbox --port 0`` and return once it accepts connections."""
    # The key goes in through the environment, not argv, where `ps` would show it.
    env = child_env({"SKIPLINO_API_KEY": api_key, "SKIPLINO_TIMEZONE": timezone})
    child = await children.spawn(
        "sandbox", skiplino_command("sandbox", "--host", "127.0.0.1", "--port", "0"), env
    )
    ready = await child.wait_for_output(READY_LINE, START_TIMEOUT)
    return SandboxProcess(child=child, api_url=ready.group(1), api_key=api_key, http=http)


async def start_bot(
    children: Children, telegram: FakeBotAPI, env: Mapping[str, str], name: str = "bot"
) -> Child:
    """Run ``skiplino-bot run`` and return once it long-polls the fake Bot API."""
    polls_before = len(telegram.calls_of("getUpdates"))
    child = await children.spawn(name, skiplino_command("run"), child_env(env))
    deadline = time.monotonic() + START_TIMEOUT
    # A getUpdates that arrives after the spawn can only come from this child: any earlier
    # bot process is dead by then (the tests kill before they restart).
    while len(telegram.calls_of("getUpdates")) <= polls_before:
        if not child.running:
            await child.wait_exit(STOP_TIMEOUT)
            raise AssertionError("the bot exited before polling: " + child.describe())
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"the bot did not poll within {START_TIMEOUT} s: " + child.describe()
            )
        await asyncio.sleep(0.02)
    return child


class UserChat:
    """A person's chat with the bot process: act, then read the card once it has changed.

    A tap is answered at once (the spinner stops) and the card is edited only after the
    bot has talked to Skiplino, which over HTTP can take longer than the fake's quiet
    period; so a step counts as answered when a message was sent or edited. A step counts
    as finished when, after that, the bot has also released the chat's Redis lock: the
    engine edits the card first and saves the session afterwards, so "between two steps"
    (when a test may kill the bot) starts only then.
    """

    def __init__(self, user: FakeUser, redis: aioredis.Redis, prefix: str) -> None:
        """Drive ``user``'s chat with a bot keeping its keys under ``prefix`` in ``redis``."""
        self.user = user
        self.redis = redis
        # The key layout documented in bot/sessions/redis_store.py.
        self.lock_key = f"{prefix}:lock:{{{user.id}}}"

    @property
    def last(self) -> ChatMessage:
        """Return the bot's newest message."""
        return self.user.last_message()

    async def send(self, text: str) -> ChatMessage:
        """Type ``text`` and return the bot's newest message once it has answered."""
        await self.user.send(text)
        return await self._answer()

    async def tap(self, label: str | re.Pattern[str], message_id: int | None = None) -> ChatMessage:
        """Tap a button by its label and return the bot's newest message once it has answered."""
        await self.user.click(label, message_id)
        return await self._answer()

    async def tap_where(self, data: re.Pattern[str]) -> ChatMessage:
        """Tap the visible button of the newest card whose callback data matches ``data``."""
        card = self.last
        button = next(
            (
                b
                for row in card.keyboard
                for b in row
                if b.callback_data and data.search(b.callback_data)
            ),
            None,
        )
        if button is None:
            raise AssertionError(f"no button with data {data.pattern!r}; buttons: {card.buttons}")
        return await self.tap(button.text, card.message_id)

    async def tap_day(self, avoid: date) -> ChatMessage:
        """Tap the third day offered (never today, whose slots may be over), or a later one.

        The days come from the card itself, so bot and test agree on "today" even at
        midnight; ``avoid`` is a day to skip, such as the sandbox's fully booked one.
        """
        days = [
            found.group(1)
            for row in self.last.keyboard
            for button in row
            if button.callback_data and (found := DAY_BUTTON.search(button.callback_data))
        ]
        skipped = avoid.strftime("%Y%m%d")
        choice = next((day for day in days[2:] if day != skipped), None)
        if choice is None:
            raise AssertionError(f"no day to choose on the card; buttons: {self.last.buttons}")
        return await self.tap_where(re.compile(rf"\|dt\|{choice}$"))

    async def tap_first_slot(self) -> ChatMessage:
        """Tap the earliest free time on the card."""
        return await self.tap_where(SLOT_BUTTON)

    async def _answer(self) -> ChatMessage:
        """Wait until the bot showed its answer to the last action and finished the update."""
        start = len(self.user.transcript)

        def shown() -> bool:
            """Tell whether a message was sent or edited since the action."""
            return any(e.kind in ("sent", "edited") for e in self.user.transcript[start:])

        try:
            await self.user.api.wait_until(shown, timeout=REPLY_TIMEOUT)
            await self.user.wait_for_reply(timeout=REPLY_TIMEOUT)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}; the chat since the action: {self._since(start)}"
            ) from None
        await self.settled()
        return self.last

    async def settled(self) -> None:
        """Wait until no bot process holds the chat's lock (its update is saved)."""
        deadline = time.monotonic() + REPLY_TIMEOUT
        while await self.redis.exists(self.lock_key):
            if time.monotonic() >= deadline:
                raise AssertionError(f"the chat's lock was still held after {REPLY_TIMEOUT} s")
            await asyncio.sleep(0.01)

    def _since(self, start: int) -> str:
        """Describe the chat's events since ``start`` and the bot's failed calls."""
        events = [
            f"{e.kind} {e.text or e.data or ''}".strip() for e in self.user.transcript[start - 1 :]
        ]
        failed = [f"{c.method} -> {c.description}" for c in self.user.api.calls[-30:] if not c.ok]
        return f"{events}; failed calls: {failed or 'none'}"
