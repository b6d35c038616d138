"""Own the load benchmark: many users booking at once against the bot's real processes.

Runs the bot as a black box, as production does: ``skiplino-bot run`` and ``skiplino-bot
sandbox`` as child processes, the fake Telegram Bot API served over HTTP from this process,
and the local Redis under a throw-away prefix. While the load runs, ``--busy N`` busy-loop
processes starve the CPU. Every user walks a walk-in booking, each action waiting for the
bot's card (or an apology) for a bounded time.

Prints the users answered at each step, the tickets they got, apologies, card latency,
updates per second, chats still locked after the load (expected 0), tickets per customer in
the sandbox (no doubles), and how long the bot took to exit after SIGTERM. Everything stops
within a bound; children and Redis keys are cleaned up; only 127.0.0.1 is contacted.

Must not import tests, conversations or the product's Skiplino client: it sees the bot from
outside, through the fake Telegram, the sandbox's HTTP API and Redis.

    python -m benchmarks.bench_load [--users U] [--busy N] [--action-timeout S]
        [--deadline S] [--stop-bound S] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis.asyncio as aioredis

from benchmarks.bench_updates import DEFAULT_REDIS_URL, WALK_IN, Step, percentiles
from bot.i18n import Translator
from bot.testing.fake_api import FakeBotAPI, FakeUser, TranscriptEvent
from bot.testing.fake_server import FakeBotAPIServer

FIRST_USER_ID = 920_000_001
HOST = "127.0.0.1"
START_TIMEOUT = 30.0  # a starting child may share the CPU with the busy loops of a last run
READY_LINE = re.compile(r"Skiplino sandbox ready at (\S+)")
# Variables a child may inherit: a developer's own bot token must not reach this bot.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
# What the bot says when it could not do what was asked (English, the users' language).
APOLOGY_KEYS = ("errors.generic", "errors.unavailable", "errors.busy", "errors.store_unavailable")
DONE_KEY = "booking.done"
STEP_NAMES = tuple(step.text or step.label or "?" for step in WALK_IN)


# ---------------------------------------------------------------------------------------------
# Child processes


@dataclass(eq=False)
class Child:
    """A child process whose output is drained as it comes, so a full pipe never blocks it."""

    name: str
    process: asyncio.subprocess.Process
    output: bytearray = field(default_factory=bytearray)
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def spawn(cls, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        """Start ``argv`` with stdout and stderr piped into one buffer."""
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(env),
        )
        child = cls(name, process)
        assert process.stdout is not None
        child.readers.append(asyncio.create_task(child._drain(process.stdout)))
        return child

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        """Append everything the stream yields until it closes."""
        while chunk := await stream.read(65536):
            self.output.extend(chunk)

    @property
    def text(self) -> str:
        """Return the output so far."""
        return self.output.decode("utf-8", errors="replace")

    @property
    def running(self) -> bool:
        """Tell whether the process has not exited yet."""
        return self.process.returncode is None

    async def wait_for(self, pattern: re.Pattern[str], within: float) -> re.Match[str]:
        """Return the first match of ``pattern`` in the output; fail on exit or deadline."""
        deadline = time.monotonic() + within
        while (found := pattern.search(self.text)) is None:
            if not self.running or time.monotonic() >= deadline:
                raise RuntimeError(f"{self.name}: no {pattern.pattern!r}; output:\n{self.tail()}")
            await asyncio.sleep(0.05)
        return found

    async def wait_exit(self, within: float) -> int | None:
        """Wait for the exit and the end of the output; None if still running after ``within``."""
        waiter = asyncio.ensure_future(self.process.wait())
        done, _ = await asyncio.wait([waiter, *self.readers], timeout=within)
        if waiter not in done:
            waiter.cancel()
            return None
        return self.process.returncode

    async def stop(self, within: float) -> int | None:
        """SIGTERM, then SIGKILL after ``within`` s; return the exit status."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)
        code = await self.wait_exit(within)
        if code is None:
            self.process.kill()
            code = await self.wait_exit(within)
        return code

    def tail(self, chars: int = 3000) -> str:
        """Return the end of the output, for error messages."""
        return self.text[-chars:] or "(no output)"


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """Return a clean environment for a child: a few basics plus ``extra``."""
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    # PTB 22 warns about timedelta/int durations unless told which one the bot uses.
    env["PTB_TIMEDELTA"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def skiplino_command(*args: str) -> list[str]:
    """Return the argv of ``skiplino-bot <args>``: the console script, else ``python -m bot``."""
    script = Path(sys.executable).parent / "skiplino-bot"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "bot", *args]


def busy_loop_command(seconds: float) -> list[str]:
    """Return the argv of a process spinning one core for at most ``seconds``."""
    # Bounded in time, so a loop outlives neither a crashed nor a killed benchmark for long.
    program = (
        "import time\n"
        f"end = time.monotonic() + {seconds:.0f}\n"
        "while time.monotonic() < end:\n"
        "    pass\n"
    )
    return [sys.executable, "-c", program]


# ---------------------------------------------------------------------------------------------
# Users


@dataclass
class Watch:
    """Wake a waiting user whenever the bot sends or edits a message in its chat."""

    changed: dict[int, asyncio.Event] = field(default_factory=dict)
    first_card: dict[int, float] = field(default_factory=dict)

    def on_event(self, chat_id: int, event: TranscriptEvent) -> None:
        """Note the first card since the user's action and wake the user."""
        if event.kind in ("sent", "edited"):
            self.first_card.setdefault(chat_id, time.perf_counter())
            waiting = self.changed.get(chat_id)
            if waiting is not None:
                waiting.set()

    def arm(self, chat_id: int) -> None:
        """Start timing the next card of ``chat_id``."""
        self.first_card.pop(chat_id, None)
        self.changed.setdefault(chat_id, asyncio.Event())

    async def until(self, chat_id: int, ready: Callable[[], bool], deadline: float) -> bool:
        """Wait until ``ready()`` holds, re-checking on every card; False past ``deadline``."""
        changed = self.changed[chat_id]
        while True:
            # Cleared before the check: a card arriving after it still wakes the wait.
            changed.clear()
            if ready():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)


@dataclass(frozen=True)
class Texts:
    """The English texts the users recognise: apologies and the booking's success."""

    apologies: tuple[str, ...]
    done: str

    @classmethod
    def load(cls) -> Texts:
        """Read the texts from the product's catalogs."""
        translator = Translator()
        return cls(
            apologies=tuple(translator.text(key, "en") for key in APOLOGY_KEYS),
            done=translator.text(DONE_KEY, "en"),
        )


@dataclass
class UserResult:
    """What happened to one user."""

    answered: int = 0  # steps with a card (or an apology) in time
    ready: int = 0  # steps that showed the expected card
    latencies: list[float] = field(default_factory=list)
    apologies: int = 0
    ticket: bool = False
    actions: int = 0
    failure: str | None = None  # why the walk stopped early


def has_button(user: FakeUser, label: str) -> bool:
    """Tell whether the chat's newest message has a button matching ``label``."""
    try:
        user.last_message().button(label)
    except (AssertionError, LookupError, ValueError):
        return False
    return True


def apologised(user: FakeUser, mark: int, texts: Texts) -> bool:
    """Tell whether the bot apologised in the chat since transcript position ``mark``."""
    return any(
        event.from_bot and event.text and any(text in event.text for text in texts.apologies)
        for event in user.transcript[mark:]
    )


async def walk_in(
    user: FakeUser, watch: Watch, texts: Texts, per_action: float, result: UserResult
) -> None:
    """Book a walk-in ticket step by step, waiting up to ``per_action`` s for each card."""
    steps: tuple[Step, ...] = WALK_IN
    for index, step in enumerate(steps):
        following = steps[index + 1].label if index + 1 < len(steps) else None

        def expected(label: str | None = following) -> bool:
            """Tell whether the chat shows the card the next action needs."""
            if label is None:
                return texts.done in user.last_message().text
            return has_button(user, label)

        mark = len(user.transcript)
        watch.arm(user.id)
        started = time.perf_counter()
        deadline = time.monotonic() + per_action
        result.actions += 1
        if step.text is not None:
            await user.send(step.text)
        else:
            assert step.label is not None
            await user.click(step.label)
        answered = await watch.until(user.id, lambda: user.id in watch.first_card, deadline)
        if not answered:
            result.failure = f"no answer to {STEP_NAMES[index]!r}"
            return
        result.answered += 1
        result.latencies.append(watch.first_card[user.id] - started)

        # The first card may be followed by more (a spinner answer, a new message): wait for
        # the one whose buttons the next action needs, or for an apology.
        def shown(since: int = mark) -> bool:
            """Tell whether the expected card or an apology is on screen."""
            return expected() or apologised(user, since, texts)

        settled = await watch.until(user.id, shown, deadline)
        if apologised(user, mark, texts):
            result.apologies += 1
            result.failure = f"apology after {STEP_NAMES[index]!r}"
            return
        if not settled:
            last = user.last_message()
            result.failure = f"unexpected card after {STEP_NAMES[index]!r}: {last.text[:60]!r}"
            return
        result.ready += 1
    result.ticket = True


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class Options:
    """The command line."""

    users: int
    busy: int
    action_timeout: float
    deadline: float
    stop_bound: float
    redis_url: str


@dataclass
class Figures:
    """Everything one run measured."""

    results: list[UserResult]
    wall: float
    locked: int
    tickets: Counter[int]  # walk-in tickets per customer
    unreadable: int  # customers whose tickets could not be read
    stop_seconds: float | None
    exit_status: int | None
    log_levels: Counter[str]
    timed_out: bool


async def count_locks(redis: aioredis.Redis, prefix: str) -> int:
    """Return how many chat locks exist under ``prefix``."""
    return len([key async for key in redis.scan_iter(match=f"{prefix}:lock:*", count=1000)])


async def locks_after(redis: aioredis.Redis, prefix: str, settle: float) -> int:
    """Return the chat locks left once the last turns had ``settle`` s to release theirs."""
    # Shorter than a lock's lifetime, so a lock never released still shows up here.
    locked = await count_locks(redis, prefix)
    for _ in range(round(settle / 0.1)):
        if not locked:
            break
        await asyncio.sleep(0.1)
        locked = await count_locks(redis, prefix)
    return locked


async def tickets_per_customer(
    http: httpx.AsyncClient, api_url: str, api_key: str, user_ids: Sequence[int]
) -> tuple[Counter[int], int]:
    """Return each user's walk-in tickets in the sandbox, and how many could not be read."""
    tickets: Counter[int] = Counter()
    unreadable = 0
    limit = asyncio.Semaphore(8)

    async def read(user_id: int) -> None:
        """Count one customer's walk-in tickets as the API lists them."""
        nonlocal unreadable
        async with limit:
            response = await http.get(
                f"{api_url}/customers/tickets",
                params={"externalId": f"tg-{user_id}", "limit": 10},
                headers={"Authorization": f"Bearer {api_key}"},
            )
        if response.status_code == 422:
            return  # no such customer: the user never got as far as booking
        if response.status_code != 200:
            unreadable += 1
            return
        listed = response.json()["data"]
        tickets[user_id] = sum(1 for ticket in listed if ticket.get("type") != "appointment")

    await asyncio.gather(*(read(user_id) for user_id in user_ids))
    return tickets, unreadable


def log_levels(output: str) -> Counter[str]:
    """Count the bot's log lines by level, and its tracebacks."""
    levels: Counter[str] = Counter()
    for line in output.splitlines():
        for level in ("WARNING", "ERROR", "CRITICAL", "Traceback"):
            if level in line:
                levels[level] += 1
    return levels


async def run(options: Options) -> Figures:
    """Start everything, let the users book under a starved CPU, stop the bot, clean up."""
    token = f"7000000001:BENCH-{secrets.token_hex(8)}"
    api_key = f"sk_test_bench_{secrets.token_hex(8)}"
    prefix = f"bench-load-{secrets.token_hex(6)}"
    texts = Texts.load()
    telegram = FakeBotAPI(token=token)
    watch = Watch()
    unsubscribe = telegram.subscribe(watch.on_event)
    redis: aioredis.Redis = aioredis.Redis.from_url(options.redis_url)
    children: list[Child] = []
    busy: list[Child] = []
    # The busy loops outlast the load and the bot's stop by a margin, no more.
    busy_seconds = options.deadline + options.stop_bound * 2 + 30
    try:
        async with (
            FakeBotAPIServer(telegram, host=HOST) as server,
            httpx.AsyncClient(timeout=10.0) as http,
        ):
            env = child_env({"SKIPLINO_API_KEY": api_key, "SKIPLINO_TIMEZONE": "Asia/Bahrain"})
            sandbox = await Child.spawn(
                "sandbox", skiplino_command("sandbox", "--host", HOST, "--port", "0"), env
            )
            children.append(sandbox)
            api_url = (await sandbox.wait_for(READY_LINE, START_TIMEOUT)).group(1)
            bot = await start_bot(
                telegram,
                {
                    "TELEGRAM_BOT_TOKEN": token,
                    "TELEGRAM_API_URL": server.base_url,
                    "SKIPLINO_API_URL": api_url,
                    "SKIPLINO_API_KEY": api_key,
                    "REDIS_URL": options.redis_url,
                    "REDIS_PREFIX": prefix,
                },
            )
            children.append(bot)
            for index in range(options.busy):
                busy.append(
                    await Child.spawn(
                        f"busy{index}", busy_loop_command(busy_seconds), child_env({})
                    )
                )
            user_ids = [FIRST_USER_ID + i for i in range(options.users)]
            users = [telegram.user(uid, first_name=f"Load{i}") for i, uid in enumerate(user_ids)]
            results = [UserResult() for _ in users]
            started = time.perf_counter()
            timed_out = False
            walks = [
                asyncio.ensure_future(
                    walk_in(user, watch, texts, options.action_timeout, results[i])
                )
                for i, user in enumerate(users)
            ]
            _, pending = await asyncio.wait(walks, timeout=options.deadline)
            for walk in pending:
                timed_out = True
                walk.cancel()
            await asyncio.gather(*walks, return_exceptions=True)
            wall = time.perf_counter() - started
            for walk, result in zip(walks, results, strict=True):
                if walk.cancelled():
                    result.failure = result.failure or "stopped at the deadline"
                elif (error := walk.exception()) is not None:
                    result.failure = f"{type(error).__name__}: {error}"
            locked = await locks_after(redis, prefix, settle=3.0)
            tickets, unreadable = await tickets_per_customer(http, api_url, api_key, user_ids)

            # Still under the busy loops: the stop must be bounded on a starved CPU too.
            bot.process.send_signal(signal.SIGTERM)
            signalled = time.perf_counter()
            exit_status = await bot.wait_exit(options.stop_bound)
            stop_seconds = time.perf_counter() - signalled if exit_status is not None else None
            if exit_status is None:
                await bot.stop(within=5.0)
            return Figures(
                results=results,
                wall=wall,
                locked=locked,
                tickets=tickets,
                unreadable=unreadable,
                stop_seconds=stop_seconds,
                exit_status=exit_status,
                log_levels=log_levels(bot.text),
                timed_out=timed_out,
            )
    finally:
        unsubscribe()
        for child in busy:
            if child.running:
                child.process.kill()
        await asyncio.gather(*(child.stop(within=5.0) for child in [*busy, *children]))
        async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
            await redis.delete(key)
        await redis.aclose()


async def start_bot(telegram: FakeBotAPI, env: Mapping[str, str]) -> Child:
    """Run ``skiplino-bot run`` and return once it long-polls the fake Bot API."""
    polls_before = len(telegram.calls_of("getUpdates"))
    bot = await Child.spawn("bot", skiplino_command("run"), child_env(env))
    deadline = time.monotonic() + START_TIMEOUT
    while len(telegram.calls_of("getUpdates")) <= polls_before:
        if not bot.running or time.monotonic() >= deadline:
            await bot.stop(within=5.0)
            raise RuntimeError(f"the bot did not start polling; output:\n{bot.tail()}")
        await asyncio.sleep(0.05)
    return bot


# ---------------------------------------------------------------------------------------------
# Report


def report(options: Options, f: Figures) -> None:
    """Print the figures of one run."""
    users = len(f.results)
    line = "=" * 78
    print(line)
    print(
        f"{users} users, one walk-in booking each, {options.busy} busy loop(s) beside the bot "
        f"({os.cpu_count()} CPUs), {options.action_timeout:g} s per action"
    )
    print(line)
    for index, name in enumerate(STEP_NAMES):
        answered = sum(1 for r in f.results if r.answered > index)
        print(f"  step {index + 1} {name:<20} answered {answered:4d} / {users}")
    got = sum(1 for r in f.results if r.ticket)
    fully = sum(1 for r in f.results if r.answered == len(STEP_NAMES))
    print(f"users answered at every step  {fully} / {users}")
    print(f"users who got their ticket    {got} / {users}")
    print(f"apologies seen                {sum(r.apologies for r in f.results)}")
    latencies = [s for r in f.results for s in r.latencies]
    print(f"action -> card                {percentiles(latencies)}")
    actions = sum(r.actions for r in f.results)
    rate = actions / f.wall if f.wall else 0.0
    print(f"updates                       {actions} in {f.wall:.1f} s = {rate:.1f} updates/s")
    if f.timed_out:
        print(f"  the run hit its {options.deadline:g} s deadline; the rest was stopped")
    print(f"chats still locked afterwards {f.locked}  (expected 0)")
    booked = sum(f.tickets.values())
    doubles = sum(1 for count in f.tickets.values() if count > 1)
    print(
        f"tickets booked (sandbox)      {booked} for {users} users; "
        f"customers with more than one: {doubles}"
        + (f"; unreadable: {f.unreadable}" if f.unreadable else "")
    )
    if f.stop_seconds is None:
        print(f"SIGTERM -> exit               not within {options.stop_bound:g} s (killed)")
    else:
        print(
            f"SIGTERM -> exit               {f.stop_seconds:.2f} s, status {f.exit_status} "
            f"(bound {options.stop_bound:g} s)"
        )
    levels = ", ".join(f"{name} {count}" for name, count in sorted(f.log_levels.items()))
    print(f"bot log                       {levels or 'no warnings or errors'}")
    failures = Counter(r.failure for r in f.results if r.failure is not None)
    for failure, count in failures.most_common(8):
        print(f"  {count:4d} x {failure}")
    print()


# ---------------------------------------------------------------------------------------------
# Command line


def parse(argv: Sequence[str] | None = None) -> Options:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_load",
        description="Load the bot's real processes with concurrent users under a starved CPU.",
    )
    parser.add_argument("--users", type=int, default=200, help="concurrent users (default 200)")
    parser.add_argument(
        "--busy", type=int, default=3, help="busy-loop processes during the load (default 3)"
    )
    parser.add_argument(
        "--action-timeout",
        type=float,
        default=60.0,
        help="seconds a user waits for the card after an action (default 60)",
    )
    parser.add_argument(
        "--deadline", type=float, default=600.0, help="bound of the whole load (default 600 s)"
    )
    parser.add_argument(
        "--stop-bound",
        type=float,
        default=10.0,
        help="seconds the bot may take to exit after SIGTERM (default 10)",
    )
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    args = parser.parse_args(argv)
    if args.users < 1 or args.busy < 0:
        parser.error("--users must be at least 1 and --busy at least 0")
    if min(args.action_timeout, args.deadline, args.stop_bound) <= 0:
        parser.error("the timeouts must be positive")
    if not re.match(r"redis://(127\.0\.0\.1|localhost)[:/]", args.redis_url):
        parser.error("--redis-url must point at 127.0.0.1")
    return Options(
        users=args.users,
        busy=args.busy,
        action_timeout=args.action_timeout,
        deadline=args.deadline,
        stop_bound=args.stop_bound,
        redis_url=args.redis_url,
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    chosen = parse()
    report(chosen, asyncio.run(run(chosen)))
