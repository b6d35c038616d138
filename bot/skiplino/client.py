"""Own the typed async client of the Skiplino external v1 API: one method per operation.

All calls share one ``httpx.AsyncClient``; its transport is the seam tests plug fakes
into. Reads (GET) are retried with capped exponential backoff and full jitter on
connection errors, timeouts, 5xx and 429; writes are never retried, so a booking that
timed out surfaces as ``APITimeoutError`` and the caller can look before booking again.

Every call is bounded: its retries and their waits fit in ``total_budget`` seconds (a
Retry-After beyond what is left raises ``RateLimitError`` at once instead of sleeping, and
a retried read's timeout shrinks to what is left), and a body over ``max_response_bytes``
is refused with ``ResponseTooLargeError`` without being read to its end.

Must not import anything of the bot, nor Telegram (this package ships alone).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time as _time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import date as Date
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from bot.skiplino.errors import (
    APIConnectionError,
    APINotSentError,
    APITimeoutError,
    ResponseTooLargeError,
    UnexpectedResponseError,
    _make_status_error,
)
from bot.skiplino.models import (
    Branch,
    Customer,
    GeoLocation,
    Page,
    ServiceGroup,
    Slot,
    Ticket,
    format_utc,
)

__all__ = [
    "CUSTOMERS_PAGE_LIMIT_MAX",
    "CUSTOMER_TICKETS_PAGE_LIMIT_MAX",
    "CallHook",
    "SkiplinoClient",
]

logger = logging.getLogger(__name__)

CUSTOMERS_PAGE_LIMIT_MAX = 100
CUSTOMER_TICKETS_PAGE_LIMIT_MAX = 10

_RETRYABLE_STATUSES = frozenset({429})  # plus every status >= 500
# Transport failures worth another try; others (bad scheme, proxy setup) will not heal.
_RETRYABLE_TRANSPORT_ERRORS = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)

# Told (operation, outcome, seconds) after every HTTP attempt: the outcome is the HTTP
# status ("200", "503"), "timeout", "connection_error", "too_large" (body over the cap) or
# "cancelled". Never sees a payload.
CallHook = Callable[[str, str, float], None]

_M = TypeVar("_M", bound=BaseModel)
_I = TypeVar("_I", Customer, Ticket)

_BRANCHES = TypeAdapter(list[Branch])
_GROUPS = TypeAdapter(list[ServiceGroup])
_SLOTS = TypeAdapter(list[Slot])
_CUSTOMER_PAGE: type[Page[Customer]] = Page[Customer]
_TICKET_PAGE: type[Page[Ticket]] = Page[Ticket]


class SkiplinoClient:
    """Call the Skiplino external v1 API with a Bearer key; raise ``SkiplinoError`` subclasses."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float | httpx.Timeout = 10.0,
        max_retries: int = 2,
        backoff_base: float = 0.25,
        max_retry_delay: float = 8.0,
        total_budget: float | None = 8.0,
        max_response_bytes: int = 2 * 1024 * 1024,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        on_call: CallHook | None = None,
    ) -> None:
        """Point at ``base_url`` with ``api_key``; ``on_call`` hears of every HTTP attempt."""
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("base_url must be an absolute http(s) URL")
        if not api_key:
            raise ValueError("api_key must not be empty")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if backoff_base < 0 or max_retry_delay < 0:
            raise ValueError("backoff_base and max_retry_delay must be >= 0")
        if total_budget is not None and total_budget <= 0:
            raise ValueError("total_budget must be > 0 (or None for no budget)")
        if max_response_bytes < 1:
            raise ValueError("max_response_bytes must be >= 1")
        if transport is not None and http_client is not None:
            raise ValueError("give transport or http_client, not both")
        self._base_url = base_url.rstrip("/")
        # SecretStr keeps the key out of repr(), vars() dumps and tracebacks' locals.
        self._api_key = SecretStr(api_key)
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._max_retry_delay = max_retry_delay
        self._total_budget = total_budget
        self._max_response_bytes = max_response_bytes
        # A client handed in belongs to the caller, who closes it.
        self._owns_http = http_client is None
        # Public and settable: the composition root installs its metrics on any client.
        self.on_call = on_call
        self._http = (
            http_client
            if http_client is not None
            else httpx.AsyncClient(transport=transport, timeout=self._timeout)
        )

    def __repr__(self) -> str:
        """Show where the client points, never its key."""
        return f"{type(self).__name__}(base_url={self._base_url!r})"

    async def __aenter__(self) -> Self:
        """Enter ``async with``; the client is ready on construction."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection pool on leaving ``async with``."""
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    # -- Branches and services ------------------------------------------------------------

    async def list_branches(self, *, locale: str | None = None) -> list[Branch]:
        """Return the company's active branches with their live open flag."""
        response = await self._request("list_branches", "GET", "/branches", locale=locale)
        return _parse(response, _BRANCHES)

    async def get_branch_tree(
        self, branch_id: str, *, locale: str | None = None
    ) -> list[ServiceGroup]:
        """Return a branch's service groups, each with its active services."""
        path = f"/branches/{_segment(branch_id, 'branch_id')}/tree"
        response = await self._request("get_branch_tree", "GET", path, locale=locale)
        return _parse(response, _GROUPS)

    async def get_service_slots(
        self, service_id: str, *, date: Date | None = None, locale: str | None = None
    ) -> list[Slot]:
        """Return a service's free appointment slots on ``date`` (default: company's today)."""
        params: dict[str, str] = {}
        if date is not None:
            if isinstance(date, datetime):
                # A datetime's calendar day depends on its zone; make the caller choose it.
                raise TypeError("date must be a datetime.date, not a datetime")
            params["date"] = date.strftime("%Y-%m-%d")
        path = f"/services/{_segment(service_id, 'service_id')}/slots"
        response = await self._request(
            "get_service_slots", "GET", path, params=params, locale=locale
        )
        return _parse(response, _SLOTS)

    # -- Tickets ----------------------------------------------------------------------------

    async def book_ticket(
        self,
        *,
        service_id: str,
        group_of_service_id: str,
        time: datetime | None = None,
        customer_id: str | None = None,
        customer_external_id: str | None = None,
        options: Mapping[str, Any] | None = None,
        location: GeoLocation | None = None,
        locale: str | None = None,
    ) -> Ticket:
        """Book a walk-in ticket (no ``time``) or an appointment at ``time``; never retried."""
        body: dict[str, Any] = {
            "serviceId": _required(service_id, "service_id"),
            "groupOfServiceId": _required(group_of_service_id, "group_of_service_id"),
        }
        if time is not None:
            body["time"] = format_utc(time)
        # Appointments need exactly one customer reference; for walk-ins the docs leave
        # "both" open, and sending two that may disagree is never what a caller means.
        body.update(
            _customer_ref(
                customer_id,
                customer_external_id,
                required=time is not None,
                keys=("customerId", "customerExternalId"),
            )
        )
        if options is not None:
            body["options"] = dict(options)
        if location is not None:
            body["location"] = {"lat": location.lat, "lng": location.lng}
        response = await self._request(
            "book_ticket", "POST", "/tickets/book", json_body=body, locale=locale
        )
        return _parse_model(response, Ticket)

    async def get_ticket(self, ticket_id: str, *, locale: str | None = None) -> Ticket:
        """Return a ticket's current state (with queue position while waiting)."""
        path = f"/tickets/{_segment(ticket_id, 'ticket_id')}"
        response = await self._request("get_ticket", "GET", path, locale=locale)
        return _parse_model(response, Ticket)

    async def cancel_ticket(self, ticket_id: str, *, locale: str | None = None) -> Ticket:
        """Cancel a waiting or upcoming ticket and return it cancelled; never retried."""
        path = f"/tickets/{_segment(ticket_id, 'ticket_id')}/cancel"
        response = await self._request("cancel_ticket", "POST", path, locale=locale)
        return _parse_model(response, Ticket)

    async def change_ticket_time(
        self,
        ticket_id: str,
        *,
        time: datetime,
        customer_id: str | None = None,
        customer_external_id: str | None = None,
        locale: str | None = None,
    ) -> Ticket:
        """Move an appointment to ``time`` for exactly one customer reference; never retried."""
        body: dict[str, Any] = {"time": format_utc(time)}
        body.update(
            _customer_ref(
                customer_id,
                customer_external_id,
                required=True,
                keys=("customerId", "customerExternalId"),
            )
        )
        path = f"/tickets/{_segment(ticket_id, 'ticket_id')}/change-time"
        response = await self._request(
            "change_ticket_time", "POST", path, json_body=body, locale=locale
        )
        return _parse_model(response, Ticket)

    # -- Customers --------------------------------------------------------------------------

    async def create_customer(
        self,
        *,
        external_id: str | None = None,
        name: str | None = None,
        email: str | None = None,
        mobile: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        locale: str | None = None,
    ) -> Customer:
        """Create a customer from the fields given (None fields are left out); never retried."""
        body = _without_none(
            externalId=external_id,
            name=name,
            email=email,
            mobile=mobile,
            metadata=dict(metadata) if metadata is not None else None,
        )
        response = await self._request(
            "create_customer", "POST", "/customers/create", json_body=body, locale=locale
        )
        return _parse_model(response, Customer)

    async def list_customers(
        self, *, page: int = 1, limit: int = 10, locale: str | None = None
    ) -> Page[Customer]:
        """Return one page of the company's customers (``limit`` 1-100)."""
        _check_paging(page, limit, CUSTOMERS_PAGE_LIMIT_MAX)
        params = {"page": str(page), "limit": str(limit)}
        response = await self._request(
            "list_customers", "GET", "/customers/getAll", params=params, locale=locale
        )
        return _parse_page(response, _CUSTOMER_PAGE, page=page, limit=limit)

    async def get_customer(
        self,
        *,
        customer_id: str | None = None,
        external_id: str | None = None,
        locale: str | None = None,
    ) -> Customer:
        """Return one customer by id or external id (the API lets ``id`` win when both given)."""
        params = _customer_locator(customer_id, external_id)
        response = await self._request(
            "get_customer", "GET", "/customers/getOne", params=params, locale=locale
        )
        return _parse_model(response, Customer)

    async def update_customer(
        self,
        *,
        customer_id: str | None = None,
        external_id: str | None = None,
        name: str | None = None,
        email: str | None = None,
        mobile: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        new_external_id: str | None = None,
        locale: str | None = None,
    ) -> Customer:
        """Change the given fields of a customer located by id or external id; never retried.

        ``metadata`` replaces the stored object as a whole. ``new_external_id`` needs
        ``customer_id``: the body's ``externalId`` is the locator when there is no ``id``.
        """
        # The body has one `externalId` key, meaning "locator" without `id` and "new value"
        # with it; accepting both locators would silently turn one into a rename.
        locator = _customer_ref(customer_id, external_id, required=True, keys=("id", "externalId"))
        if new_external_id is not None:
            if customer_id is None:
                raise ValueError("new_external_id needs customer_id to locate the customer")
            locator["externalId"] = _required(new_external_id, "new_external_id")
        body = {
            **locator,
            **_without_none(
                name=name,
                email=email,
                mobile=mobile,
                metadata=dict(metadata) if metadata is not None else None,
            ),
        }
        response = await self._request(
            "update_customer", "PUT", "/customers/update", json_body=body, locale=locale
        )
        return _parse_model(response, Customer)

    async def delete_customer(
        self,
        *,
        customer_id: str | None = None,
        external_id: str | None = None,
        locale: str | None = None,
    ) -> None:
        """Delete a customer for good (their tickets stay); never retried."""
        params = _customer_locator(customer_id, external_id)
        response = await self._request(
            "delete_customer", "DELETE", "/customers/delete", params=params, locale=locale
        )
        _envelope_data(response)

    async def list_customer_tickets(
        self,
        *,
        customer_id: str | None = None,
        external_id: str | None = None,
        page: int = 1,
        limit: int = 10,
        locale: str | None = None,
    ) -> Page[Ticket]:
        """Return one page of a customer's tickets, newest first (``limit`` 1-10)."""
        _check_paging(page, limit, CUSTOMER_TICKETS_PAGE_LIMIT_MAX)
        params = {
            **_customer_locator(customer_id, external_id),
            "page": str(page),
            "limit": str(limit),
        }
        response = await self._request(
            "list_customer_tickets", "GET", "/customers/tickets", params=params, locale=locale
        )
        return _parse_page(response, _TICKET_PAGE, page=page, limit=limit)

    # -- Paging helpers ---------------------------------------------------------------------

    async def iter_customers(
        self, *, limit: int = CUSTOMERS_PAGE_LIMIT_MAX, locale: str | None = None
    ) -> AsyncIterator[Customer]:
        """Yield every customer, page by page (``limit`` above 100 is lowered to 100)."""
        limit = _clamp_limit(limit, CUSTOMERS_PAGE_LIMIT_MAX)

        async def fetch(page: int) -> Page[Customer]:
            return await self.list_customers(page=page, limit=limit, locale=locale)

        async for customer in _iterate_pages(fetch):
            yield customer

    async def iter_customer_tickets(
        self,
        *,
        customer_id: str | None = None,
        external_id: str | None = None,
        limit: int = CUSTOMER_TICKETS_PAGE_LIMIT_MAX,
        locale: str | None = None,
    ) -> AsyncIterator[Ticket]:
        """Yield every ticket of a customer, newest first (``limit`` above 10 is lowered to 10)."""
        limit = _clamp_limit(limit, CUSTOMER_TICKETS_PAGE_LIMIT_MAX)
        _customer_locator(customer_id, external_id)  # fail before the first request

        async def fetch(page: int) -> Page[Ticket]:
            return await self.list_customer_tickets(
                customer_id=customer_id,
                external_id=external_id,
                page=page,
                limit=limit,
                locale=locale,
            )

        async for ticket in _iterate_pages(fetch):
            yield ticket

    # -- Transport --------------------------------------------------------------------------

    async def _request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        locale: str | None = None,
    ) -> httpx.Response:
        """Send one operation, retrying reads; return a 2xx response or raise a SkiplinoError."""
        headers = {
            "Authorization": f"Bearer {self._api_key.get_secret_value()}",
            "Accept": "application/json",
        }
        if locale is not None:
            headers["X-Locale"] = locale
        url = f"{self._base_url}{path}"
        deadline = None if self._total_budget is None else _time.monotonic() + self._total_budget
        # Only reads are safe to repeat: a write whose answer was lost may have happened.
        attempts = 1 + (self._max_retries if method == "GET" else 0)
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            # A retried read may not outlive the budget; a write keeps its whole timeout,
            # since cutting it short would only make its outcome unknown sooner.
            timeout = self._timeout
            if attempt > 1 and deadline is not None:
                timeout = _shrink(timeout, deadline - _time.monotonic())
            try:
                response = await self._send_once(
                    operation,
                    method,
                    url,
                    params=params,
                    json_body=json_body,
                    headers=headers,
                    attempt_timeout=timeout,
                )
            except httpx.TimeoutException as exc:
                if last or not await self._wait_before_retry(
                    method, path, attempt, type(exc).__name__, None, deadline
                ):
                    raise APITimeoutError(
                        f"{method} {path} timed out ({type(exc).__name__})",
                        request=_request_of(exc),
                    ) from exc
                continue
            except _RETRYABLE_TRANSPORT_ERRORS as exc:
                if last or not await self._wait_before_retry(
                    method, path, attempt, type(exc).__name__, None, deadline
                ):
                    # A refused or unresolvable connection carried no byte of the request:
                    # only then may a caller treat a write as surely not made.
                    unsent = isinstance(exc, httpx.ConnectError)
                    raise (APINotSentError if unsent else APIConnectionError)(
                        f"{method} {path} got no answer ({type(exc).__name__})",
                        request=_request_of(exc),
                    ) from exc
                continue
            except httpx.TransportError as exc:
                raise APIConnectionError(
                    f"{method} {path} could not be sent ({type(exc).__name__})",
                    request=_request_of(exc),
                ) from exc
            if response.is_success:
                return response
            status = response.status_code
            if (
                not last
                and (status >= 500 or status in _RETRYABLE_STATUSES)
                and await self._wait_before_retry(
                    method, path, attempt, str(status), _retry_after_seconds(response), deadline
                )
            ):
                continue
            raise _make_status_error(response)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _send_once(
        self,
        operation: str,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        json_body: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        attempt_timeout: httpx.Timeout,
    ) -> httpx.Response:
        """Send one HTTP attempt and tell ``on_call`` how it ended and how long it took."""
        started = _time.monotonic()
        outcome = "cancelled"
        try:
            request = self._http.build_request(
                method, url, params=params, json=json_body, headers=headers, timeout=attempt_timeout
            )
            response = await self._http.send(request, stream=True)
            try:
                body = await self._read_capped(operation, response)
            finally:
                await response.aclose()
            outcome = str(response.status_code)
            # The body was decoded while read: the copy must not claim an encoding any more.
            plain = [
                (name, value)
                for name, value in response.headers.multi_items()
                if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
            ]
            return httpx.Response(
                response.status_code,
                headers=plain,
                content=body,
                request=request,
                extensions=response.extensions,
            )
        except ResponseTooLargeError:
            outcome = "too_large"
            raise
        except httpx.TimeoutException:
            outcome = "timeout"
            raise
        except httpx.TransportError:
            outcome = "connection_error"
            raise
        finally:
            if self.on_call is not None:
                self.on_call(operation, outcome, _time.monotonic() - started)

    async def _read_capped(self, operation: str, response: httpx.Response) -> bytes:
        """Read the body of a streamed ``response``; refuse it once it passes the size cap."""
        limit = self._max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(operation, int(declared))
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise self._too_large(operation, size)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, operation: str, size: int) -> ResponseTooLargeError:
        """Log and build the error for a body of at least ``size`` bytes over the cap."""
        limit = self._max_response_bytes
        logger.warning(
            "Skiplino %s sent a body of at least %d bytes, over the %d-byte cap; refused",
            operation,
            size,
            limit,
        )
        return ResponseTooLargeError(
            f"{operation}: response body of at least {size} bytes exceeds {limit} bytes",
            operation=operation,
            size=size,
            limit=limit,
        )

    async def _wait_before_retry(
        self,
        method: str,
        path: str,
        attempt: int,
        reason: str,
        retry_after: float | None,
        deadline: float | None,
    ) -> bool:
        """Sleep before the next attempt and return True; False when the budget cannot afford it.

        Retry-After if given (capped at ``max_retry_delay``), else full-jitter backoff.
        """
        remaining = None if deadline is None else deadline - _time.monotonic()
        if retry_after is not None:
            if remaining is not None and retry_after >= remaining:
                # The server asks for more than is left: say so now instead of waiting to fail.
                logger.warning(
                    "Skiplino %s %s failed (%s); Retry-After %.1fs exceeds the %.1fs left, "
                    "giving up",
                    method,
                    path,
                    reason,
                    retry_after,
                    max(remaining, 0.0),
                )
                return False
            delay = min(retry_after, self._max_retry_delay)
        else:
            ceiling = min(self._max_retry_delay, self._backoff_base * 2 ** (attempt - 1))
            delay = random.uniform(0, ceiling)
        if remaining is not None and delay >= remaining:
            logger.warning(
                "Skiplino %s %s failed (%s); no time left to retry", method, path, reason
            )
            return False
        logger.warning(
            "Skiplino %s %s failed (%s); retry %d/%d in %.2fs",
            method,
            path,
            reason,
            attempt,
            self._max_retries,
            delay,
        )
        await asyncio.sleep(delay)
        return True


def _shrink(timeout: httpx.Timeout, seconds: float) -> httpx.Timeout:
    """Return ``timeout`` with every phase cut to at most ``seconds`` (at least a moment)."""
    cap = max(seconds, 0.001)

    def cut(value: float | None) -> float:
        """Return the phase's timeout capped; a phase without one gets the cap."""
        return cap if value is None else min(value, cap)

    return httpx.Timeout(
        connect=cut(timeout.connect),
        read=cut(timeout.read),
        write=cut(timeout.write),
        pool=cut(timeout.pool),
    )


# -- Request building helpers ---------------------------------------------------------------


def _required(value: str, name: str) -> str:
    """Return ``value`` or raise ValueError if it is empty."""
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def _segment(value: str, name: str) -> str:
    """Return ``value`` escaped as one URL path segment, so an id can never change the route."""
    return quote(_required(value, name), safe="")


def _customer_ref(
    customer_id: str | None,
    external_id: str | None,
    *,
    required: bool,
    keys: tuple[str, str],
) -> dict[str, str]:
    """Return the one customer reference as body fields; ValueError for two, or none if required."""
    given = {
        key: _required(value, key)
        for key, value in zip(keys, (customer_id, external_id), strict=True)
        if value is not None
    }
    if len(given) > 1:
        raise ValueError("give exactly one of customer_id and customer external id, not both")
    if required and not given:
        raise ValueError("a customer reference is required: customer_id or customer external id")
    return given


def _customer_locator(customer_id: str | None, external_id: str | None) -> dict[str, str]:
    """Return the ``id``/``externalId`` query of a customer; at least one is required."""
    params = {
        key: _required(value, key)
        for key, value in (("id", customer_id), ("externalId", external_id))
        if value is not None
    }
    if not params:
        raise ValueError("a customer reference is required: customer_id or external_id")
    return params


def _without_none(**fields: Any) -> dict[str, Any]:
    """Return the fields whose value is not None."""
    return {key: value for key, value in fields.items() if value is not None}


def _check_paging(page: int, limit: int, cap: int) -> None:
    """Raise ValueError for paging values the API would reject."""
    if page < 1:
        raise ValueError("page must be >= 1")
    if not 1 <= limit <= cap:
        raise ValueError(f"limit must be between 1 and {cap}")


def _clamp_limit(limit: int, cap: int) -> int:
    """Lower ``limit`` to the API's cap; raise ValueError below 1."""
    if limit < 1:
        raise ValueError("limit must be >= 1")
    return min(limit, cap)


def _request_of(exc: httpx.TransportError) -> httpx.Request | None:
    """Return the request an httpx error belongs to; fakes may raise errors without one."""
    try:
        return exc.request
    except RuntimeError:
        return None


def _retry_after_seconds(response: httpx.Response) -> float | None:
    """Return the wait a Retry-After header asks for (seconds or HTTP date), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - _time.time())


# -- Response parsing helpers ---------------------------------------------------------------


def _envelope(response: httpx.Response) -> dict[str, Any]:
    """Return the success envelope of ``response``, or raise UnexpectedResponseError."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        raise UnexpectedResponseError("body is not JSON", response=response) from None
    if not isinstance(body, dict) or "data" not in body:
        raise UnexpectedResponseError("body is not the {message, data} envelope", response=response)
    return body


def _envelope_data(response: httpx.Response) -> Any:
    """Return the ``data`` of the success envelope."""
    return _envelope(response)["data"]


def _invalid(response: httpx.Response, what: str, exc: ValidationError) -> UnexpectedResponseError:
    """Describe why the payload does not match the schema, without echoing input values."""
    first = exc.errors(include_input=False, include_url=False)[0]
    location = ".".join(str(part) for part in first["loc"]) or "(root)"
    return UnexpectedResponseError(
        f"{what} does not match the schema ({exc.error_count()} errors; first at "
        f"{location}: {first['msg']})",
        response=response,
    )


def _parse(response: httpx.Response, adapter: TypeAdapter[list[_M]]) -> list[_M]:
    """Validate the envelope's ``data`` as a list of models."""
    data = _envelope_data(response)
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise _invalid(response, "data", exc) from None


def _parse_model(response: httpx.Response, model: type[_M]) -> _M:
    """Validate the envelope's ``data`` as one model."""
    data = _envelope_data(response)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(response, "data", exc) from None


def _parse_page(
    response: httpx.Response, page_type: type[Page[_M]], *, page: int, limit: int
) -> Page[_M]:
    """Validate a paged envelope into a Page; missing page/limit echoes fall back to the request."""
    body = _envelope(response)
    pagination = body.get("pagination")
    if not isinstance(pagination, dict):
        raise UnexpectedResponseError("paged body has no pagination object", response=response)
    # `page` and `limit` echoes are not documented for sure; the request knows them anyway.
    payload = {**pagination, "items": body["data"]}
    if payload.get("page") is None:
        payload["page"] = page
    if payload.get("limit") is None:
        payload["limit"] = limit
    try:
        return page_type.model_validate(payload)
    except ValidationError as exc:
        raise _invalid(response, "paged data", exc) from None


async def _iterate_pages(fetch: Callable[[int], Awaitable[Page[_I]]]) -> AsyncIterator[_I]:
    """Yield the items of page 1, 2, ... until the API reports no next page."""
    seen: set[str] = set()
    page_number = 1
    while True:
        page = await fetch(page_number)
        for item in page.items:
            # Newest-first lists shift when records are added mid-walk; skip repeats.
            if item.id in seen:
                continue
            seen.add(item.id)
            yield item
        # An empty page that still claims a next one would loop forever.
        if not page.has_next_page or not page.items:
            return
        page_number += 1
