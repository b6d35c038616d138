"""The Skiplino client at the HTTP seam: what it sends, what it retries and what it raises.

A fake API sits behind ``httpx.MockTransport``; it answers from canned replies per route
and records every request, so each test asserts on the wire and on what the caller sees.
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from bot.skiplino import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GeoLocation,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    ResponseTooLargeError,
    SkiplinoClient,
    SkiplinoError,
    Ticket,
    TicketStatus,
    TicketType,
    UnexpectedResponseError,
    UnprocessableEntityError,
)
from tests.fakes.api_examples import DOC_TICKET

BASE_URL = "https://api.test/external/v1"
API_KEY = "sk_test_4f9c2e7a1b"

Reply = httpx.Response | Exception

BRANCH = {"id": "802b33af66", "name": "Seef Mall Branch", "branchStatus": {"isBranchOpen": True}}
GROUP = {
    "id": "7c1f9a3b2d",
    "name": "Teller Services",
    "services": [
        {"id": "6fe8fb8b12", "name": "Cash Withdrawal", "isOpen": True, "isAppointment": False},
        {"id": "4b8e2d7c1a", "name": "Account Opening", "isOpen": True, "isAppointment": True},
    ],
}
SLOT = {"time": "2026-07-01T09:30:00.000Z", "remaining": 3}
TICKET: dict[str, Any] = DOC_TICKET
CUSTOMER: dict[str, Any] = {
    "_id": "9f2c8b7a4e1d6c3f0a5b8e2d7c4f1a9b",
    "externalId": "tg-42",
    "companyId": "cmp_5f3a91",
    "name": "Layla Hassan",
    "createdAt": "2026-06-23T11:00:00.000Z",
    "updatedAt": "2026-06-23T11:00:00.000Z",
}


def ok(data: Any, *, status: int = 200, pagination: dict[str, Any] | None = None) -> httpx.Response:
    """Return a success envelope."""
    body: dict[str, Any] = {"message": "Fetched successfully.", "data": data}
    if pagination is not None:
        body["pagination"] = pagination
    return httpx.Response(status, json=body)


def fail(status: int, body: Any = None, **headers: str) -> httpx.Response:
    """Return an error response with a JSON body (or none)."""
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def paged(items: list[Any], *, page: int, total_pages: int, total: int) -> httpx.Response:
    """Return one page of a paginated envelope."""
    return ok(
        items,
        pagination={
            "total": total,
            "totalPages": total_pages,
            "hasNextPage": page < total_pages,
            "hasPrevPage": page > 1,
        },
    )


def customer(number: int) -> dict[str, Any]:
    """Return a customer record with a distinct id."""
    return {**CUSTOMER, "_id": f"{number:032x}", "externalId": f"tg-{number}"}


def ticket(number: int) -> dict[str, Any]:
    """Return a ticket record with a distinct id."""
    return {**TICKET, "id": f"t{number:09d}", "ticketNumber": f"Q{number:03d}"}


class FakeApi:
    """Answer each route from its queue of replies (the last one repeats) and record requests."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._replies: dict[tuple[str, str], list[Reply]] = {}

    def on(self, method: str, path: str, *replies: Reply) -> None:
        """Queue replies for ``method`` on ``path`` (relative to the API base)."""
        self._replies[(method, "/external/v1" + path)] = list(replies)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Record ``request`` and answer it with the next queued reply."""
        self.requests.append(request)
        queue = self._replies.get((request.method, request.url.path))
        if not queue:
            return fail(599, {"message": f"fake has no reply for {request.url.path}"})
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        # A fresh copy each time: one canned reply may answer several requests.
        return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        """Return the recorded requests for ``method`` on ``path``."""
        return [
            r for r in self.requests if r.method == method and r.url.path == "/external/v1" + path
        ]

    @property
    def last(self) -> httpx.Request:
        """Return the most recent request."""
        return self.requests[-1]


def body_of(request: httpx.Request) -> Any:
    """Return the JSON body the client sent."""
    return json.loads(request.content)


@pytest.fixture
def api() -> FakeApi:
    """Return an empty fake API."""
    return FakeApi()


@pytest.fixture
async def client(api: FakeApi) -> AsyncIterator[SkiplinoClient]:
    """Return a client wired to the fake API, with instant backoff."""
    async with SkiplinoClient(
        base_url=BASE_URL,
        api_key=API_KEY,
        backoff_base=0.0,
        transport=httpx.MockTransport(api.handle),
    ) as skiplino:
        yield skiplino


# -- Every operation: route, headers ----------------------------------------------------------

Call = Callable[[SkiplinoClient, str | None], Awaitable[object]]

OPERATIONS: list[tuple[str, str, Any, Call]] = [
    ("GET", "/branches", ok([BRANCH]), lambda c, loc: c.list_branches(locale=loc)),
    (
        "GET",
        "/branches/802b33af66/tree",
        ok([GROUP]),
        lambda c, loc: c.get_branch_tree("802b33af66", locale=loc),
    ),
    (
        "GET",
        "/services/4b8e2d7c1a/slots",
        ok([SLOT]),
        lambda c, loc: c.get_service_slots("4b8e2d7c1a", locale=loc),
    ),
    (
        "POST",
        "/tickets/book",
        ok(TICKET, status=201),
        lambda c, loc: c.book_ticket(
            service_id="6fe8fb8b12", group_of_service_id="7c1f9a3b2d", locale=loc
        ),
    ),
    (
        "GET",
        "/tickets/k7m2p9x4q1",
        ok(TICKET),
        lambda c, loc: c.get_ticket("k7m2p9x4q1", locale=loc),
    ),
    (
        "POST",
        "/tickets/k7m2p9x4q1/cancel",
        ok({**TICKET, "status": "cancelled"}),
        lambda c, loc: c.cancel_ticket("k7m2p9x4q1", locale=loc),
    ),
    (
        "POST",
        "/tickets/k7m2p9x4q1/change-time",
        ok(TICKET),
        lambda c, loc: c.change_ticket_time(
            "k7m2p9x4q1",
            time=datetime(2026, 7, 2, 13, 0, tzinfo=UTC),
            customer_external_id="tg-42",
            locale=loc,
        ),
    ),
    (
        "POST",
        "/customers/create",
        ok(CUSTOMER, status=201),
        lambda c, loc: c.create_customer(external_id="tg-42", locale=loc),
    ),
    (
        "GET",
        "/customers/getAll",
        paged([CUSTOMER], page=1, total_pages=1, total=1),
        lambda c, loc: c.list_customers(locale=loc),
    ),
    (
        "GET",
        "/customers/getOne",
        ok(CUSTOMER),
        lambda c, loc: c.get_customer(external_id="tg-42", locale=loc),
    ),
    (
        "PUT",
        "/customers/update",
        ok(CUSTOMER),
        lambda c, loc: c.update_customer(external_id="tg-42", name="Layla", locale=loc),
    ),
    (
        "DELETE",
        "/customers/delete",
        ok(None),
        lambda c, loc: c.delete_customer(external_id="tg-42", locale=loc),
    ),
    (
        "GET",
        "/customers/tickets",
        paged([TICKET], page=1, total_pages=1, total=1),
        lambda c, loc: c.list_customer_tickets(external_id="tg-42", locale=loc),
    ),
]
OPERATION_IDS = [f"{method} {path}" for method, path, _, _ in OPERATIONS]


@pytest.mark.parametrize(("method", "path", "reply", "call"), OPERATIONS, ids=OPERATION_IDS)
async def test_every_operation_sends_the_bearer_key_and_no_locale_unless_given(
    api: FakeApi, client: SkiplinoClient, method: str, path: str, reply: Reply, call: Call
) -> None:
    api.on(method, path, reply)
    await call(client, None)
    request = api.last
    assert (request.method, request.url.path) == (method, "/external/v1" + path)
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "X-Locale" not in request.headers


@pytest.mark.parametrize(("method", "path", "reply", "call"), OPERATIONS, ids=OPERATION_IDS)
async def test_every_operation_sends_the_locale_it_is_given(
    api: FakeApi, client: SkiplinoClient, method: str, path: str, reply: Reply, call: Call
) -> None:
    api.on(method, path, reply)
    await call(client, "ar")
    assert api.last.headers["X-Locale"] == "ar"


def test_the_number_of_operations_matches_the_contract() -> None:
    assert len(OPERATIONS) == 13


# -- What each call sends and returns ---------------------------------------------------------


async def test_branches_come_back_as_models_with_their_open_flag(
    api: FakeApi, client: SkiplinoClient
) -> None:
    closed = {"id": "3d9a71c0e4", "name": "Manama", "branchStatus": {"isBranchOpen": False}}
    api.on("GET", "/branches", ok([BRANCH, closed]))
    branches = await client.list_branches()
    assert [(b.id, b.name, b.is_open) for b in branches] == [
        ("802b33af66", "Seef Mall Branch", True),
        ("3d9a71c0e4", "Manama", False),
    ]


async def test_branch_tree_groups_hold_their_services(api: FakeApi, client: SkiplinoClient) -> None:
    api.on("GET", "/branches/802b33af66/tree", ok([GROUP]))
    [group] = await client.get_branch_tree("802b33af66")
    assert group.id == "7c1f9a3b2d"
    assert [(s.name, s.is_open, s.is_appointment) for s in group.services] == [
        ("Cash Withdrawal", True, False),
        ("Account Opening", True, True),
    ]


async def test_slots_are_asked_for_a_calendar_date_and_come_back_in_utc(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("GET", "/services/4b8e2d7c1a/slots", ok([SLOT]))
    [slot] = await client.get_service_slots("4b8e2d7c1a", date=date(2026, 7, 1))
    assert api.last.url.params["date"] == "2026-07-01"
    assert slot.time == datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
    assert slot.time.utcoffset() == timedelta(0)
    assert slot.remaining == 3


async def test_slots_without_a_date_leave_the_default_to_the_api(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("GET", "/services/4b8e2d7c1a/slots", ok([]))
    assert await client.get_service_slots("4b8e2d7c1a") == []
    assert "date" not in api.last.url.params


async def test_slots_refuse_a_datetime_whose_day_depends_on_a_zone(
    api: FakeApi, client: SkiplinoClient
) -> None:
    with pytest.raises(TypeError):
        await client.get_service_slots("4b8e2d7c1a", date=datetime(2026, 7, 1, 23, 0, tzinfo=UTC))
    assert api.requests == []


async def test_walk_in_booking_sends_only_the_service_and_group(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("POST", "/tickets/book", ok(TICKET, status=201))
    booked = await client.book_ticket(service_id="6fe8fb8b12", group_of_service_id="7c1f9a3b2d")
    assert body_of(api.last) == {"serviceId": "6fe8fb8b12", "groupOfServiceId": "7c1f9a3b2d"}
    assert booked.ticket_number == "Q017"
    assert booked.time is None
    assert booked.customer is None
    assert (booked.queue_size, booked.waiting_time) == (6, 18)
    assert booked.can_cancel


async def test_appointment_time_is_sent_as_utc_with_a_trailing_z(
    api: FakeApi, client: SkiplinoClient
) -> None:
    appointment = {
        **TICKET,
        "type": "appointment",
        "status": "upcoming",
        "time": "2026-07-01T09:30:00.000Z",
    }
    api.on("POST", "/tickets/book", ok(appointment, status=201))
    bahrain_time = datetime(2026, 7, 1, 12, 30, 0, 123456, tzinfo=ZoneInfo("Asia/Bahrain"))
    booked = await client.book_ticket(
        service_id="4b8e2d7c1a",
        group_of_service_id="7c1f9a3b2d",
        time=bahrain_time,
        customer_id=CUSTOMER["_id"],
        options={"accountType": "savings"},
        location=GeoLocation(lat=26.2361, lng=50.5436),
    )
    assert body_of(api.last) == {
        "serviceId": "4b8e2d7c1a",
        "groupOfServiceId": "7c1f9a3b2d",
        "time": "2026-07-01T09:30:00.123Z",
        "customerId": CUSTOMER["_id"],
        "options": {"accountType": "savings"},
        "location": {"lat": 26.2361, "lng": 50.5436},
    }
    assert booked.is_appointment
    assert booked.time == datetime(2026, 7, 1, 9, 30, tzinfo=UTC)


async def test_naive_times_are_refused_before_anything_is_sent(
    api: FakeApi, client: SkiplinoClient
) -> None:
    naive = datetime(2026, 7, 1, 9, 30)
    with pytest.raises(ValueError, match="naive"):
        await client.book_ticket(
            service_id="4b8e2d7c1a", group_of_service_id="7c1f9a3b2d", time=naive, customer_id="c"
        )
    with pytest.raises(ValueError, match="naive"):
        await client.change_ticket_time("k7m2p9x4q1", time=naive, customer_id="c")
    assert api.requests == []


@pytest.mark.parametrize(
    ("customer_id", "customer_external_id"),
    [(None, None), ("9f2c8b7a4e1d6c3f0a5b8e2d7c4f1a9b", "tg-42")],
    ids=["neither", "both"],
)
async def test_appointments_need_exactly_one_customer_reference(
    api: FakeApi,
    client: SkiplinoClient,
    customer_id: str | None,
    customer_external_id: str | None,
) -> None:
    when = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="customer"):
        await client.book_ticket(
            service_id="4b8e2d7c1a",
            group_of_service_id="7c1f9a3b2d",
            time=when,
            customer_id=customer_id,
            customer_external_id=customer_external_id,
        )
    with pytest.raises(ValueError, match="customer"):
        await client.change_ticket_time(
            "k7m2p9x4q1",
            time=when,
            customer_id=customer_id,
            customer_external_id=customer_external_id,
        )
    assert api.requests == []


async def test_walk_in_with_a_customer_sends_that_reference(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("POST", "/tickets/book", ok(TICKET, status=201))
    await client.book_ticket(
        service_id="6fe8fb8b12", group_of_service_id="7c1f9a3b2d", customer_external_id="tg-42"
    )
    assert body_of(api.last)["customerExternalId"] == "tg-42"
    assert "customerId" not in body_of(api.last)


async def test_reschedule_sends_the_new_time_and_one_customer(
    api: FakeApi, client: SkiplinoClient
) -> None:
    moved = {**TICKET, "type": "appointment", "time": "2026-07-02T13:00:00.000Z"}
    api.on("POST", "/tickets/k7m2p9x4q1/change-time", ok(moved))
    offset = timezone(timedelta(hours=-4))
    ticket_after = await client.change_ticket_time(
        "k7m2p9x4q1", time=datetime(2026, 7, 2, 9, 0, tzinfo=offset), customer_id="c1"
    )
    assert body_of(api.last) == {"time": "2026-07-02T13:00:00.000Z", "customerId": "c1"}
    assert ticket_after.time == datetime(2026, 7, 2, 13, 0, tzinfo=UTC)


async def test_cancel_posts_no_body_and_returns_the_cancelled_ticket(
    api: FakeApi, client: SkiplinoClient
) -> None:
    cancelled = {k: v for k, v in TICKET.items() if k not in ("queueSize", "waitingTime")}
    api.on("POST", "/tickets/k7m2p9x4q1/cancel", ok({**cancelled, "status": "cancelled"}))
    result = await client.cancel_ticket("k7m2p9x4q1")
    assert api.last.content == b""
    assert result.status == TicketStatus.CANCELLED
    assert not result.is_active
    assert not result.can_cancel
    assert result.queue_size is None


async def test_an_unknown_ticket_status_and_extra_fields_are_tolerated(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on(
        "GET",
        "/tickets/k7m2p9x4q1",
        ok({**TICKET, "status": "no_show", "type": "virtual", "counter": "7", "extra": {"a": 1}}),
    )
    result = await client.get_ticket("k7m2p9x4q1")
    assert (result.status, result.type) == ("no_show", "virtual")
    assert not result.is_active
    assert not result.is_appointment
    assert result.type != TicketType.SEQUENTIAL


async def test_ids_are_escaped_so_they_cannot_change_the_route(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("GET", "/tickets/../branches?x", ok(TICKET))
    await client.get_ticket("../branches?x")
    assert api.last.url.raw_path == b"/external/v1/tickets/..%2Fbranches%3Fx"


async def test_empty_ids_are_refused(api: FakeApi, client: SkiplinoClient) -> None:
    with pytest.raises(ValueError, match="ticket_id"):
        await client.get_ticket("")
    assert api.requests == []


async def test_create_customer_leaves_out_fields_not_given(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("POST", "/customers/create", ok(CUSTOMER, status=201))
    created = await client.create_customer(external_id="tg-42", name="Layla Hassan")
    assert body_of(api.last) == {"externalId": "tg-42", "name": "Layla Hassan"}
    assert created.id == CUSTOMER["_id"]
    assert created.external_id == "tg-42"
    assert created.email is None


async def test_create_customer_with_nothing_sends_an_empty_object(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("POST", "/customers/create", ok(CUSTOMER, status=201))
    await client.create_customer()
    assert body_of(api.last) == {}


async def test_get_customer_asks_by_the_reference_given(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("GET", "/customers/getOne", ok(CUSTOMER))
    await client.get_customer(external_id="tg-42")
    assert dict(api.last.url.params) == {"externalId": "tg-42"}
    await client.get_customer(customer_id=CUSTOMER["_id"])
    assert dict(api.last.url.params) == {"id": CUSTOMER["_id"]}


async def test_customer_calls_without_any_reference_are_refused(
    api: FakeApi, client: SkiplinoClient
) -> None:
    with pytest.raises(ValueError, match="customer"):
        await client.get_customer()
    with pytest.raises(ValueError, match="customer"):
        await client.delete_customer()
    with pytest.raises(ValueError, match="customer"):
        await client.list_customer_tickets()
    with pytest.raises(ValueError, match="customer"):
        await client.update_customer(name="Layla")
    assert api.requests == []


async def test_update_by_id_can_set_a_new_external_id(api: FakeApi, client: SkiplinoClient) -> None:
    api.on("PUT", "/customers/update", ok({**CUSTOMER, "externalId": "crm-1"}))
    updated = await client.update_customer(
        customer_id=CUSTOMER["_id"], new_external_id="crm-1", metadata={"tier": "gold"}
    )
    assert body_of(api.last) == {
        "id": CUSTOMER["_id"],
        "externalId": "crm-1",
        "metadata": {"tier": "gold"},
    }
    assert updated.external_id == "crm-1"


async def test_update_by_external_id_sends_it_as_the_locator(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("PUT", "/customers/update", ok(CUSTOMER))
    await client.update_customer(external_id="tg-42", mobile="+97333445566")
    assert body_of(api.last) == {"externalId": "tg-42", "mobile": "+97333445566"}


async def test_update_refuses_references_the_body_cannot_express(
    api: FakeApi, client: SkiplinoClient
) -> None:
    with pytest.raises(ValueError, match="not both"):
        await client.update_customer(customer_id=CUSTOMER["_id"], external_id="tg-42", name="L")
    with pytest.raises(ValueError, match="new_external_id"):
        await client.update_customer(external_id="tg-42", new_external_id="crm-1")
    assert api.requests == []


async def test_delete_customer_sends_the_reference_as_query(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("DELETE", "/customers/delete", ok(None))
    await client.delete_customer(customer_id=CUSTOMER["_id"])
    assert dict(api.last.url.params) == {"id": CUSTOMER["_id"]}


async def test_a_page_carries_its_items_and_paging_facts(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on(
        "GET",
        "/customers/getAll",
        paged([customer(1), customer(2)], page=2, total_pages=3, total=6),
    )
    page = await client.list_customers(page=2, limit=2)
    assert dict(api.last.url.params) == {"page": "2", "limit": "2"}
    assert [c.external_id for c in page.items] == ["tg-1", "tg-2"]
    assert (page.total, page.total_pages, page.page, page.limit) == (6, 3, 2, 2)
    assert page.has_next_page
    assert page.has_prev_page


async def test_customer_tickets_are_asked_for_by_reference_and_page(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("GET", "/customers/tickets", paged([TICKET], page=1, total_pages=1, total=1))
    page = await client.list_customer_tickets(customer_id="c1", page=1, limit=5)
    assert dict(api.last.url.params) == {"id": "c1", "page": "1", "limit": "5"}
    assert [t.id for t in page.items] == ["k7m2p9x4q1"]
    assert isinstance(page.items[0], Ticket)


@pytest.mark.parametrize(("page", "limit"), [(0, 10), (1, 0), (1, 101)])
async def test_list_customers_refuses_paging_the_api_would_reject(
    api: FakeApi, client: SkiplinoClient, page: int, limit: int
) -> None:
    with pytest.raises(ValueError, match=r"^(page|limit) must be"):
        await client.list_customers(page=page, limit=limit)
    assert api.requests == []


async def test_list_customer_tickets_refuses_more_than_ten_per_page(
    api: FakeApi, client: SkiplinoClient
) -> None:
    with pytest.raises(ValueError, match="limit"):
        await client.list_customer_tickets(external_id="tg-42", limit=11)
    assert api.requests == []


# -- Paging helpers -----------------------------------------------------------------------------


async def test_iter_customers_walks_every_page_at_the_cap_of_one_hundred(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on(
        "GET",
        "/customers/getAll",
        paged([customer(1), customer(2)], page=1, total_pages=3, total=5),
        paged([customer(3), customer(4)], page=2, total_pages=3, total=5),
        paged([customer(5)], page=3, total_pages=3, total=5),
    )
    seen = [c.external_id async for c in client.iter_customers(limit=500)]
    assert seen == ["tg-1", "tg-2", "tg-3", "tg-4", "tg-5"]
    assert [dict(r.url.params) for r in api.sent("GET", "/customers/getAll")] == [
        {"page": "1", "limit": "100"},
        {"page": "2", "limit": "100"},
        {"page": "3", "limit": "100"},
    ]


async def test_iter_customer_tickets_walks_every_page_at_the_cap_of_ten(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on(
        "GET",
        "/customers/tickets",
        paged([ticket(1)], page=1, total_pages=2, total=2),
        paged([ticket(2)], page=2, total_pages=2, total=2),
    )
    seen = [
        t.ticket_number async for t in client.iter_customer_tickets(external_id="tg-42", limit=50)
    ]
    assert seen == ["Q001", "Q002"]
    assert [dict(r.url.params) for r in api.sent("GET", "/customers/tickets")] == [
        {"externalId": "tg-42", "page": "1", "limit": "10"},
        {"externalId": "tg-42", "page": "2", "limit": "10"},
    ]


async def test_paging_skips_a_record_pushed_onto_the_next_page(
    api: FakeApi, client: SkiplinoClient
) -> None:
    # A customer added between the two requests pushes tg-2 from page 1 onto page 2.
    api.on(
        "GET",
        "/customers/getAll",
        paged([customer(1), customer(2)], page=1, total_pages=2, total=4),
        paged([customer(2), customer(3)], page=2, total_pages=2, total=4),
    )
    seen = [c.external_id async for c in client.iter_customers(limit=2)]
    assert seen == ["tg-1", "tg-2", "tg-3"]


async def test_paging_stops_at_an_empty_page_that_claims_a_next_one(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on(
        "GET",
        "/customers/getAll",
        paged([customer(1)], page=1, total_pages=9, total=9),
        paged([], page=2, total_pages=9, total=9),
    )
    seen = [c.external_id async for c in client.iter_customers()]
    assert seen == ["tg-1"]
    assert len(api.requests) == 2


async def test_paging_helpers_refuse_a_limit_below_one(
    api: FakeApi, client: SkiplinoClient
) -> None:
    with pytest.raises(ValueError, match="limit"):
        _ = [c async for c in client.iter_customers(limit=0)]
    with pytest.raises(ValueError, match="limit"):
        _ = [t async for t in client.iter_customer_tickets(external_id="tg-42", limit=0)]
    with pytest.raises(ValueError, match="customer"):
        _ = [t async for t in client.iter_customer_tickets()]
    assert api.requests == []


# -- Retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flaky",
    [
        fail(500, {"message": "Something went wrong.", "error": "Internal server error."}),
        fail(503),
        fail(429, {"message": "Too many requests.", "error": None}),
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("read timed out"),
    ],
    ids=["500", "503", "429", "connect-error", "timeout"],
)
async def test_reads_are_retried_until_they_succeed(
    api: FakeApi, client: SkiplinoClient, flaky: Reply
) -> None:
    api.on("GET", "/branches", flaky, flaky, ok([BRANCH]))
    branches = await client.list_branches()
    assert [b.id for b in branches] == ["802b33af66"]
    assert len(api.requests) == 3


@pytest.mark.parametrize(
    ("flaky", "raised"),
    [
        (fail(503), InternalServerError),
        (fail(429), RateLimitError),
        (httpx.ConnectError("connection refused"), APIConnectionError),
        (httpx.ReadTimeout("read timed out"), APITimeoutError),
    ],
    ids=["503", "429", "connect-error", "timeout"],
)
async def test_reads_give_up_after_max_retries(
    api: FakeApi, client: SkiplinoClient, flaky: Reply, raised: type[SkiplinoError]
) -> None:
    api.on("GET", "/tickets/k7m2p9x4q1", flaky)
    with pytest.raises(raised):
        await client.get_ticket("k7m2p9x4q1")
    assert len(api.requests) == 3  # one try and max_retries=2


async def test_a_timeout_on_a_read_is_still_a_connection_error(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("GET", "/branches", httpx.ConnectTimeout("connect timed out"))
    with pytest.raises(APIConnectionError) as caught:
        await client.list_branches()
    assert isinstance(caught.value, APITimeoutError)


@pytest.mark.parametrize("max_retries", [0, 4])
async def test_max_retries_sets_how_often_a_read_is_repeated(
    api: FakeApi, max_retries: int
) -> None:
    api.on("GET", "/branches", fail(502))
    async with SkiplinoClient(
        base_url=BASE_URL,
        api_key=API_KEY,
        max_retries=max_retries,
        backoff_base=0.0,
        transport=httpx.MockTransport(api.handle),
    ) as skiplino:
        with pytest.raises(InternalServerError):
            await skiplino.list_branches()
    assert len(api.requests) == 1 + max_retries


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422])
async def test_client_errors_on_reads_are_not_retried(
    api: FakeApi, client: SkiplinoClient, status: int
) -> None:
    api.on("GET", "/customers/getOne", fail(status, {"message": "No.", "error": "No."}))
    with pytest.raises(APIStatusError):
        await client.get_customer(customer_id="c1")
    assert len(api.requests) == 1


WRITES: list[tuple[str, str, Call]] = [
    (
        "POST",
        "/tickets/book",
        lambda c, _: c.book_ticket(service_id="6fe8fb8b12", group_of_service_id="7c1f9a3b2d"),
    ),
    ("POST", "/tickets/k7m2p9x4q1/cancel", lambda c, _: c.cancel_ticket("k7m2p9x4q1")),
    (
        "POST",
        "/tickets/k7m2p9x4q1/change-time",
        lambda c, _: c.change_ticket_time(
            "k7m2p9x4q1", time=datetime(2026, 7, 2, 13, 0, tzinfo=UTC), customer_id="c1"
        ),
    ),
    ("POST", "/customers/create", lambda c, _: c.create_customer(external_id="tg-42")),
    ("PUT", "/customers/update", lambda c, _: c.update_customer(external_id="tg-42", name="L")),
    ("DELETE", "/customers/delete", lambda c, _: c.delete_customer(external_id="tg-42")),
]


@pytest.mark.parametrize(
    ("flaky", "raised"),
    [
        (fail(503), InternalServerError),
        (
            fail(429, {"message": "Slow down.", "error": None}, **{"Retry-After": "0"}),
            RateLimitError,
        ),
        (httpx.ConnectError("connection refused"), APIConnectionError),
        (httpx.ReadTimeout("read timed out"), APITimeoutError),
    ],
    ids=["503", "429", "connect-error", "timeout"],
)
@pytest.mark.parametrize(("method", "path", "call"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
async def test_writes_are_never_retried(
    api: FakeApi,
    client: SkiplinoClient,
    method: str,
    path: str,
    call: Call,
    flaky: Reply,
    raised: type[SkiplinoError],
) -> None:
    api.on(method, path, flaky, ok(TICKET))
    with pytest.raises(raised):
        await call(client, None)
    assert len(api.requests) == 1


async def test_a_timed_out_booking_surfaces_as_a_timeout_so_the_caller_can_check_first(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("POST", "/tickets/book", httpx.ReadTimeout("read timed out"))
    with pytest.raises(APITimeoutError) as caught:
        await client.book_ticket(service_id="6fe8fb8b12", group_of_service_id="7c1f9a3b2d")
    assert "/tickets/book" in str(caught.value)
    assert len(api.sent("POST", "/tickets/book")) == 1


async def test_retry_after_is_honoured_on_429(api: FakeApi, client: SkiplinoClient) -> None:
    api.on("GET", "/branches", fail(429, **{"Retry-After": "0.2"}), ok([BRANCH]))
    started = time.monotonic()
    await client.list_branches()
    assert time.monotonic() - started >= 0.2
    assert len(api.requests) == 2


async def test_retry_after_is_capped(api: FakeApi) -> None:
    api.on("GET", "/branches", fail(429, **{"Retry-After": "3600"}), ok([BRANCH]))
    async with SkiplinoClient(
        base_url=BASE_URL,
        api_key=API_KEY,
        backoff_base=0.0,
        max_retry_delay=0.01,
        # Without a budget: with one, a Retry-After past it fails at once (tested below).
        total_budget=None,
        transport=httpx.MockTransport(api.handle),
    ) as skiplino:
        started = time.monotonic()
        await skiplino.list_branches()
    assert time.monotonic() - started < 2
    assert len(api.requests) == 2


# -- Status -> exception ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "raised"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (403, APIStatusError),
        (418, APIStatusError),
    ],
)
async def test_each_status_raises_its_own_class(
    api: FakeApi, client: SkiplinoClient, status: int, raised: type[APIStatusError]
) -> None:
    api.on("POST", "/tickets/k7m2p9x4q1/cancel", fail(status, {"message": "M.", "error": "E."}))
    with pytest.raises(APIStatusError) as caught:
        await client.cancel_ticket("k7m2p9x4q1")
    exc = caught.value
    assert type(exc) is raised
    assert exc.status_code == status
    assert exc.response.status_code == status
    assert (exc.message, exc.error) == ("M.", "E.")
    assert str(status) in str(exc)
    assert "/tickets/k7m2p9x4q1/cancel" in str(exc)


def _documented_error_examples() -> list[tuple[int, str, dict[str, Any]]]:
    """Return (status, name, body) for every error example of the contract in docs/."""
    contract_path = Path(__file__).resolve().parents[2] / "docs" / "skiplino-openapi.yaml"
    contract: dict[str, Any] = yaml.safe_load(contract_path.read_text(encoding="utf-8"))
    shared = contract["components"]["responses"]
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for methods in contract["paths"].values():
        for operation in methods.values():
            for status, response in operation["responses"].items():
                if str(status).startswith("2"):
                    continue
                if "$ref" in response:
                    response = shared[response["$ref"].rsplit("/", 1)[-1]]
                examples = response["content"]["application/json"].get("examples", {})
                for name, example in examples.items():
                    found[(int(status), name)] = example["value"]
    return [(status, name, body) for (status, name), body in sorted(found.items())]


DOCUMENTED_ERRORS = _documented_error_examples()
STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    500: InternalServerError,
}


@pytest.mark.parametrize(
    ("status", "body"),
    [(status, body) for status, _, body in DOCUMENTED_ERRORS],
    ids=[f"{status}-{name}" for status, name, _ in DOCUMENTED_ERRORS],
)
async def test_documented_error_examples_map_to_their_class_with_reason(
    api: FakeApi, client: SkiplinoClient, status: int, body: dict[str, Any]
) -> None:
    api.on("POST", "/tickets/k7m2p9x4q1/cancel", fail(status, body))
    with pytest.raises(APIStatusError) as caught:
        await client.cancel_ticket("k7m2p9x4q1")
    assert type(caught.value) is STATUS_CLASSES[status]
    assert caught.value.message == body["message"]
    assert caught.value.error == body["error"]


async def test_a_booking_rule_failure_carries_the_localized_reason(
    api: FakeApi, client: SkiplinoClient
) -> None:
    reason = "الخدمة مغلقة حالياً."
    api.on("POST", "/tickets/book", fail(400, {"message": "Unable to book.", "error": reason}))
    with pytest.raises(BadRequestError) as caught:
        await client.book_ticket(
            service_id="6fe8fb8b12", group_of_service_id="7c1f9a3b2d", locale="ar"
        )
    assert caught.value.error == reason
    assert caught.value.message == "Unable to book."
    assert reason in str(caught.value)


async def test_a_null_error_is_carried_as_none(api: FakeApi, client: SkiplinoClient) -> None:
    api.on("PUT", "/customers/update", fail(404, {"message": "Customer not found.", "error": None}))
    with pytest.raises(NotFoundError) as caught:
        await client.update_customer(customer_id="c1", name="L")
    assert caught.value.error is None
    assert caught.value.message == "Customer not found."


async def test_validation_errors_are_readable_per_field(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on(
        "POST",
        "/customers/create",
        fail(
            422,
            {
                "message": "The given data was invalid.",
                "error": {"externalId": "This value is already taken."},
            },
        ),
    )
    with pytest.raises(UnprocessableEntityError) as caught:
        await client.create_customer(external_id="tg-42")
    exc = caught.value
    assert exc.field_errors == {"externalId": "This value is already taken."}
    assert exc.has_error("externalId")
    assert exc.has_error("externalId", "This value is already taken.")
    assert not exc.has_error("externalId", "This value does not exist.")
    assert not exc.has_error("name")
    assert "externalId: This value is already taken." in str(exc)


async def test_a_validation_error_without_fields_has_no_field_errors(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("GET", "/tickets/k7m2p9x4q1", fail(422, {"message": "Invalid.", "error": "Bad id."}))
    with pytest.raises(UnprocessableEntityError) as caught:
        await client.get_ticket("k7m2p9x4q1")
    assert caught.value.field_errors == {}
    assert not caught.value.has_error("id")
    assert caught.value.error == "Bad id."


async def test_several_reasons_for_one_field_are_joined(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on(
        "GET",
        "/customers/getAll",
        fail(422, {"message": "Invalid.", "error": {"limit": ["Too big.", "Not allowed."]}}),
    )
    with pytest.raises(UnprocessableEntityError) as caught:
        await client.list_customers()
    assert caught.value.field_errors == {"limit": "Too big. Not allowed."}


async def test_an_error_with_only_a_reason_uses_it_as_the_message(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("POST", "/tickets/k7m2p9x4q1/cancel", fail(409, {"error": "Already served."}))
    with pytest.raises(ConflictError) as caught:
        await client.cancel_ticket("k7m2p9x4q1")
    assert caught.value.message == "Already served."


async def test_an_error_page_that_is_not_json_still_maps_by_status(
    api: FakeApi, client: SkiplinoClient
) -> None:
    gateway_page = httpx.Response(502, text="<html><h1>502 Bad Gateway</h1></html>")
    api.on("POST", "/tickets/book", gateway_page)
    with pytest.raises(InternalServerError) as caught:
        await client.book_ticket(service_id="6fe8fb8b12", group_of_service_id="7c1f9a3b2d")
    assert caught.value.message == "502 Bad Gateway"
    assert caught.value.error is None


async def test_every_api_error_is_a_skiplino_error(api: FakeApi, client: SkiplinoClient) -> None:
    api.on("GET", "/branches", fail(401, {"message": "Unauthorized.", "error": None}))
    with pytest.raises(SkiplinoError):
        await client.list_branches()


# -- Malformed success bodies -------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, text="<html>maintenance</html>"),
        httpx.Response(200, content=b""),
        httpx.Response(200, json=[TICKET]),
        httpx.Response(200, json={"message": "Ticket fetched successfully.", "ticket": TICKET}),
        ok({k: v for k, v in TICKET.items() if k != "ticketNumber"}),
        ok({**TICKET, "statusAt": "yesterday"}),
        ok([TICKET]),
    ],
    ids=[
        "html",
        "empty",
        "bare-list",
        "no-data-key",
        "missing-field",
        "bad-time",
        "list-not-object",
    ],
)
async def test_a_success_body_that_breaks_the_contract_is_an_unexpected_response(
    api: FakeApi, client: SkiplinoClient, reply: httpx.Response
) -> None:
    api.on("GET", "/tickets/k7m2p9x4q1", reply)
    with pytest.raises(UnexpectedResponseError) as caught:
        await client.get_ticket("k7m2p9x4q1")
    assert caught.value.status_code == 200
    assert len(api.requests) == 1  # a broken body is not a transient failure


async def test_a_paged_body_without_pagination_is_an_unexpected_response(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("GET", "/customers/getAll", ok([CUSTOMER]))
    with pytest.raises(UnexpectedResponseError, match="pagination"):
        await client.list_customers()


async def test_an_unexpected_response_names_the_bad_field_without_echoing_values(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("GET", "/customers/getOne", ok({**CUSTOMER, "createdAt": f"not-a-time-{API_KEY}"}))
    with pytest.raises(UnexpectedResponseError) as caught:
        await client.get_customer(customer_id="c1")
    assert "createdAt" in str(caught.value)
    assert API_KEY not in str(caught.value)


# -- The key stays secret -----------------------------------------------------------------------


async def test_the_key_never_appears_in_errors_even_when_the_server_echoes_it(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on(
        "GET",
        "/branches",
        fail(
            401,
            {"message": f"Invalid key {API_KEY}.", "error": {"authorization": f"Bearer {API_KEY}"}},
        ),
    )
    with pytest.raises(AuthenticationError) as caught:
        await client.list_branches()
    exc = caught.value
    for text in (str(exc), repr(exc), exc.message, json.dumps(exc.error)):
        assert API_KEY not in text
    assert exc.message == "Invalid key [REDACTED]."


async def test_the_key_never_appears_in_connection_errors(
    api: FakeApi, client: SkiplinoClient
) -> None:
    api.on("POST", "/tickets/book", httpx.ConnectError("connection refused"))
    with pytest.raises(APIConnectionError) as caught:
        await client.book_ticket(service_id="6fe8fb8b12", group_of_service_id="7c1f9a3b2d")
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value)


async def test_the_key_never_appears_in_the_client_repr() -> None:
    async with SkiplinoClient(base_url=BASE_URL, api_key=API_KEY) as skiplino:
        assert API_KEY not in repr(skiplino)
        assert API_KEY not in str(vars(skiplino))
        assert BASE_URL in repr(skiplino)


# -- Construction and lifecycle -----------------------------------------------------------------


async def test_a_trailing_slash_on_the_base_url_does_not_double_the_slash(api: FakeApi) -> None:
    api.on("GET", "/branches", ok([]))
    async with SkiplinoClient(
        base_url=BASE_URL + "/", api_key=API_KEY, transport=httpx.MockTransport(api.handle)
    ) as skiplino:
        await skiplino.list_branches()
    assert api.last.url.path == "/external/v1/branches"


async def test_a_supplied_http_client_is_used_and_left_open(api: FakeApi) -> None:
    api.on("GET", "/branches", ok([BRANCH]))
    async with httpx.AsyncClient(transport=httpx.MockTransport(api.handle)) as http:
        async with SkiplinoClient(base_url=BASE_URL, api_key=API_KEY, http_client=http) as skiplino:
            await skiplino.list_branches()
        assert not http.is_closed
    assert api.last.headers["Authorization"] == f"Bearer {API_KEY}"


async def test_a_client_it_created_is_closed_on_exit(api: FakeApi) -> None:
    api.on("GET", "/branches", ok([BRANCH]))
    async with SkiplinoClient(
        base_url=BASE_URL, api_key=API_KEY, transport=httpx.MockTransport(api.handle)
    ) as skiplino:
        await skiplino.list_branches()
    with pytest.raises(RuntimeError, match="closed"):
        await skiplino.list_branches()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "api.test/v1", "api_key": API_KEY},
        {"base_url": BASE_URL, "api_key": ""},
        {"base_url": BASE_URL, "api_key": API_KEY, "max_retries": -1},
        {"base_url": BASE_URL, "api_key": API_KEY, "backoff_base": -0.1},
    ],
    ids=["relative-url", "empty-key", "negative-retries", "negative-backoff"],
)
def test_bad_construction_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must") as caught:
        SkiplinoClient(**kwargs)
    assert API_KEY not in str(caught.value)


async def test_the_timeout_reaches_the_request(api: FakeApi) -> None:
    api.on("GET", "/branches", ok([]))
    async with SkiplinoClient(
        base_url=BASE_URL,
        api_key=API_KEY,
        timeout=httpx.Timeout(3.0, connect=1.5),
        transport=httpx.MockTransport(api.handle),
    ) as skiplino:
        await skiplino.list_branches()
    assert api.last.extensions["timeout"] == {
        "connect": 1.5,
        "read": 3.0,
        "write": 3.0,
        "pool": 3.0,
    }


def test_the_client_package_imports_nothing_of_the_bot_around_it() -> None:
    package = Path(__file__).resolve().parents[2] / "bot" / "skiplino"
    imported: set[str] = set()
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    foreign = {
        name
        for name in imported
        if name.split(".")[0] in {"telegram", "conversations"}
        or (name.startswith("bot.") and not name.startswith("bot.skiplino"))
        or name == "bot"
    }
    assert foreign == set()
    assert "bot.skiplino.client" in imported  # the scan does see the package's own imports


# -- Bounded calls: time budget, body size cap, refused key ------------------------------------


async def test_a_retry_after_past_the_budget_fails_at_once_with_rate_limit(
    api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    api.on("GET", "/branches", fail(429, **{"Retry-After": "30"}), ok([BRANCH]))
    async with SkiplinoClient(
        base_url=BASE_URL,
        api_key=API_KEY,
        max_retries=2,
        total_budget=8.0,
        transport=httpx.MockTransport(api.handle),
    ) as skiplino:
        started = time.monotonic()
        with pytest.raises(RateLimitError):
            await skiplino.list_branches()
    # No sleeping at all: the server asked for more than the whole budget.
    assert time.monotonic() - started < 1
    assert len(api.requests) == 1
    assert any("exceeds" in r.getMessage() for r in caplog.records)


async def test_a_retry_after_within_the_budget_is_honoured(api: FakeApi) -> None:
    api.on("GET", "/branches", fail(429, **{"Retry-After": "0.2"}), ok([BRANCH]))
    async with SkiplinoClient(
        base_url=BASE_URL,
        api_key=API_KEY,
        total_budget=2.0,
        transport=httpx.MockTransport(api.handle),
    ) as skiplino:
        started = time.monotonic()
        branches = await skiplino.list_branches()
    assert [b.id for b in branches] == [BRANCH["id"]]
    assert 0.2 <= time.monotonic() - started < 1.5
    assert len(api.requests) == 2


async def test_retries_stop_when_the_budget_is_spent(api: FakeApi) -> None:
    api.on("GET", "/branches", fail(503, **{"Retry-After": "0.3"}))
    async with SkiplinoClient(
        base_url=BASE_URL,
        api_key=API_KEY,
        max_retries=10,
        total_budget=1.0,
        transport=httpx.MockTransport(api.handle),
    ) as skiplino:
        started = time.monotonic()
        with pytest.raises(InternalServerError):
            await skiplino.list_branches()
    assert time.monotonic() - started < 1.5
    assert 2 <= len(api.requests) <= 4


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_an_oversized_body_is_refused_with_its_own_error(
    api: FakeApi, caplog: pytest.LogCaptureFixture, declared: bool
) -> None:
    big = json.dumps({"message": "ok", "data": [BRANCH] * 5000}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    def handle(request: httpx.Request) -> httpx.Response:
        api.requests.append(request)
        if declared:
            return httpx.Response(200, content=big)
        return httpx.Response(200, content=chunks())

    async with SkiplinoClient(
        base_url=BASE_URL,
        api_key=API_KEY,
        max_response_bytes=64 * 1024,
        transport=httpx.MockTransport(handle),
    ) as skiplino:
        with pytest.raises(ResponseTooLargeError) as caught:
            await skiplino.list_branches()
    assert caught.value.operation == "list_branches"
    assert caught.value.size > 64 * 1024
    assert len(api.requests) == 1  # a too-large answer is not asked for again
    [line] = [r.getMessage() for r in caplog.records if "cap" in r.getMessage()]
    assert "list_branches" in line
    assert str(64 * 1024) in line


async def test_a_body_under_the_cap_is_read_as_before(api: FakeApi) -> None:
    api.on("GET", "/branches", ok([BRANCH]))
    async with SkiplinoClient(
        base_url=BASE_URL,
        api_key=API_KEY,
        max_response_bytes=1024,
        transport=httpx.MockTransport(api.handle),
    ) as skiplino:
        branches = await skiplino.list_branches()
    assert [b.id for b in branches] == [BRANCH["id"]]


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_key_is_named_only_in_a_masked_form(
    api: FakeApi, client: SkiplinoClient, status: int
) -> None:
    api.on("GET", "/branches", fail(status, {"message": f"bad key {API_KEY}", "error": None}))
    with pytest.raises(APIStatusError) as caught:
        await client.list_branches()
    assert caught.value.key_hint == "sk_t…" + API_KEY[-4:]
    assert API_KEY not in str(caught.value)
