"""Own the end-to-end update benchmark: many users booking at once through the whole bot.

Drives the real stack in one process, wired as in bot/testing/stack.py: real Applications
and engines, the fake Bot API at PTB's request seam, the Skiplino sandbox through
httpx.ASGITransport, and RedisChatStore on a real Redis under a unique prefix (deleted at the
end). Each simulated user walks a walk-in booking and an appointment booking, acting again as
soon as its previous update has been handled, so the figures show the bot's own cost.

Prints throughput, per-update latency, Redis commands per update and Skiplino calls per update
by route. Must not be imported by product code or tests.

    python -m benchmarks.bench_updates [--users N] [--updates-per-user M]
        [--latency-ms L ...] [--workers W] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import statistics
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from telegram import Update

from benchmarks.redis_counting import RedisCounter, counting_client, server_commandstats
from bot.telegram.handlers import Show, TelegramBridge
from bot.testing.fake_api import FakeBotAPI, FakeUser, TranscriptEvent
from bot.testing.stack import BotWorker, Stack
from conversations.events import Event, UserInfo
from sandbox import OPERATIONS, RecordedRequest

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# How long one update may take before the user gives up on it (counted as a failure).
UPDATE_TIMEOUT = 15.0
FIRST_USER_ID = 910_000_001

BRANCHES = "GET /branches"
TREE = "GET /branches/{branchId}/tree"
DAY_LABEL = re.compile(r"^\w{3} \d{1,2} \w{3}$")  # "Wed 2 Dec"
SLOT_LABEL = re.compile(r"^\d\d:\d\d\b")  # "10:30 · 3 places left"


# ---------------------------------------------------------------------------------------------
# What a user does


@dataclass(frozen=True)
class Step:
    """One user action: a typed text, or a tap on a label (or on a label chosen from the card)."""

    text: str | None = None
    label: str | None = None
    choose: str | None = None  # "day" or "slot": pick from the card's buttons


WALK_IN = (
    Step(text="/start"),
    Step(label="Book a ticket"),
    Step(label="Seef Mall"),
    Step(label="Teller"),
    Step(label="Cash Withdrawal"),
    Step(label="Join the queue now"),
    Step(label="Confirm"),
)
APPOINTMENT = (
    Step(text="/start"),
    Step(label="Book a ticket"),
    Step(label="Seef Mall"),
    Step(label="Customer Service"),
    Step(label="Account Opening"),
    Step(label="Book a time"),
    Step(choose="day"),
    Step(choose="slot"),
    Step(label="Confirm"),
)
JOURNEY = WALK_IN + APPOINTMENT


def choose(user_index: int, round_index: int, kind: str, labels: list[str]) -> str | None:
    """Return the day or slot this user picks, spread so that bookings rarely meet in a slot."""
    pattern = DAY_LABEL if kind == "day" else SLOT_LABEL
    options = [label for label in labels if pattern.match(label)]
    if kind == "day":
        # Skip today: its early slots are already past at the benchmark's 10:00.
        options = options[1:] or options
    if not options:
        return None
    spread = user_index + round_index * 7
    if kind == "slot":
        spread //= 7  # the day already spreads users over a week
    return options[spread % len(options)]


# ---------------------------------------------------------------------------------------------
# Measuring


@dataclass
class Probe:
    """Watch the fake Bot API and the bridges to time each user's update."""

    pending: dict[int, asyncio.Future[float]] = field(default_factory=dict)
    card_at: dict[int, float] = field(default_factory=dict)
    waiting_card: set[int] = field(default_factory=set)
    entered_at: dict[int, float] = field(default_factory=dict)

    def expect(self, chat_id: int) -> asyncio.Future[float]:
        """Start waiting for the next update of ``chat_id`` to be handled."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.pending[chat_id] = future
        self.card_at.pop(chat_id, None)
        self.waiting_card.add(chat_id)
        return future

    def on_event(self, chat_id: int, event: TranscriptEvent) -> None:
        """Note when the first card after the user's action was sent or edited."""
        if event.kind in ("sent", "edited") and chat_id in self.waiting_card:
            self.waiting_card.discard(chat_id)
            self.card_at[chat_id] = time.perf_counter()

    def done(self, chat_id: int) -> None:
        """Note that the bridge finished an update of ``chat_id`` (lock released)."""
        future = self.pending.pop(chat_id, None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())

    def time_bridge(self, bridge: TelegramBridge) -> None:
        """Make ``bridge`` report each finished update to this probe."""
        original = bridge.handle

        async def handle(chat_id: int, user: UserInfo, event: Event, show: Show) -> None:
            """Run the bridge's handle and report when it returned."""
            self.entered_at[chat_id] = time.perf_counter()
            try:
                await original(chat_id, user, event, show)
            finally:
                self.done(chat_id)

        # Instrumentation of the instance only: on_update calls bridge.handle per update.
        bridge.handle = handle  # type: ignore[method-assign]


@dataclass
class Sample:
    """The timing of one update."""

    card: float | None  # seconds from the action to the first card sent/edited
    done: float | None  # seconds from the action to the turn's end (lock released)
    queued: float | None  # seconds from the action to the bridge starting on it


@dataclass
class UserResult:
    """What one simulated user did."""

    samples: list[Sample] = field(default_factory=list)
    derailed: int = 0  # a label to tap was not on the card: the round restarted
    steps: Counter[str] = field(default_factory=Counter)


async def run_user(
    probe: Probe, user: FakeUser, index: int, updates: int, results: UserResult
) -> None:
    """Walk the journey for ``updates`` updates, acting as soon as the last one is handled."""
    position = 0
    sent = 0
    while sent < updates:
        step = JOURNEY[position % len(JOURNEY)]
        round_index = position // len(JOURNEY)
        label = step.label
        if step.choose is not None:
            labels = [b for row in user.last_message().buttons for b in row]
            label = choose(index, round_index, step.choose, labels)
        if step.text is None and (label is None or not _has_button(user, label)):
            # An unexpected card (a slot taken, an error): start the next round over.
            results.derailed += 1
            position = (round_index + 1) * len(JOURNEY)
            continue
        results.steps[step.text or step.label or step.choose or "?"] += 1
        future = probe.expect(user.id)
        started = time.perf_counter()
        if step.text is not None:
            await user.send(step.text)
        else:
            assert label is not None
            await user.click(label)
        try:
            finished: float | None = await asyncio.wait_for(future, UPDATE_TIMEOUT)
        except TimeoutError:
            finished = None
        card = probe.card_at.pop(user.id, None)
        entered = probe.entered_at.pop(user.id, None)
        results.samples.append(
            Sample(
                card=None if card is None else card - started,
                done=None if finished is None else finished - started,
                queued=None if entered is None else entered - started,
            )
        )
        position += 1
        sent += 1


def _has_button(user: FakeUser, label: str) -> bool:
    """Tell whether the chat's latest message has a button matching ``label``."""
    try:
        user.last_message().button(label)
    except (AssertionError, LookupError, ValueError):
        return False
    return True


def route_of(record: RecordedRequest) -> str:
    """Return "METHOD /path/{template}" of a recorded Skiplino call."""
    for op in OPERATIONS:
        if op.method == record.method and _template(op.path).fullmatch(record.api_path):
            return f"{op.method} {op.path}"
    return f"{record.method} {record.api_path}"


def _template(path: str) -> re.Pattern[str]:
    """Return a regex matching a path template ("/tickets/{id}")."""
    return re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)))


# ---------------------------------------------------------------------------------------------
# Workers


@dataclass
class Balancer:
    """Hand updates from the fake Bot API to several workers in turn, like a webhook balancer."""

    telegram: FakeBotAPI
    workers: list[BotWorker]
    offset: int = 0
    handed: Counter[int] = field(default_factory=Counter)

    async def run(self) -> None:
        """Long-poll the fake Bot API and queue each update at the next worker."""
        turn = 0
        while True:
            response = await self.telegram.call("getUpdates", {"offset": self.offset, "timeout": 1})
            bodies = response.body.get("result") or []
            for body in bodies:
                self.offset = body["update_id"] + 1
                worker = self.workers[turn % len(self.workers)]
                self.handed[turn % len(self.workers)] += 1
                turn += 1
                app = worker.application
                await app.update_queue.put(Update.de_json(body, app.bot))


@contextlib.asynccontextmanager
async def running(
    harness: Stack, probe: Probe, count: int, *, rate_limiter: bool
) -> AsyncIterator[Balancer | None]:
    """Start ``count`` workers (one polling, or several behind a balancer); stop them after."""
    workers = [harness.worker() for _ in range(count)]
    for worker in workers:
        probe.time_bridge(worker.bridge)
        if not rate_limiter:
            # Benchmark-only switch: build_application always installs the limiter.
            worker.application.bot._rate_limiter = None
    balancer: Balancer | None = None
    task: asyncio.Task[None] | None = None
    if count == 1:
        await workers[0].start()
    else:
        for worker in workers:
            await worker.application.initialize()
            await worker.application.start()
        balancer = Balancer(harness.telegram, workers)
        task = asyncio.create_task(balancer.run())
    try:
        yield balancer
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await harness.stop()


# ---------------------------------------------------------------------------------------------
# One scenario


async def warm_check(harness: Stack, probe: Probe) -> Counter[str]:
    """Let one more user open the branch list and a branch; return its Skiplino calls."""
    before = len(harness.sandbox.requests)
    user = harness.telegram.user(FIRST_USER_ID - 1, first_name="Late")
    await run_user(probe, user, 0, 3, UserResult())
    return Counter(route_of(r) for r in harness.sandbox.requests[before:])


@dataclass
class Options:
    """The command line."""

    users: int
    updates_per_user: int
    latency_ms: list[float]
    workers: int
    redis_url: str
    rate_limiter: bool


async def scenario(options: Options, latency_ms: float) -> None:
    """Run every user once against a fresh stack and print the figures."""
    counter = RedisCounter()
    redis = counting_client(options.redis_url, counter)
    plain: aioredis.Redis = aioredis.Redis.from_url(options.redis_url)
    prefix = f"bench-{uuid.uuid4().hex[:12]}"
    harness = Stack(redis=redis, prefix=prefix)
    harness.sandbox.faults.set(latency_ms=latency_ms)
    probe = Probe()
    unsubscribe = harness.telegram.subscribe(probe.on_event)
    users = [
        harness.telegram.user(FIRST_USER_ID + i, first_name=f"User{i}")
        for i in range(options.users)
    ]
    results = [UserResult() for _ in users]
    try:
        async with running(
            harness, probe, options.workers, rate_limiter=options.rate_limiter
        ) as balancer:
            tickets_before = Counter(t.type for t in harness.sandbox.tickets)
            harness.sandbox.requests.clear()
            mark = counter.snapshot()
            bot_mark = len(harness.telegram.calls)
            server_before = await server_commandstats(plain)
            started = time.perf_counter()
            cpu_started = time.process_time()
            await asyncio.gather(
                *(
                    run_user(probe, user, i, options.updates_per_user, results[i])
                    for i, user in enumerate(users)
                )
            )
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            server_after = await server_commandstats(plain)
            commands, trips = counter.since(mark)
            tickets = Counter(t.type for t in harness.sandbox.tickets) - tickets_before
            routes = Counter(route_of(r) for r in harness.sandbox.requests)
            statuses = Counter(r.status for r in harness.sandbox.requests)
            bot_calls = Counter(
                c.method for c in harness.telegram.calls[bot_mark:] if c.method != "getUpdates"
            )
            handed = Counter(balancer.handed) if balancer is not None else None
            warm = await warm_check(harness, probe)
    finally:
        unsubscribe()
        async for key in plain.scan_iter(match=f"{prefix}:*"):
            await plain.delete(key)
        await plain.aclose()
        await redis.aclose()

    samples = [s for r in results for s in r.samples]
    report(
        options,
        latency_ms,
        Figures(
            wall=wall,
            cpu=cpu,
            samples=samples,
            derailed=sum(r.derailed for r in results),
            tickets=tickets,
            commands=commands,
            round_trips=trips,
            server=server_after - server_before,
            routes=routes,
            statuses=statuses,
            handed=handed,
            bot_calls=bot_calls,
            steps=sum((r.steps for r in results), Counter()),
            warm=warm,
        ),
    )


@dataclass
class Figures:
    """Everything one scenario measured."""

    wall: float
    cpu: float  # process CPU seconds: bot, fakes, sandbox and the simulated users together
    samples: list[Sample]
    derailed: int
    tickets: Counter[str]
    commands: Counter[str]
    round_trips: int
    server: Counter[str]
    routes: Counter[str]
    statuses: Counter[int | None]
    handed: Counter[int] | None
    bot_calls: Counter[str]
    steps: Counter[str]
    warm: Counter[str]


def percentiles(values: Sequence[float]) -> str:
    """Return "p50 / p95 / p99 / max" in milliseconds."""
    if not values:
        return "n/a"
    ordered = sorted(values)

    def at(q: float) -> float:
        """Return the nearest-rank ``q`` quantile in milliseconds."""
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return (
        f"p50 {at(0.50):6.1f}  p95 {at(0.95):6.1f}  p99 {at(0.99):6.1f}  "
        f"max {ordered[-1] * 1000:6.1f} ms"
    )


def report(options: Options, latency_ms: float, f: Figures) -> None:
    """Print one scenario's figures."""
    handled = [s for s in f.samples if s.done is not None]
    n = len(f.samples) or 1
    cards = [s.card for s in f.samples if s.card is not None]
    dones = [s.done for s in handled if s.done is not None]
    line = "=" * 78
    print(line)
    print(
        f"{options.users} users x {options.updates_per_user} updates, "
        f"Skiplino latency {latency_ms:g} ms, {options.workers} worker(s)"
    )
    print(line)
    throughput = len(handled) / f.wall if f.wall else 0.0
    print(f"updates handled   {len(handled)} of {len(f.samples)} in {f.wall:.2f} s")
    print(f"throughput        {throughput:.1f} updates/s")
    print(
        f"CPU               {f.cpu / n * 1000:.1f} ms per update "
        f"({f.cpu / f.wall:.0%} of one core; bot, fakes and sandbox in one process)"
    )
    if dones:
        mean = statistics.fmean(dones)
        # Little's law: how many updates were in flight on average, i.e. chats served at once.
        print(f"in flight (avg)   {throughput * mean:.1f} updates (throughput x mean time)")
    print(f"action -> card    {percentiles(cards)}")
    print(f"action -> done    {percentiles(dones)}  (turn ended, lock released)")
    queued = [s.queued for s in f.samples if s.queued is not None]
    inside = [s.done - s.queued for s in f.samples if s.done is not None and s.queued is not None]
    print(f"  of which queued {percentiles(queued)}  (fetch + PTB, before the turn)")
    print(f"  in the turn     {percentiles(inside)}")
    missing = len(f.samples) - len(cards)
    if missing or f.derailed:
        print(f"no card           {missing} update(s); derailed rounds {f.derailed}")
    booked = ", ".join(f"{kind} {count}" for kind, count in sorted(f.tickets.items()))
    print(f"tickets booked    {booked or 'none'}")
    if f.handed is not None:
        spread = ", ".join(f"w{i}: {c}" for i, c in sorted(f.handed.items()))
        print(f"updates per worker {spread}")

    total = sum(f.commands.values())
    print(
        f"\nRedis (counted at the client): {total / n:.2f} commands, "
        f"{f.round_trips / n:.2f} round trips per update"
    )
    for name, count in f.commands.most_common():
        print(f"  {name:<10} {count / n:6.2f} per update  ({count})")
    server_total = sum(f.server.values())
    # Redis counts the commands a Lua script runs as well, so this is more than the trips.
    print(
        f"  server side (INFO commandstats delta; includes commands run inside the Lua "
        f"scripts, and any other client's traffic): {server_total / n:.2f} per update"
    )
    inner = ", ".join(f"{name} {count / n:.2f}" for name, count in f.server.most_common(8))
    print(f"    {inner}")

    bot = sum(f.bot_calls.values())
    print(f"\nBot API: {bot / n:.2f} calls per update")
    for method, count in f.bot_calls.most_common():
        print(f"  {method:<22} {count / n:6.2f} per update  ({count})")

    calls = sum(f.routes.values())
    print(f"\nSkiplino: {calls / n:.2f} calls per update ({calls} calls)")
    for route, count in sorted(f.routes.items(), key=lambda item: (-item[1], item[0])):
        print(f"  {route:<36} {count:5d}  ({count / n:.3f} per update)")
    lists, opened = f.steps["Book a ticket"], f.steps["Seef Mall"]
    print(
        f"  catalog cache: {f.routes[BRANCHES]} GET /branches for {lists} branch lists shown, "
        f"{f.routes[TREE]} tree fetches for {opened} branches opened (the tree also feeds "
        f"the group, service and mode steps)"
    )
    print(
        f"  a user arriving after the run: {f.warm[BRANCHES]} GET /branches, "
        f"{f.warm[TREE]} tree fetches in 3 updates"
    )
    bad = {status: c for status, c in f.statuses.items() if status is None or status >= 500}
    if bad:
        print(f"  failed or unanswered: {bad}")
    print()


# ---------------------------------------------------------------------------------------------
# Command line


def parse(argv: Sequence[str] | None = None) -> Options:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_updates",
        description="Drive the whole bot with concurrent users and print figures.",
    )
    parser.add_argument("--users", type=int, default=20, help="concurrent users (default 20)")
    parser.add_argument(
        "--updates-per-user",
        type=int,
        default=len(JOURNEY),
        help=f"updates each user sends; {len(JOURNEY)} = one walk-in + one appointment "
        f"(default), more repeats the journey",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        action="append",
        help="added Skiplino latency; repeat for several runs (default: 0 and 50)",
    )
    parser.add_argument("--workers", type=int, default=1, help="bot workers (default 1)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument(
        "--no-rate-limiter",
        action="store_true",
        help="take PTB's AIORateLimiter (30 sends/s per worker) out, to see the bot's own cost",
    )
    args = parser.parse_args(argv)
    if args.users < 1 or args.updates_per_user < 1 or args.workers < 1:
        parser.error("--users, --updates-per-user and --workers must be at least 1")
    return Options(
        users=args.users,
        updates_per_user=args.updates_per_user,
        latency_ms=args.latency_ms or [0.0, 50.0],
        workers=args.workers,
        redis_url=args.redis_url,
        rate_limiter=not args.no_rate_limiter,
    )


async def main(options: Options) -> None:
    """Run one scenario per latency."""
    for latency in options.latency_ms:
        await scenario(options, latency)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(parse()))
