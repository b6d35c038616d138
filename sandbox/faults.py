"""Own the sandbox's fault switches: added latency, a random error rate, forced statuses, hangs,
and late writes (a route handled only after a delay, even when the client gave up meanwhile).

Route patterns are ``METHOD:PATH`` with the path relative to ``/external/v1`` (the prefix is
also accepted); a segment written ``*`` or ``{name}`` matches any one segment, and the method
``*`` matches any method. Must not import bot, conversations or telegram.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

API_PREFIX = "/external/v1"

Route = tuple[str, str]


class FaultSpecError(ValueError):
    """A fault switch was written in a form the sandbox does not understand."""


def normalize_route(method: str, path: str) -> Route:
    """Return ``(METHOD, /path)`` with the API prefix and any trailing slash removed."""
    method = method.strip().upper()
    path = path.strip()
    if not method or not path:
        raise FaultSpecError("a route needs a method and a path, e.g. POST:/tickets/book")
    if path.startswith(API_PREFIX):
        path = path[len(API_PREFIX) :]
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1:
        path = path.rstrip("/")
    return method, path


def parse_route(spec: str) -> Route:
    """Parse ``METHOD:PATH`` (e.g. ``POST:/tickets/{id}/cancel``)."""
    method, sep, path = spec.partition(":")
    if not sep:
        raise FaultSpecError(f"expected METHOD:PATH, got {spec!r}")
    return normalize_route(method, path)


def parse_forced(spec: str) -> tuple[Route, int]:
    """Parse ``METHOD:PATH=STATUS`` (e.g. ``POST:/tickets/book=503``)."""
    route, sep, status = spec.rpartition("=")
    if not sep:
        raise FaultSpecError(f"expected METHOD:PATH=STATUS, got {spec!r}")
    try:
        code = int(status)
    except ValueError:
        raise FaultSpecError(f"status must be a number, got {status!r}") from None
    return parse_route(route), _checked_status(code)


def _checked_status(status: int) -> int:
    """Return ``status`` if it is an error status the sandbox can answer with."""
    if not 400 <= status <= 599:
        raise FaultSpecError(f"a forced status must be 400-599, got {status}")
    return status


def route_matches(pattern: Route, method: str, api_path: str) -> bool:
    """Tell whether a request (method, path relative to the API base) matches ``pattern``."""
    want_method, want_path = pattern
    if want_method not in ("*", method.upper()):
        return False
    want = want_path.strip("/").split("/")
    have = api_path.strip("/").split("/")
    if len(want) != len(have):
        return False
    return all(
        w == "*" or (w.startswith("{") and w.endswith("}")) or w == h
        for w, h in zip(want, have, strict=True)
    )


@dataclass
class Faults:
    """The current fault switches; change them with the methods or by assigning attributes."""

    seed: int = 7
    latency_ms: float = 0.0
    error_rate: float = 0.0
    forced: dict[Route, int] = field(default_factory=dict)
    hang: set[Route] = field(default_factory=set)
    # How long a hanging route sleeps at most; it also stops when the client goes away.
    hang_seconds: float = 3600.0
    # Routes handled only after this many seconds, and handled even if the client went away:
    # a write that lands after the client's timeout (unlike ``hang``, which never writes).
    late: dict[Route, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Start the error-rate dice from the seed."""
        self.reseed()

    def reseed(self) -> None:
        """Restart the error-rate dice, kept apart from the id generator so ids stay stable."""
        self._rng = random.Random(f"faults-{self.seed}")

    def set(self, *, latency_ms: float | None = None, error_rate: float | None = None) -> None:
        """Change the latency and/or the error rate."""
        if latency_ms is not None:
            if latency_ms < 0:
                raise FaultSpecError("latency_ms must be >= 0")
            self.latency_ms = float(latency_ms)
        if error_rate is not None:
            if not 0.0 <= error_rate <= 1.0:
                raise FaultSpecError("error_rate must be between 0 and 1")
            self.error_rate = float(error_rate)

    def force(self, method: str, path: str, status: int) -> None:
        """Answer every call matching ``method`` + ``path`` with ``status``."""
        self.forced[normalize_route(method, path)] = _checked_status(status)

    def unforce(self, method: str, path: str) -> None:
        """Stop forcing a status on a route."""
        self.forced.pop(normalize_route(method, path), None)

    def add_hang(self, method: str, path: str) -> None:
        """Make every call matching ``method`` + ``path`` hang."""
        self.hang.add(normalize_route(method, path))

    def remove_hang(self, method: str, path: str) -> None:
        """Stop a route from hanging."""
        self.hang.discard(normalize_route(method, path))

    def add_late(self, method: str, path: str, seconds: float) -> None:
        """Handle every call matching ``method`` + ``path`` after ``seconds``, client or not."""
        if seconds < 0:
            raise FaultSpecError("a late route's delay must be >= 0 seconds")
        self.late[normalize_route(method, path)] = float(seconds)

    def remove_late(self, method: str, path: str) -> None:
        """Stop delaying a route's handling."""
        self.late.pop(normalize_route(method, path), None)

    def clear(self) -> None:
        """Switch every fault off."""
        self.latency_ms = 0.0
        self.error_rate = 0.0
        self.forced.clear()
        self.hang.clear()
        self.late.clear()

    def forced_status(self, method: str, api_path: str) -> int | None:
        """Return the status forced on this request, if any."""
        for pattern, status in self.forced.items():
            if route_matches(normalize_route(*pattern), method, api_path):
                return status
        return None

    def hangs(self, method: str, api_path: str) -> bool:
        """Tell whether this request must hang."""
        return any(route_matches(normalize_route(*p), method, api_path) for p in self.hang)

    def late_seconds(self, method: str, api_path: str) -> float | None:
        """Return how long this request's handling is delayed, or None when it is not."""
        for pattern, seconds in self.late.items():
            if route_matches(normalize_route(*pattern), method, api_path):
                return seconds
        return None

    def roll_error(self) -> bool:
        """Tell whether this call is one of the ``error_rate`` share answered 500."""
        return self.error_rate > 0 and self._rng.random() < self.error_rate

    def snapshot(self) -> dict[str, Any]:
        """Return the switches as JSON-ready data."""
        return {
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "forced": {f"{m}:{p}": status for (m, p), status in sorted(self.forced.items())},
            "hang": sorted(f"{m}:{p}" for m, p in self.hang),
            "hang_seconds": self.hang_seconds,
            "late": {f"{m}:{p}": seconds for (m, p), seconds in sorted(self.late.items())},
        }

    def configure(self, payload: dict[str, Any]) -> None:
        """Apply an admin payload: ``clear``, ``latency_ms``, ``error_rate``, ``force``, ``hang``,
        ``late``.

        ``force`` is a list of ``METHOD:PATH=STATUS`` strings or a mapping ``METHOD:PATH`` ->
        status; ``hang`` is a list of ``METHOD:PATH`` strings; ``late`` maps ``METHOD:PATH``
        to seconds. Lists and mappings add to the current switches.
        """
        if payload.get("clear"):
            self.clear()
        latency = payload.get("latency_ms")
        rate = payload.get("error_rate")
        self.set(
            latency_ms=None if latency is None else _number(latency, "latency_ms"),
            error_rate=None if rate is None else _number(rate, "error_rate"),
        )
        if "hang_seconds" in payload:
            self.hang_seconds = _number(payload["hang_seconds"], "hang_seconds")
        forced = payload.get("force", [])
        if isinstance(forced, dict):
            for route, status in forced.items():
                if not isinstance(status, int):
                    raise FaultSpecError("force statuses must be integers")
                self.forced[parse_route(str(route))] = _checked_status(status)
        elif isinstance(forced, list):
            for spec in forced:
                parsed_route, code = parse_forced(str(spec))
                self.forced[parsed_route] = code
        else:
            raise FaultSpecError("force must be a list or an object")
        hang = payload.get("hang", [])
        if not isinstance(hang, list):
            raise FaultSpecError("hang must be a list of METHOD:PATH strings")
        for spec in hang:
            self.hang.add(parse_route(str(spec)))
        late = payload.get("late", {})
        if not isinstance(late, dict):
            raise FaultSpecError("late must be an object of METHOD:PATH -> seconds")
        for route, seconds in late.items():
            delay = _number(seconds, "late seconds")
            if delay < 0:
                raise FaultSpecError("a late route's delay must be >= 0 seconds")
            self.late[parse_route(str(route))] = delay


def _number(value: object, name: str) -> float:
    """Return ``value`` as a float or raise a readable error."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultSpecError(f"{name} must be a number")
    return float(value)
