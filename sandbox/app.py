"""Own the sandbox ASGI app: the ``Sandbox`` object, the API routes and the admin routes.

The API lives under ``/external/v1`` exactly as the real one; ``GET /healthz`` answers 200
to any caller (the container's healthcheck). Admin routes serve tests, demos and benchmarks;
with an ``admin_key`` they need it in the ``X-Sandbox-Admin-Key`` header, and with
``admin_locked`` they are off (see ``sandbox/server.py`` for when each applies):

- ``GET /_sandbox/sample`` - ids and dates of the sample company
- ``GET|DELETE /_sandbox/requests`` - the recorded API calls (key masked) / forget them
- ``GET|POST|DELETE /_sandbox/faults`` - show / change (see ``Faults.configure``) / clear
- ``POST /_sandbox/advance`` ``{"service_id": str | null, "steps": int}`` - move queues
- ``POST /_sandbox/tickets/{id}/status`` ``{"status": str}`` - force a ticket status
- ``POST /_sandbox/slots/fill`` ``{"service_id": str, "time": "...Z", "leave": int}``
- ``POST /_sandbox/reset`` - back to the sample company and the initial faults

One event loop serves everything, so there are no locks; handlers are synchronous so that
no request can interleave between a check and its write. Must not import bot,
conversations or telegram.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from http import HTTPStatus
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount, Route

from sandbox import handlers
from sandbox.data import SampleIds, build_sample
from sandbox.faults import API_PREFIX, Faults, FaultSpecError
from sandbox.handlers import Call, Handler, Reply
from sandbox.state import BranchRecord, CustomerRecord, TicketRecord, World, to_utc

Endpoint = Callable[[Request], Awaitable[Response]]

# The keys the sandbox accepts unless told otherwise; test keys, never real ones.
DEFAULT_SECRET_KEY = "sk_test_sandbox"
DEFAULT_PUBLIC_KEY = "pk_test_sandbox"
# The API's base URL for a client that reaches the app in-process (an ASGI transport): any
# host works, this one reads well in logs and recorded requests.
IN_PROCESS_API_URL = f"http://sandbox{API_PREFIX}"


@dataclass(frozen=True)
class Operation:
    """One API operation: method, path template under the API base, handler and key rule."""

    method: str
    path: str
    handler: Handler
    secret_only: bool = False
    takes_body: bool = False


OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/branches", handlers.list_branches),
    Operation("GET", "/branches/{branchId}/tree", handlers.branch_tree),
    Operation("GET", "/services/{id}/slots", handlers.service_slots),
    Operation("POST", "/tickets/book", handlers.book_ticket, takes_body=True),
    Operation("GET", "/tickets/{id}", handlers.get_ticket),
    Operation("POST", "/tickets/{id}/cancel", handlers.cancel_ticket),
    Operation("POST", "/tickets/{id}/change-time", handlers.change_time, takes_body=True),
    Operation(
        "POST", "/customers/create", handlers.create_customer, secret_only=True, takes_body=True
    ),
    Operation("GET", "/customers/getAll", handlers.list_customers, secret_only=True),
    Operation("GET", "/customers/getOne", handlers.get_customer, secret_only=True),
    Operation(
        "PUT", "/customers/update", handlers.update_customer, secret_only=True, takes_body=True
    ),
    Operation("DELETE", "/customers/delete", handlers.delete_customer, secret_only=True),
    # Read-only and client-facing: public or secret key, as documented.
    Operation("GET", "/customers/tickets", handlers.customer_tickets),
)

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
REDACTED = "Bearer ***"
ADMIN_KEY_HEADER = "X-Sandbox-Admin-Key"
# The request log holds every body (customer names, phone numbers): only the newest stay.
MAX_RECORDED_REQUESTS = 1000
_CLIENT_GONE = Reply(499, {})


@dataclass
class RecordedRequest:
    """One call the API received; ``status`` is None while unanswered (or when it hung)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    status: int | None = None

    @property
    def api_path(self) -> str:
        """Return the path relative to ``/external/v1``."""
        return self.path.removeprefix(API_PREFIX) or "/"

    @property
    def locale(self) -> str | None:
        """Return the X-Locale header as sent (None when absent)."""
        return self.headers.get("x-locale")

    def to_json(self) -> dict[str, Any]:
        """Return the record as JSON data with the API key masked."""
        headers = dict(self.headers)
        if "authorization" in headers:
            headers["authorization"] = REDACTED
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": headers,
            "json": self.json,
            "status": self.status,
        }


def _system_clock() -> datetime:
    """Return the current UTC time."""
    return datetime.now(UTC)


def locale_of(header: str | None) -> str:
    """Map an X-Locale value to "ar" or "en" (empty, missing or unknown -> "en")."""
    value = (header or "").strip().lower().replace("_", "-")
    return "ar" if value == "ar" or value.startswith("ar-") else "en"


def _json_body(raw: bytes) -> tuple[Any, bool]:
    """Parse a request body; return (value, well-formed). An empty body counts as ``{}``."""
    if not raw.strip():
        return {}, True
    try:
        return json.loads(raw), True
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", errors="replace"), False


FORCED_BODIES: dict[int, tuple[str, str | None]] = {
    409: (handlers.MSG_NOT_CANCELLABLE, handlers.MSG_NOT_CANCELLABLE),
    429: ("Too many requests.", "Rate limit exceeded."),
    500: (handlers.MSG_SERVER_ERROR, handlers.ERR_SERVER),
}


def forced_reply(status: int, api_path: str, locale: str) -> Reply:
    """Return a fitting envelope for a status forced by the fault switches."""
    if status == 401:
        return handlers.unauthorized()
    if status == 422:
        return handlers.invalid({"sandbox": "Forced by the sandbox fault switch."})
    if status == 400:
        return handlers.failure(400, handlers.MSG_BOOK_FAILED, handlers.CLOSED_SERVICE.get(locale))
    if status == 404:
        if api_path.startswith("/customers"):
            return handlers.failure(404, "Customer not found.", None)
        return handlers.failure(404, "Ticket not found.", "Ticket not found.")
    if status in FORCED_BODIES:
        message, error = FORCED_BODIES[status]
        return handlers.failure(status, message, error)
    try:
        phrase = HTTPStatus(status).phrase + "."
    except ValueError:
        phrase = "Error."
    return handlers.failure(status, phrase, phrase)


class Sandbox:
    """An in-memory Skiplino external v1 API with a sample company and fault switches."""

    def __init__(
        self,
        *,
        secret_key: str = DEFAULT_SECRET_KEY,
        public_key: str = DEFAULT_PUBLIC_KEY,
        timezone: str = "Asia/Bahrain",
        seed: int = 7,
        clock: Callable[[], datetime] | None = None,
        serve_interval_seconds: float = 180.0,
        latency_ms: float = 0.0,
        error_rate: float = 0.0,
        forced: Mapping[tuple[str, str], int] | None = None,
        hang: Iterable[tuple[str, str]] = (),
        admin_key: str | None = None,
        admin_locked: bool = False,
        max_recorded_requests: int = MAX_RECORDED_REQUESTS,
    ) -> None:
        """Build the sample company from ``seed`` at the clock's current time."""
        if max_recorded_requests < 1:
            raise ValueError("max_recorded_requests must be at least 1")
        self.secret_key = secret_key
        self.admin_key = admin_key or None
        self.admin_locked = admin_locked and self.admin_key is None
        self.max_recorded_requests = max_recorded_requests
        self.public_key = public_key
        self.timezone = ZoneInfo(timezone)
        self.seed = seed
        self.serve_interval_seconds = serve_interval_seconds
        self._clock = clock or _system_clock
        self._initial_faults = (latency_ms, error_rate, dict(forced or {}), tuple(hang))
        self.faults = Faults(seed=seed)
        self._restore_faults()
        self.requests: list[RecordedRequest] = []
        # Late writes still running (see ``Faults.late``); kept so they are not collected.
        self._late_writes: set[asyncio.Future[Reply]] = set()
        self._world, self._sample = self._build()
        self._api_routes = [
            Route(op.path, self._endpoint(op), methods=[op.method]) for op in OPERATIONS
        ]
        self.app = Starlette(
            routes=[
                Mount(
                    API_PREFIX,
                    routes=[
                        *self._api_routes,
                        Route("/{rest:path}", self._unknown_route, methods=ALL_METHODS),
                    ],
                ),
                Mount("/_sandbox", routes=self._admin_routes()),
                Route("/healthz", self._healthz, methods=["GET"]),
            ],
            exception_handlers={404: self._http_error, 405: self._http_error},
        )

    # -- state -------------------------------------------------------------------------------

    def now(self) -> datetime:
        """Return the sandbox clock's current time in UTC."""
        return to_utc(self._clock())

    def _build(self) -> tuple[World, SampleIds]:
        """Create the world and fill it with the sample company."""
        now = self.now()
        world = World(
            tz=self.timezone,
            rng=random.Random(self.seed),
            serve_interval_seconds=self.serve_interval_seconds,
            now=now,
        )
        return world, build_sample(world, now)

    def _restore_faults(self) -> None:
        """Put the fault switches back to the constructor's values."""
        latency_ms, error_rate, forced, hang = self._initial_faults
        self.faults.clear()
        self.faults.set(latency_ms=latency_ms, error_rate=error_rate)
        for (method, path), status in forced.items():
            self.faults.force(method, path, status)
        for method, path in hang:
            self.faults.add_hang(method, path)
        self.faults.reseed()

    def reset(self) -> None:
        """Restore the sample data, forget recorded requests and restore the initial faults."""
        self._world, self._sample = self._build()
        self.requests.clear()
        self._restore_faults()

    def _sync(self) -> World:
        """Bring the world up to the clock and return it."""
        self._world.catch_up(self.now())
        return self._world

    @property
    def branches(self) -> list[BranchRecord]:
        """Return every branch, inactive ones included."""
        return self._world.branches

    @property
    def customers(self) -> list[CustomerRecord]:
        """Return the customers in insertion order."""
        return self._world.customers

    @property
    def tickets(self) -> list[TicketRecord]:
        """Return every ticket in booking order, brought up to the clock."""
        return self._sync().tickets

    def ticket(self, ticket_id: str) -> TicketRecord:
        """Return one ticket, brought up to the clock (KeyError when unknown)."""
        found = self._sync().ticket(ticket_id)
        if found is None:
            raise KeyError(ticket_id)
        return found

    def customer(self, customer_id: str) -> CustomerRecord:
        """Return one customer by ``_id`` (KeyError when unknown)."""
        found = self._world.customer_by_id(customer_id)
        if found is None:
            raise KeyError(customer_id)
        return found

    def sample_ids(self) -> SampleIds:
        """Return the ids and dates of the sample company."""
        return self._sample

    @property
    def sample(self) -> SampleIds:
        """Return the ids and dates of the sample company."""
        return self._sample

    def ticket_json(self, ticket_id: str, locale: str = "en") -> dict[str, Any]:
        """Return a ticket exactly as the API would render it."""
        return handlers.render_ticket(self._world, self.ticket(ticket_id), locale)

    def advance_queue(self, service_id: str | None = None, steps: int = 1) -> int:
        """Serve the head of one service's queue (or every service's) ``steps`` times."""
        world = self._sync()
        if service_id is not None and all(s.id != service_id for s in world.all_services()):
            raise KeyError(service_id)
        return world.advance(service_id, steps, self.now())

    def set_ticket_status(self, ticket_id: str, status: str) -> None:
        """Put a ticket into any status (unknown ones too, the API's list is open-ended)."""
        self._world.set_status(self.ticket(ticket_id), status, self.now())

    def fill_slot(self, service_id: str, time: datetime | str, *, leave: int = 0) -> None:
        """Make a slot full (or leave ``leave`` places), as if booked through other channels."""
        service = self._world.service(service_id)
        if service is None or not service.is_appointment:
            raise KeyError(f"{service_id} is not an appointment service")
        instant = time if isinstance(time, datetime) else handlers.parse_utc_time(time)
        if instant is None:
            raise ValueError(f"{time!r} is not a UTC date-time ending in Z")
        self._world.fill_slot(service, instant, leave=leave)

    # -- API routes --------------------------------------------------------------------------

    def _endpoint(self, operation: Operation) -> Endpoint:
        """Wrap an operation with recording, faults, auth and body parsing."""

        async def endpoint(request: Request) -> Response:
            """Answer one API call."""
            return await self._answer(request, operation)

        return endpoint

    async def _unknown_route(self, request: Request) -> Response:
        """Answer a path under the API base that no operation serves (404 or 405)."""
        partial = any(
            route.matches(request.scope)[0] == Match.PARTIAL for route in self._api_routes
        )
        return await self._answer(request, None, 405 if partial else 404)

    async def _answer(
        self, request: Request, operation: Operation | None, missing: int = 404
    ) -> Response:
        """Record the call, apply faults, check the key and run the handler."""
        raw = await request.body()
        parsed, well_formed = _json_body(raw)
        record = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers=dict(request.headers),
            json=parsed if raw.strip() else None,
        )
        self.requests.append(record)
        if len(self.requests) > self.max_recorded_requests:
            del self.requests[: len(self.requests) - self.max_recorded_requests]
        locale = locale_of(request.headers.get("x-locale"))
        reply = await self._faulted(request, record, locale)
        if reply is _CLIENT_GONE:
            return Response(status_code=_CLIENT_GONE.status)  # never delivered; status stays None
        late = self.faults.late_seconds(record.method, record.api_path)
        if reply is None and late is not None:
            # Shielded: the write lands after the delay even when the client stopped waiting,
            # which is what a slow Skiplino does to a client that timed out.
            task = asyncio.ensure_future(
                self._handle_late(
                    late, record, request, operation, (missing, locale), parsed, well_formed
                )
            )
            self._late_writes.add(task)
            task.add_done_callback(self._late_writes.discard)
            reply = await asyncio.shield(task)
        elif reply is None:
            # From here on nothing awaits: check-then-write is atomic on the event loop.
            reply = self._handle(request, operation, missing, locale, parsed, well_formed)
        record.status = reply.status
        return JSONResponse(reply.body, status_code=reply.status)

    async def _handle_late(
        self,
        seconds: float,
        record: RecordedRequest,
        request: Request,
        operation: Operation | None,
        missing_and_locale: tuple[int, str],
        body: Any,
        well_formed: bool,
    ) -> Reply:
        """Wait ``seconds``, then run the operation; record its status whoever still listens."""
        await asyncio.sleep(seconds)
        missing, locale = missing_and_locale
        reply = self._handle(request, operation, missing, locale, body, well_formed)
        record.status = reply.status
        return reply

    async def _faulted(
        self, request: Request, record: RecordedRequest, locale: str
    ) -> Reply | None:
        """Apply latency, hang, forced status and error rate; return a reply if one fires.

        Returns ``_CLIENT_GONE`` when the client disconnected while the route hung.
        """
        faults = self.faults
        if faults.latency_ms > 0:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.hangs(record.method, record.api_path):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + faults.hang_seconds
            while loop.time() < deadline:
                if await request.is_disconnected():
                    return _CLIENT_GONE
                await asyncio.sleep(0.05)
        forced = faults.forced_status(record.method, record.api_path)
        if forced is not None:
            return forced_reply(forced, record.api_path, locale)
        if faults.roll_error():
            return handlers.server_error()
        return None

    def _handle(
        self,
        request: Request,
        operation: Operation | None,
        missing: int,
        locale: str,
        body: Any,
        well_formed: bool,
    ) -> Reply:
        """Authenticate and run the operation synchronously."""
        if operation is None:
            message = "Route not found." if missing == 404 else "Method not allowed."
            return handlers.failure(missing, message, HTTPStatus(missing).phrase + ".")
        kind = self._key_kind(request.headers.get("authorization"))
        if kind is None:
            return handlers.unauthorized()
        if operation.secret_only and kind != "secret":
            return handlers.unauthorized(secret_only=True)
        if operation.takes_body and (not well_formed or not isinstance(body, dict)):
            return handlers.invalid({"body": handlers.BAD_BODY})
        call = Call(
            now=self.now(),
            locale=locale,
            path=dict(request.path_params),
            query=request.query_params,
            body=body if operation.takes_body else None,
        )
        return operation.handler(self._sync(), call)

    def _key_kind(self, authorization: str | None) -> str | None:
        """Return "secret", "public" or None for the Authorization header."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        token = token.strip()
        if hmac.compare_digest(token.encode(), self.secret_key.encode()):
            return "secret"
        if hmac.compare_digest(token.encode(), self.public_key.encode()):
            return "public"
        return None

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        """Answer routing errors outside the API base with an error envelope."""
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        phrase = HTTPStatus(status).phrase + "."
        return JSONResponse({"message": phrase, "error": phrase}, status_code=status)

    async def _healthz(self, request: Request) -> Response:
        """Answer that the server runs (no key, no recording)."""
        return JSONResponse({"status": "ok"})

    # -- admin routes (key-protected, or open for in-process and loopback use) ----------------

    def _admin_routes(self) -> list[Route]:
        """Return the ``/_sandbox`` routes, each behind the admin guard."""
        routes: list[tuple[str, Endpoint, list[str]]] = [
            ("/sample", self._admin_sample, ["GET"]),
            ("/requests", self._admin_requests, ["GET", "DELETE"]),
            ("/faults", self._admin_faults, ["GET", "POST", "DELETE"]),
            ("/advance", self._admin_advance, ["POST"]),
            ("/tickets/{id}/status", self._admin_ticket_status, ["POST"]),
            ("/slots/fill", self._admin_fill_slot, ["POST"]),
            ("/reset", self._admin_reset, ["POST"]),
        ]
        return [
            Route(path, self._guarded(endpoint), methods=methods)
            for path, endpoint, methods in routes
        ]

    def _guarded(self, endpoint: Endpoint) -> Endpoint:
        """Wrap an admin endpoint with the key check."""

        async def guarded(request: Request) -> Response:
            """Refuse the call unless the admin routes are open or the key matches."""
            refusal = self._admin_refusal(request)
            return refusal if refusal is not None else await endpoint(request)

        return guarded

    def _admin_refusal(self, request: Request) -> Response | None:
        """Return the refusal of an admin call, or None when it may proceed."""
        if self.admin_locked:
            return _admin_error(
                403,
                "the admin routes are off: start the sandbox with --admin-key or "
                "SANDBOX_ADMIN_KEY to use them",
            )
        if self.admin_key is None:
            return None
        given = request.headers.get(ADMIN_KEY_HEADER, "").encode("utf-8")
        # Constant time, so the answer's timing does not reveal how much of a guess matched.
        if not hmac.compare_digest(given, self.admin_key.encode("utf-8")):
            return _admin_error(401, f"missing or wrong {ADMIN_KEY_HEADER} header")
        return None

    async def _admin_sample(self, request: Request) -> Response:
        """Return the sample ids as JSON."""
        data = {
            item.name: _admin_value(getattr(self._sample, item.name))
            for item in fields(self._sample)
        }
        return JSONResponse({"data": data})

    async def _admin_requests(self, request: Request) -> Response:
        """List (GET) or forget (DELETE) the recorded API calls."""
        if request.method == "DELETE":
            self.requests.clear()
        return JSONResponse({"data": [record.to_json() for record in self.requests]})

    async def _admin_faults(self, request: Request) -> Response:
        """Show (GET), change (POST) or clear (DELETE) the fault switches."""
        if request.method == "DELETE":
            self.faults.clear()
        elif request.method == "POST":
            payload = await _admin_payload(request)
            if isinstance(payload, Response):
                return payload
            try:
                self.faults.configure(payload)
            except FaultSpecError as exc:
                return _admin_error(400, str(exc))
        return JSONResponse({"data": self.faults.snapshot()})

    async def _admin_advance(self, request: Request) -> Response:
        """Advance one or every queue: ``{"service_id": str | null, "steps": int}``."""
        payload = await _admin_payload(request)
        if isinstance(payload, Response):
            return payload
        service_id = payload.get("service_id")
        steps = payload.get("steps", 1)
        if not isinstance(steps, int) or steps < 0:
            return _admin_error(400, "steps must be a non-negative integer")
        if service_id is not None and not isinstance(service_id, str):
            return _admin_error(400, "service_id must be a string")
        try:
            moved = self.advance_queue(service_id, steps)
        except KeyError:
            return _admin_error(404, "unknown service")
        return JSONResponse({"data": {"moved": moved}})

    async def _admin_ticket_status(self, request: Request) -> Response:
        """Set a ticket's status: ``{"status": "served"}``."""
        payload = await _admin_payload(request)
        if isinstance(payload, Response):
            return payload
        status = payload.get("status")
        if not isinstance(status, str) or not status:
            return _admin_error(400, "status must be a non-empty string")
        ticket_id = request.path_params["id"]
        try:
            self.set_ticket_status(ticket_id, status)
        except KeyError:
            return _admin_error(404, "unknown ticket")
        return JSONResponse({"data": self.ticket_json(ticket_id)})

    async def _admin_fill_slot(self, request: Request) -> Response:
        """Fill a slot: ``{"service_id": str, "time": "...Z", "leave": 0}``."""
        payload = await _admin_payload(request)
        if isinstance(payload, Response):
            return payload
        leave = payload.get("leave", 0)
        if not isinstance(leave, int):
            return _admin_error(400, "leave must be an integer")
        try:
            self.fill_slot(str(payload.get("service_id")), str(payload.get("time")), leave=leave)
        except (KeyError, ValueError) as exc:
            return _admin_error(400, str(exc))
        return JSONResponse({"data": None})

    async def _admin_reset(self, request: Request) -> Response:
        """Restore the sample data and initial faults."""
        self.reset()
        return JSONResponse({"data": None})


def _admin_value(value: object) -> object:
    """Return a sample value as JSON data (dates ISO, instants UTC-Z)."""
    if isinstance(value, datetime):
        return handlers.iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _admin_error(status: int, message: str) -> Response:
    """Return an admin error."""
    return JSONResponse({"error": message}, status_code=status)


async def _admin_payload(request: Request) -> dict[str, Any] | Response:
    """Return the admin JSON object body ({} when empty) or a 400 response."""
    parsed, well_formed = _json_body(await request.body())
    if not well_formed or not isinstance(parsed, dict):
        return _admin_error(400, "the body must be a JSON object")
    return parsed
