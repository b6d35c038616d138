"""Own the process's Prometheus metrics, the polling health state and the operator endpoints.

Every metric of the bot is defined here, with small ``record_*`` functions the other layers
call: the Telegram adapter (updates, lock waits, store errors), the composition root's
request and Skiplino hooks, and later the flows (bookings, cancellations, moves) and the
circuit breaker (its gauge). Labels are bounded vocabularies (kinds, outcomes, method and
operation names); no label ever carries a chat id, a name or a phone number.

``create_ops_app`` is the small server of ``METRICS_PORT`` in polling mode: ``/metrics``,
``/healthz`` (the event loop answers) and ``/readyz`` (the store answers and Telegram answered
a getUpdates recently). Must not import Telegram, conversations or the Skiplino client.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)

# A *_created series per counter doubles a scrape and serves no alert.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream

PREFIX: Final = "skiplino_bot"
METRICS_PATH: Final = "/metrics"
LIVE_PATH: Final = "/healthz"
READY_PATH: Final = "/readyz"
# Long polling asks every few seconds; no answer for this long means Telegram is out of reach.
UPDATES_STALE_SECONDS: Final = 90.0
READY_TIMEOUT_SECONDS: Final = 2.0

# Telegram method names are short camelCase words; anything else is folded into one label.
_METHOD_NAME = re.compile(r"[A-Za-z]{1,40}")

# Seconds: a turn is usually a few Skiplino calls, a lock wait usually nothing.
_UPDATE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
_CALL_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_WAIT_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

UPDATES = Counter(
    f"{PREFIX}_updates",
    "Telegram updates handled, by kind and outcome.",
    ["kind", "outcome"],
)
UPDATE_SECONDS = Histogram(
    f"{PREFIX}_update_seconds",
    "Time to handle one update, from receipt to the reply shown.",
    ["kind"],
    buckets=_UPDATE_BUCKETS,
)
TELEGRAM_CALLS = Counter(f"{PREFIX}_telegram_calls", "Bot API calls made, by method.", ["method"])
TELEGRAM_ERRORS = Counter(
    f"{PREFIX}_telegram_errors",
    "Bot API calls that failed, by method and reason (HTTP status or exception type).",
    ["method", "reason"],
)
SKIPLINO_CALLS = Counter(
    f"{PREFIX}_skiplino_calls",
    "Skiplino HTTP attempts, by operation and outcome (HTTP status, timeout, ...).",
    ["operation", "status"],
)
SKIPLINO_SECONDS = Histogram(
    f"{PREFIX}_skiplino_seconds",
    "Duration of one Skiplino HTTP attempt, by operation.",
    ["operation"],
    buckets=_CALL_BUCKETS,
)
LOCK_WAIT_SECONDS = Histogram(
    f"{PREFIX}_lock_wait_seconds",
    "Time an update waited to enter its chat's turn (lock and load).",
    buckets=_WAIT_BUCKETS,
)
BUSY_ANSWERS = Counter(
    f"{PREFIX}_busy_answers",
    "Updates answered 'busy' because their chat's lock stayed taken.",
)
STORE_ERRORS = Counter(
    f"{PREFIX}_store_errors",
    "Times the chat store (Redis) could not be reached, by where it was noticed.",
    ["where"],
)
BOOKINGS = Counter(f"{PREFIX}_bookings", "Tickets booked, by kind.", ["kind"])
CANCELLATIONS = Counter(f"{PREFIX}_cancellations", "Tickets cancelled.")
MOVES = Counter(f"{PREFIX}_moves", "Appointments moved to another time.")
CIRCUIT_OPEN = Gauge(
    f"{PREFIX}_circuit_open",
    "1 while the circuit breaker to a service is open (calls refused), else 0.",
    ["service"],
)
LAST_UPDATES_ANSWER = Gauge(
    f"{PREFIX}_last_get_updates_timestamp_seconds",
    "Unix time of the last getUpdates that Telegram answered (polling mode).",
)

UPDATE_KINDS: Final = ("message", "command", "callback", "contact")
UPDATE_OUTCOMES: Final = (
    "ok",
    "busy",
    "store_unavailable",
    "skiplino_unavailable",
    "telegram_unavailable",
    "dropped",
    "cancelled",
    "error",
)


def record_update(kind: str, outcome: str, seconds: float) -> None:
    """Count one handled update and how long it took."""
    UPDATES.labels(kind=kind, outcome=outcome).inc()
    UPDATE_SECONDS.labels(kind=kind).observe(seconds)


def record_lock_wait(seconds: float) -> None:
    """Note how long an update waited for its chat's turn."""
    LOCK_WAIT_SECONDS.observe(seconds)


def record_busy() -> None:
    """Count an update answered "busy"."""
    BUSY_ANSWERS.inc()


def record_store_error(where: str) -> None:
    """Count a chat store outage noticed at ``where`` (a fixed word, never an id)."""
    STORE_ERRORS.labels(where=where).inc()


def method_label(url: str) -> str:
    """Return the Bot API method of a request URL, never the token part before it."""
    method = url.rsplit("/", 1)[-1]
    return method if _METHOD_NAME.fullmatch(method) else "other"


def record_telegram_call(method: str, error: str | None = None) -> None:
    """Count one Bot API call; ``error`` is its failure reason, None when it succeeded."""
    TELEGRAM_CALLS.labels(method=method).inc()
    if error is not None:
        TELEGRAM_ERRORS.labels(method=method, reason=error).inc()


def record_skiplino_call(operation: str, status: str, seconds: float) -> None:
    """Count one Skiplino HTTP attempt and its duration (the client's ``on_call`` hook)."""
    SKIPLINO_CALLS.labels(operation=operation, status=status).inc()
    SKIPLINO_SECONDS.labels(operation=operation).observe(seconds)


def record_booking(kind: str) -> None:
    """Count a ticket booked; ``kind`` is "walk_in" or "appointment"."""
    BOOKINGS.labels(kind=kind).inc()


def record_cancellation() -> None:
    """Count a ticket cancelled by its customer."""
    CANCELLATIONS.inc()


def record_move() -> None:
    """Count an appointment moved to another time."""
    MOVES.inc()


def set_circuit_open(service: str, is_open: bool) -> None:
    """Set the circuit breaker gauge of ``service`` ("skiplino", "redis", ...)."""
    CIRCUIT_OPEN.labels(service=service).set(1 if is_open else 0)


def exposition(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """Return the metrics in Prometheus text format and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


async def metrics_endpoint(request: Request) -> Response:
    """Answer a Prometheus scrape."""
    body, content_type = exposition()
    return Response(body, media_type=content_type)


class UpdatesWatch:
    """Remember when Telegram last answered a getUpdates, for readiness in polling mode."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Start as never answered."""
        self._clock = clock
        self._last: float | None = None

    def answered(self) -> None:
        """Note a getUpdates that Telegram answered."""
        self._last = self._clock()
        LAST_UPDATES_ANSWER.set_to_current_time()

    def age(self) -> float | None:
        """Return the seconds since the last answered getUpdates; None if none yet."""
        return None if self._last is None else self._clock() - self._last

    def fresh(self, limit: float = UPDATES_STALE_SECONDS) -> bool:
        """Tell whether Telegram answered a getUpdates within ``limit`` seconds."""
        age = self.age()
        return age is not None and age < limit


async def store_answers(ping: Callable[[], Awaitable[object]]) -> bool:
    """Tell whether the store answers ``ping`` within the readiness timeout."""
    try:
        await asyncio.wait_for(ping(), READY_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure of the check means "not ready"
        log.warning("readiness: the chat store does not answer (%s)", type(exc).__name__)
        return False
    return True


def create_ops_app(ping: Callable[[], Awaitable[object]], updates: UpdatesWatch) -> Starlette:
    """Build the operator endpoints of polling mode: metrics, liveness and readiness."""

    async def live(request: Request) -> Response:
        """Answer 200: a handler ran, so the event loop answers."""
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        """Answer 200 when the store answers and getUpdates was answered lately, else 503."""
        store_up = await store_answers(ping)
        telegram_up = updates.fresh()
        body = {
            "status": "ok" if store_up and telegram_up else "unavailable",
            "store": "up" if store_up else "down",
            "telegram": "up" if telegram_up else "down",
        }
        return JSONResponse(body, status_code=200 if store_up and telegram_up else 503)

    return Starlette(
        routes=[
            Route(METRICS_PATH, metrics_endpoint, methods=["GET"]),
            Route(LIVE_PATH, live, methods=["GET"]),
            Route(READY_PATH, ready, methods=["GET"]),
        ]
    )


# Shown as 0 from the start, so rates and alerts have a series before the first event.
set_circuit_open("skiplino", False)
for _kind in UPDATE_KINDS:
    UPDATE_SECONDS.labels(kind=_kind)
    for _outcome in UPDATE_OUTCOMES:
        UPDATES.labels(kind=_kind, outcome=_outcome)
