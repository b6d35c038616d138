"""The typed Skiplino client against the in-process sandbox: every operation, every error.

The client talks to ``sandbox`` through ``httpx.ASGITransport``, so each test runs the
real request building, the real sandbox rules and the real response parsing; the only
stand-in is ``DeadlineTransport``, which gives the in-process transport the read timeout a
network transport has. The sandbox clock stands still at ``NOW`` so queues never move.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.skiplino import (
    CUSTOMER_TICKETS_PAGE_LIMIT_MAX,
    CUSTOMERS_PAGE_LIMIT_MAX,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    Branch,
    ConflictError,
    Customer,
    InternalServerError,
    NotFoundError,
    Page,
    ServiceGroup,
    SkiplinoClient,
    Slot,
    Ticket,
    TicketStatus,
    TicketType,
    UnprocessableEntityError,
)
from sandbox import SampleIds, Sandbox
from sandbox import handlers as sandbox_rules
from tests.sandbox.helpers import BASE_URL, PUBLIC, SECRET

BAHRAIN = ZoneInfo("Asia/Bahrain")
# 10:00 on Tuesday 1 December 2026 in Bahrain: the 08:00-09:30 slots of today are past.
NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
TODAY = date(2026, 12, 1)
TOMORROW = date(2026, 12, 2)
UNKNOWN_SHORT_ID = "zzzzzzzzzz"
UNKNOWN_CUSTOMER_ID = "0" * 32

NOT_EXIST = "This value does not exist."
TAKEN = "This value is already taken."


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """Return the UTC instant of a Bahrain wall-clock time."""
    return datetime.combine(day, time(hour, minute), tzinfo=BAHRAIN).astimezone(UTC)


class DeadlineTransport(httpx.AsyncBaseTransport):
    """Give an in-process ASGI transport the read timeout a network transport enforces.

    ``httpx.ASGITransport`` ignores the request's timeout extension, so a hanging sandbox
    route would hang the test; this raises ``httpx.ReadTimeout`` as a socket read would.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        """Wrap ``inner``."""
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the inner transport within its read timeout."""
        read = request.extensions.get("timeout", {}).get("read")
        try:
            return await asyncio.wait_for(self._inner.handle_async_request(request), read)
        except TimeoutError:
            raise httpx.ReadTimeout("read timed out", request=request) from None

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()


class ClientFactory(Protocol):
    """Build a SkiplinoClient wired to the test's sandbox."""

    def __call__(
        self, *, api_key: str = SECRET, base_url: str = BASE_URL, timeout: float = 5.0
    ) -> SkiplinoClient:
        """Return a client; the fixture closes it after the test."""
        ...


@pytest.fixture
def sandbox() -> Sandbox:
    """Return a fresh sandbox whose clock stands still at NOW."""
    box = Sandbox(secret_key=SECRET, clock=lambda: NOW)
    # A broken timeout test should fail in seconds, not hang for the default hour.
    box.faults.hang_seconds = 3.0
    return box


@pytest.fixture
def ids(sandbox: Sandbox) -> SampleIds:
    """Return the sample company's ids."""
    return sandbox.sample_ids()


@pytest.fixture
async def connect(sandbox: Sandbox) -> AsyncIterator[ClientFactory]:
    """Return a factory of clients talking to ``sandbox`` in-process; close them afterwards."""
    made: list[SkiplinoClient] = []

    def make(
        *, api_key: str = SECRET, base_url: str = BASE_URL, timeout: float = 5.0
    ) -> SkiplinoClient:
        client = SkiplinoClient(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            # No backoff wait: retries are counted in the request log, not timed.
            backoff_base=0.0,
            transport=DeadlineTransport(httpx.ASGITransport(app=sandbox.app)),
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def client(connect: ClientFactory) -> SkiplinoClient:
    """Return a client with the secret key."""
    return connect()


def sent(sandbox: Sandbox, method: str, api_path: str) -> list[int | None]:
    """Return the statuses of the recorded calls to one route, in order."""
    return [r.status for r in sandbox.requests if r.method == method and r.api_path == api_path]


# -- every operation, for the errors every operation can produce ------------------------------

Call = Callable[[SkiplinoClient, SampleIds], Awaitable[object]]


async def _list_branches(c: SkiplinoClient, ids: SampleIds) -> object:
    return await c.list_branches()


async def _branch_tree(c: SkiplinoClient, ids: SampleIds) -> object:
    return await c.get_branch_tree(ids.open_branch)


async def _service_slots(c: SkiplinoClient, ids: SampleIds) -> object:
    return await c.get_service_slots(ids.appointment_service, date=TOMORROW)


async def _book_ticket(c: SkiplinoClient, ids: SampleIds) -> object:
    return await c.book_ticket(
        service_id=ids.walk_in_service, group_of_service_id=ids.walk_in_group
    )


async def _get_ticket(c: SkiplinoClient, ids: SampleIds) -> object:
    return await c.get_ticket(ids.waiting_ticket)


async def _cancel_ticket(c: SkiplinoClient, ids: SampleIds) -> object:
    return await c.cancel_ticket(ids.waiting_ticket)


async def _change_time(c: SkiplinoClient, ids: SampleIds) -> object:
    return await c.change_ticket_time(
        ids.upcoming_ticket, time=local(TOMORROW, 15, 30), customer_id=ids.customer_id
    )


async def _create_customer(c: SkiplinoClient, ids: SampleIds) -> object:
    return await c.create_customer(external_id="tg-1", name="Omar")


async def _list_customers(c: SkiplinoClient, ids: SampleIds) -> object:
    return await c.list_customers()


async def _get_customer(c: SkiplinoClient, ids: SampleIds) -> object:
    return await c.get_customer(customer_id=ids.customer_id)


async def _update_customer(c: SkiplinoClient, ids: SampleIds) -> object:
    return await c.update_customer(customer_id=ids.customer_id, name="Layla H.")


async def _delete_customer(c: SkiplinoClient, ids: SampleIds) -> object:
    await c.delete_customer(customer_id=ids.quiet_customer_id)
    return None


async def _customer_tickets(c: SkiplinoClient, ids: SampleIds) -> object:
    return await c.list_customer_tickets(customer_id=ids.customer_id)


# (name, HTTP method, route pattern as the sandbox's fault switches write it, call)
OPERATIONS: list[tuple[str, str, str, Call]] = [
    ("list_branches", "GET", "/branches", _list_branches),
    ("get_branch_tree", "GET", "/branches/*/tree", _branch_tree),
    ("get_service_slots", "GET", "/services/*/slots", _service_slots),
    ("book_ticket", "POST", "/tickets/book", _book_ticket),
    ("get_ticket", "GET", "/tickets/*", _get_ticket),
    ("cancel_ticket", "POST", "/tickets/*/cancel", _cancel_ticket),
    ("change_ticket_time", "POST", "/tickets/*/change-time", _change_time),
    ("create_customer", "POST", "/customers/create", _create_customer),
    ("list_customers", "GET", "/customers/getAll", _list_customers),
    ("get_customer", "GET", "/customers/getOne", _get_customer),
    ("update_customer", "PUT", "/customers/update", _update_customer),
    ("delete_customer", "DELETE", "/customers/delete", _delete_customer),
    ("list_customer_tickets", "GET", "/customers/tickets", _customer_tickets),
]
SECRET_ONLY = {
    "create_customer",
    "list_customers",
    "get_customer",
    "update_customer",
    "delete_customer",
}
BY_NAME = {name: (method, route, call) for name, method, route, call in OPERATIONS}
NAMES = [name for name, *_ in OPERATIONS]


def test_the_table_covers_all_thirteen_operations_of_the_sandbox() -> None:
    """Keep the per-operation tests in step with the operations the sandbox serves."""
    from sandbox import OPERATIONS as SANDBOX_OPERATIONS

    assert len(OPERATIONS) == len(SANDBOX_OPERATIONS) == 13
    assert {(m, r.replace("*", "{}")) for _, m, r, _ in OPERATIONS} == {
        (op.method, _blank_params(op.path)) for op in SANDBOX_OPERATIONS
    }


def _blank_params(path: str) -> str:
    """Replace every ``{name}`` segment with ``{}``."""
    return "/".join("{}" if s.startswith("{") else s for s in path.split("/"))


@pytest.mark.parametrize("name", NAMES)
async def test_every_operation_succeeds_with_the_secret_key(
    name: str, client: SkiplinoClient, ids: SampleIds, sandbox: Sandbox
) -> None:
    """Parse every operation's success envelope into its typed result."""
    _method, _route, call = BY_NAME[name]
    result = await call(client, ids)
    expected: dict[str, type] = {
        "list_branches": list,
        "get_branch_tree": list,
        "get_service_slots": list,
        "book_ticket": Ticket,
        "get_ticket": Ticket,
        "cancel_ticket": Ticket,
        "change_ticket_time": Ticket,
        "create_customer": Customer,
        "list_customers": Page,
        "get_customer": Customer,
        "update_customer": Customer,
        "delete_customer": type(None),
        "list_customer_tickets": Page,
    }
    assert isinstance(result, expected[name])
    assert [r.status for r in sandbox.requests] in ([200], [201])


@pytest.mark.parametrize("name", NAMES)
async def test_every_operation_raises_authentication_error_for_a_wrong_key(
    name: str, connect: ClientFactory, ids: SampleIds
) -> None:
    """Turn a 401 for an unknown key into AuthenticationError, without echoing the key."""
    _, _, call = BY_NAME[name]
    with pytest.raises(AuthenticationError) as info:
        await call(connect(api_key="sk_live_wrong_key_123"), ids)
    assert info.value.status_code == 401
    assert info.value.error == "Invalid or missing API key."
    assert "sk_live_wrong_key_123" not in str(info.value)


@pytest.mark.parametrize("name", NAMES)
async def test_the_public_key_is_refused_only_on_secret_only_customer_endpoints(
    name: str, connect: ClientFactory, ids: SampleIds
) -> None:
    """Raise AuthenticationError for the public key on the five customer-directory calls."""
    _, _, call = BY_NAME[name]
    public = connect(api_key=PUBLIC)
    if name in SECRET_ONLY:
        with pytest.raises(AuthenticationError) as info:
            await call(public, ids)
        assert info.value.error == "This operation requires a secret key."
    else:
        await call(public, ids)


@pytest.mark.parametrize("name", NAMES)
async def test_a_forced_server_error_raises_internal_server_error_after_retrying_reads_only(
    name: str, client: SkiplinoClient, ids: SampleIds, sandbox: Sandbox
) -> None:
    """Retry a 503 read twice, send a 503 write exactly once, then raise InternalServerError."""
    method, route, call = BY_NAME[name]
    sandbox.faults.force(method, route, 503)
    with pytest.raises(InternalServerError) as info:
        await call(client, ids)
    assert info.value.status_code == 503
    expected_attempts = 3 if method == "GET" else 1
    assert [(r.method, r.status) for r in sandbox.requests] == [(method, 503)] * expected_attempts


async def test_a_post_that_got_503_was_sent_exactly_once_and_booked_nothing(
    client: SkiplinoClient, ids: SampleIds, sandbox: Sandbox
) -> None:
    """Never repeat a booking the server may have half-done."""
    before = len(sandbox.tickets)
    sandbox.faults.force("POST", "/tickets/book", 503)
    with pytest.raises(InternalServerError):
        await client.book_ticket(
            service_id=ids.walk_in_service, group_of_service_id=ids.walk_in_group
        )
    assert sent(sandbox, "POST", "/tickets/book") == [503]
    assert len(sandbox.requests) == 1
    assert len(sandbox.tickets) == before


async def test_a_read_recovers_when_the_server_error_clears_before_the_retry(
    client: SkiplinoClient, ids: SampleIds, sandbox: Sandbox
) -> None:
    """Return the branches when a retried GET succeeds after a server error."""
    # The seeded dice roll 0.35 then 0.91: at rate 0.5 the first call fails, the retry passes.
    sandbox.faults.set(error_rate=0.5)
    branches = await client.list_branches()
    assert sent(sandbox, "GET", "/branches") == [500, 200]
    assert [b.id for b in branches][:1] == [ids.open_branch]


async def test_a_hanging_booking_raises_api_timeout_error_after_one_attempt(
    connect: ClientFactory, ids: SampleIds, sandbox: Sandbox
) -> None:
    """Give up on a hanging write after the client timeout and never resend it."""
    sandbox.faults.add_hang("POST", "/tickets/book")
    client = connect(timeout=0.2)
    with pytest.raises(APITimeoutError):
        await client.book_ticket(
            service_id=ids.walk_in_service, group_of_service_id=ids.walk_in_group
        )
    # The only call was never answered: the sandbox recorded it without a status.
    assert sent(sandbox, "POST", "/tickets/book") == [None]


async def test_a_hanging_read_raises_api_timeout_error_after_its_retries(
    connect: ClientFactory, ids: SampleIds, sandbox: Sandbox
) -> None:
    """Retry a hanging GET up to max_retries, then raise APITimeoutError."""
    sandbox.faults.add_hang("GET", "/tickets/*")
    with pytest.raises(APITimeoutError):
        await connect(timeout=0.1).get_ticket(ids.waiting_ticket)
    assert sent(sandbox, "GET", f"/tickets/{ids.waiting_ticket}") == [None, None, None]


@pytest.mark.parametrize(
    ("name", "message", "error"),
    [
        ("get_ticket", "Ticket not found.", "Ticket not found."),
        ("cancel_ticket", "Ticket not found.", "Ticket not found."),
        ("get_customer", "Customer not found.", None),
        ("list_customer_tickets", "Customer not found.", None),
    ],
)
async def test_a_404_raises_not_found_error_with_the_api_reason(
    name: str,
    message: str,
    error: str | None,
    client: SkiplinoClient,
    ids: SampleIds,
    sandbox: Sandbox,
) -> None:
    """Map the 404 'resolved, then gone' answer to NotFoundError, sent once (not retried)."""
    method, route, call = BY_NAME[name]
    sandbox.faults.force(method, route, 404)
    with pytest.raises(NotFoundError) as info:
        await call(client, ids)
    assert (info.value.status_code, info.value.message, info.value.error) == (404, message, error)
    assert len(sandbox.requests) == 1


async def test_a_base_url_of_another_api_version_raises_not_found_error(
    connect: ClientFactory,
) -> None:
    """Raise NotFoundError when the base URL points at a route the sandbox does not serve."""
    with pytest.raises(NotFoundError):
        await connect(base_url="http://sandbox/external/v2").list_branches()


# -- branches and services -------------------------------------------------------------------


async def test_list_branches_returns_the_active_branches_with_their_open_flag(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """List Seef, Manama, Muharraq and a closed Riffa; never the inactive Isa Town."""
    branches = await client.list_branches()
    assert all(isinstance(b, Branch) for b in branches)
    assert [b.name for b in branches] == [
        "Seef Mall Branch",
        "Manama Central Branch",
        "Muharraq Branch",
        "Riffa Branch",
    ]
    open_by_id = {b.id: b.is_open for b in branches}
    assert open_by_id[ids.open_branch] is True
    assert open_by_id[ids.closed_branch] is False
    assert ids.inactive_branch not in open_by_id


async def test_x_locale_ar_gives_arabic_branch_names_and_is_sent_as_a_header(
    client: SkiplinoClient, sandbox: Sandbox
) -> None:
    """Send X-Locale: ar and get the branch names in Arabic."""
    branches = await client.list_branches(locale="ar")
    assert [b.name for b in branches][:2] == ["فرع سيف مول", "فرع المنامة المركزي"]
    assert sandbox.requests[-1].locale == "ar"


async def test_get_branch_tree_returns_bookable_groups_with_their_services(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Return the three service groups of Seef Mall, without the inactive service."""
    tree = await client.get_branch_tree(ids.open_branch)
    assert all(isinstance(g, ServiceGroup) for g in tree)
    assert [(g.id, g.name) for g in tree] == [
        (ids.walk_in_group, "Teller Services"),
        (ids.appointment_group, "Customer Service"),
        (ids.loans_group, "Loans & Financing"),
    ]
    services = {s.id: s for g in tree for s in g.services}
    assert services[ids.walk_in_service].is_appointment is False
    assert services[ids.appointment_service].is_appointment is True
    assert services[ids.closed_service].is_open is False
    assert ids.inactive_service not in services


async def test_get_branch_tree_in_arabic_names_groups_and_services_in_arabic(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Localize group and service names, falling back to the base name when untranslated."""
    tree = await client.get_branch_tree(ids.open_branch, locale="ar")
    assert tree[0].name == "خدمات الصراف"
    assert tree[0].services[0].name == "سحب نقدي"


async def test_get_branch_tree_of_an_unknown_branch_raises_unprocessable_entity(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Report an unknown (or inactive) branch as a 422 on branchId."""
    for branch_id in (UNKNOWN_SHORT_ID, ids.inactive_branch):
        with pytest.raises(UnprocessableEntityError) as info:
            await client.get_branch_tree(branch_id)
        assert info.value.field_errors == {"branchId": NOT_EXIST}


async def test_get_service_slots_returns_tomorrows_free_slots_without_the_full_one(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Return aware-UTC slots of the requested local day, each with places left."""
    slots = await client.get_service_slots(ids.appointment_service, date=TOMORROW)
    assert slots
    assert all(isinstance(s, Slot) for s in slots)
    assert all(s.time.tzinfo is UTC for s in slots)
    assert {s.time.astimezone(BAHRAIN).date() for s in slots} == {TOMORROW}
    assert all(1 <= s.remaining <= 3 for s in slots)
    assert ids.full_slot not in {s.time for s in slots}


async def test_get_service_slots_defaults_to_todays_future_slots(
    client: SkiplinoClient, ids: SampleIds, sandbox: Sandbox
) -> None:
    """Send no date and get only today's slots after 10:00 local."""
    slots = await client.get_service_slots(ids.appointment_service)
    assert "date" not in sandbox.requests[-1].query
    assert slots
    assert all(s.time > NOW and s.time.astimezone(BAHRAIN).date() == TODAY for s in slots)


async def test_get_service_slots_on_a_fully_booked_day_is_empty(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Return an empty list on the day no appointment service has a free slot."""
    assert await client.get_service_slots(ids.appointment_service, date=ids.full_date) == []


@pytest.mark.parametrize(
    ("service", "day", "errors"),
    [
        ("walk_in_service", TOMORROW, {"id": sandbox_rules.NOT_APPOINTMENT}),
        ("appointment_service", TODAY - timedelta(days=1), {"date": sandbox_rules.DATE_PAST}),
        ("unknown", TOMORROW, {"id": NOT_EXIST}),
    ],
)
async def test_get_service_slots_rejects_bad_input_with_field_errors(
    service: str, day: date, errors: dict[str, str], client: SkiplinoClient, ids: SampleIds
) -> None:
    """Raise 422 for slots of a walk-in service, a past date or an unknown service."""
    service_id = UNKNOWN_SHORT_ID if service == "unknown" else getattr(ids, service)
    with pytest.raises(UnprocessableEntityError) as info:
        await client.get_service_slots(service_id, date=day)
    assert info.value.field_errors == errors


# -- tickets ---------------------------------------------------------------------------------


async def test_book_a_walk_in_returns_a_waiting_ticket_at_the_end_of_the_queue(
    client: SkiplinoClient, ids: SampleIds, sandbox: Sandbox
) -> None:
    """Book without time or customer and get a waiting sequential ticket with its place."""
    ahmed = await client.get_ticket(ids.waiting_ticket)
    ticket = await client.book_ticket(
        service_id=ids.walk_in_service, group_of_service_id=ids.walk_in_group
    )
    assert ticket.type == TicketType.SEQUENTIAL
    assert not ticket.is_appointment
    assert ticket.status == TicketStatus.WAITING
    assert ticket.can_cancel
    assert ticket.ticket_number.startswith("Q")
    assert ticket.time is None
    assert ticket.customer is None
    assert ticket.booked_at == NOW == ticket.status_at
    assert (ticket.branch.name, ticket.service.name, ticket.group_of_service.name) == (
        "Seef Mall Branch",
        "Cash Withdrawal",
        "Teller Services",
    )
    assert ahmed.queue_size is not None
    assert ticket.queue_size == ahmed.queue_size + 1
    assert ticket.waiting_time is not None
    assert ticket.waiting_time > 0
    assert sandbox.requests[-1].json == {
        "serviceId": ids.walk_in_service,
        "groupOfServiceId": ids.walk_in_group,
    }


async def test_book_a_walk_in_for_a_customer_by_external_id_names_the_customer(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Attach the customer found by customerExternalId to the ticket."""
    ticket = await client.book_ticket(
        service_id=ids.walk_in_service,
        group_of_service_id=ids.walk_in_group,
        customer_external_id=ids.customer_external_id,
    )
    assert ticket.customer is not None
    assert (ticket.customer.id, ticket.customer.name) == (ids.customer_id, "Layla Hassan")


async def test_book_an_appointment_takes_a_place_in_the_chosen_slot(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Book a free slot and see an upcoming appointment at that time and one place fewer."""
    before = await client.get_service_slots(ids.appointment_service, date=TOMORROW)
    chosen = before[-1]
    ticket = await client.book_ticket(
        service_id=ids.appointment_service,
        group_of_service_id=ids.appointment_group,
        time=chosen.time.astimezone(BAHRAIN),
        customer_id=ids.quiet_customer_id,
    )
    assert ticket.is_appointment
    assert ticket.status == TicketStatus.UPCOMING
    assert ticket.time == chosen.time
    assert ticket.ticket_number.startswith("A")
    assert ticket.queue_size is None
    assert ticket.customer is not None
    assert ticket.customer.id == ids.quiet_customer_id
    after = {
        s.time: s.remaining
        for s in await client.get_service_slots(ids.appointment_service, date=TOMORROW)
    }
    assert after.get(chosen.time, 0) == chosen.remaining - 1


async def test_book_in_arabic_names_the_ticket_in_arabic(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Return the booked ticket's branch, service and group names in Arabic."""
    ticket = await client.book_ticket(
        service_id=ids.walk_in_service, group_of_service_id=ids.walk_in_group, locale="ar"
    )
    assert (ticket.branch.name, ticket.service.name, ticket.group_of_service.name) == (
        "فرع سيف مول",
        "سحب نقدي",
        "خدمات الصراف",
    )


@pytest.mark.parametrize(
    ("service", "group", "locale", "reason"),
    [
        ("closed_branch_service", "closed_branch_group", None, "The branch is currently closed."),
        ("closed_service", "walk_in_group", None, "The service is currently closed."),
        ("closed_service", "walk_in_group", "ar", "الخدمة مغلقة حالياً."),
    ],
)
async def test_book_at_a_closed_branch_or_service_raises_bad_request_with_a_localized_reason(
    service: str,
    group: str,
    locale: str | None,
    reason: str,
    client: SkiplinoClient,
    ids: SampleIds,
    sandbox: Sandbox,
) -> None:
    """Raise BadRequestError (400) whose reason follows X-Locale, and book nothing."""
    before = len(sandbox.tickets)
    with pytest.raises(BadRequestError) as info:
        await client.book_ticket(
            service_id=getattr(ids, service), group_of_service_id=getattr(ids, group), locale=locale
        )
    assert info.value.status_code == 400
    assert info.value.error == reason
    assert len(sandbox.tickets) == before


async def test_book_with_unknown_ids_reports_each_one_as_not_existing(
    client: SkiplinoClient,
) -> None:
    """Raise 422 naming both unknown ids."""
    with pytest.raises(UnprocessableEntityError) as info:
        await client.book_ticket(
            service_id=UNKNOWN_SHORT_ID,
            group_of_service_id="yyyyyyyyyy",
            customer_external_id="nobody",
        )
    assert info.value.field_errors == {
        "serviceId": NOT_EXIST,
        "groupOfServiceId": NOT_EXIST,
        "customerExternalId": NOT_EXIST,
    }
    assert info.value.has_error("serviceId", NOT_EXIST)


@pytest.mark.parametrize(
    ("case", "errors"),
    [
        ("walk_in_service", {"serviceId": sandbox_rules.NOT_APPOINTMENT}),
        ("full_slot", {"time": sandbox_rules.SLOT_GONE}),
        ("past_time", {"time": sandbox_rules.NOT_FUTURE}),
        ("unknown_customer", {"customerId": NOT_EXIST}),
    ],
)
async def test_book_an_appointment_rejects_what_cannot_be_booked(
    case: str, errors: dict[str, str], client: SkiplinoClient, ids: SampleIds
) -> None:
    """Raise 422 for a walk-in service, a full slot, a past time or an unknown customer."""
    service, group = ids.appointment_service, ids.appointment_group
    when = local(TOMORROW, 15, 30)
    customer = ids.customer_id
    if case == "walk_in_service":
        service, group = ids.walk_in_service, ids.walk_in_group
    elif case == "full_slot":
        when = ids.full_slot
    elif case == "past_time":
        when = local(TODAY, 9, 0)
    else:
        customer = UNKNOWN_CUSTOMER_ID
    with pytest.raises(UnprocessableEntityError) as info:
        await client.book_ticket(
            service_id=service, group_of_service_id=group, time=when, customer_id=customer
        )
    assert info.value.field_errors == errors


async def test_get_ticket_matches_what_the_sandbox_holds(
    client: SkiplinoClient, ids: SampleIds, sandbox: Sandbox
) -> None:
    """Parse the waiting, upcoming and served sample tickets field for field."""
    for ticket_id in (ids.waiting_ticket, ids.upcoming_ticket, ids.served_ticket):
        ticket = await client.get_ticket(ticket_id)
        assert ticket == Ticket.model_validate(sandbox.ticket_json(ticket_id))
    waiting = await client.get_ticket(ids.waiting_ticket)
    assert waiting.queue_size is not None
    assert waiting.queue_size > 0
    assert waiting.customer is not None
    assert waiting.customer.id == ids.other_customer_id
    upcoming = await client.get_ticket(ids.upcoming_ticket)
    assert upcoming.time == local(TOMORROW, 10, 0)
    served = await client.get_ticket(ids.served_ticket)
    assert served.status == TicketStatus.SERVED
    assert (served.queue_size, served.waiting_time, served.is_active) == (None, None, False)


async def test_get_ticket_in_arabic_names_service_in_arabic(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Return the ticket's names in Arabic for X-Locale: ar."""
    ticket = await client.get_ticket(ids.upcoming_ticket, locale="ar")
    assert (ticket.branch.name, ticket.service.name) == ("فرع سيف مول", "فتح حساب")


async def test_get_an_unknown_ticket_raises_unprocessable_entity(
    client: SkiplinoClient,
) -> None:
    """Report an unknown ticket id as a 422 on id."""
    with pytest.raises(UnprocessableEntityError) as info:
        await client.get_ticket(UNKNOWN_SHORT_ID)
    assert info.value.field_errors == {"id": NOT_EXIST}


async def test_cancel_a_waiting_ticket_returns_it_cancelled_and_it_stays_cancelled(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Cancel a waiting walk-in; the answer and a later read both say cancelled."""
    cancelled = await client.cancel_ticket(ids.waiting_ticket)
    assert cancelled.status == TicketStatus.CANCELLED
    assert cancelled.status_at == NOW
    assert cancelled.queue_size is None
    assert not cancelled.can_cancel
    assert (await client.get_ticket(ids.waiting_ticket)).status == TicketStatus.CANCELLED


async def test_cancel_an_upcoming_appointment_frees_its_slot(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Cancel Layla's appointment and see its slot offered with one more place."""
    slot_time = local(TOMORROW, 10, 0)

    async def places() -> int:
        slots = await client.get_service_slots(ids.appointment_service, date=TOMORROW)
        return next((s.remaining for s in slots if s.time == slot_time), 0)

    before = await places()
    assert (await client.cancel_ticket(ids.upcoming_ticket)).status == TicketStatus.CANCELLED
    assert await places() == before + 1


@pytest.mark.parametrize("which", ["served_ticket", "cancelled_ticket"])
async def test_cancel_a_served_or_cancelled_ticket_raises_conflict(
    which: str, client: SkiplinoClient, ids: SampleIds, sandbox: Sandbox
) -> None:
    """Raise ConflictError (409) and leave the ticket as it was."""
    ticket_id = getattr(ids, which)
    status_before = sandbox.ticket(ticket_id).status
    with pytest.raises(ConflictError) as info:
        await client.cancel_ticket(ticket_id)
    assert info.value.status_code == 409
    assert info.value.message == "This ticket can no longer be cancelled."
    assert sandbox.ticket(ticket_id).status == status_before


async def test_cancel_twice_raises_conflict_the_second_time(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Accept the first cancel and refuse the second with ConflictError."""
    await client.cancel_ticket(ids.waiting_ticket)
    with pytest.raises(ConflictError):
        await client.cancel_ticket(ids.waiting_ticket)


async def test_cancel_an_unknown_ticket_raises_unprocessable_entity(
    client: SkiplinoClient,
) -> None:
    """Report an unknown ticket id as a 422 on id."""
    with pytest.raises(UnprocessableEntityError) as info:
        await client.cancel_ticket(UNKNOWN_SHORT_ID)
    assert info.value.field_errors == {"id": NOT_EXIST}


async def test_change_time_moves_the_appointment_to_a_free_slot(
    client: SkiplinoClient, ids: SampleIds, sandbox: Sandbox
) -> None:
    """Move Layla's appointment by her external id; the ticket keeps its id and status."""
    slots = await client.get_service_slots(ids.appointment_service, date=TOMORROW)
    target = next(s.time for s in reversed(slots) if s.time != local(TOMORROW, 10, 0))
    moved = await client.change_ticket_time(
        ids.upcoming_ticket, time=target, customer_external_id=ids.customer_external_id
    )
    assert (moved.id, moved.status, moved.time) == (
        ids.upcoming_ticket,
        TicketStatus.UPCOMING,
        target,
    )
    assert sandbox.requests[-1].json == {
        "time": target.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "customerExternalId": ids.customer_external_id,
    }


@pytest.mark.parametrize(
    ("case", "errors"),
    [
        ("other_customer", {"customerId": sandbox_rules.NOT_OWNER}),
        ("walk_in", {"id": sandbox_rules.NOT_RESCHEDULABLE}),
        ("full_slot", {"time": sandbox_rules.SLOT_GONE}),
        ("past_time", {"time": sandbox_rules.NOT_FUTURE}),
        ("unknown_customer", {"customerExternalId": NOT_EXIST}),
        ("unknown_ticket", {"id": NOT_EXIST}),
    ],
)
async def test_change_time_rejects_what_cannot_be_moved(
    case: str, errors: dict[str, str], client: SkiplinoClient, ids: SampleIds, sandbox: Sandbox
) -> None:
    """Raise 422 and leave the appointment where it was."""
    ticket_id = ids.upcoming_ticket
    when = local(TOMORROW, 15, 30)
    refs: dict[str, str] = {"customer_id": ids.customer_id}
    if case == "other_customer":
        refs = {"customer_id": ids.other_customer_id}
    elif case == "walk_in":
        ticket_id = ids.served_ticket
    elif case == "full_slot":
        when = ids.full_slot
    elif case == "past_time":
        when = NOW - timedelta(minutes=1)
    elif case == "unknown_customer":
        refs = {"customer_external_id": "nobody"}
    else:
        ticket_id = UNKNOWN_SHORT_ID
    with pytest.raises(UnprocessableEntityError) as info:
        await client.change_ticket_time(ticket_id, time=when, **refs)
    assert info.value.field_errors == errors
    assert sandbox.ticket(ids.upcoming_ticket).time == local(TOMORROW, 10, 0)


async def test_both_customer_refs_are_refused_by_the_client_as_the_sandbox_would(
    client: SkiplinoClient, ids: SampleIds, sandbox: Sandbox
) -> None:
    """Refuse two customer references before sending; the sandbox answers them with 422."""
    when = local(TOMORROW, 15, 30)
    with pytest.raises(ValueError, match="not both"):
        await client.book_ticket(
            service_id=ids.appointment_service,
            group_of_service_id=ids.appointment_group,
            time=when,
            customer_id=ids.customer_id,
            customer_external_id=ids.customer_external_id,
        )
    with pytest.raises(ValueError, match="not both"):
        await client.change_ticket_time(
            ids.upcoming_ticket,
            time=when,
            customer_id=ids.customer_id,
            customer_external_id=ids.customer_external_id,
        )
    assert sandbox.requests == []
    # The same body sent by hand: the client's local rule is the server's rule.
    async with _raw(sandbox) as api:
        raw = await api.post(
            "/tickets/book",
            json={
                "serviceId": ids.appointment_service,
                "groupOfServiceId": ids.appointment_group,
                "time": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "customerId": ids.customer_id,
                "customerExternalId": ids.customer_external_id,
            },
        )
    assert raw.status_code == 422
    assert raw.json()["error"] == {"customerId": sandbox_rules.BOTH_CUSTOMERS}


def _raw(sandbox: Sandbox) -> httpx.AsyncClient:
    """Return a bare httpx client with the secret key, for requests the typed client refuses."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox.app),
        base_url=BASE_URL,
        headers={"Authorization": f"Bearer {SECRET}"},
    )


# -- customers -------------------------------------------------------------------------------


async def test_create_customer_returns_the_stored_customer(
    client: SkiplinoClient, ids: SampleIds, sandbox: Sandbox
) -> None:
    """Create a customer and get back its new id, the company and NOW timestamps."""
    customer = await client.create_customer(
        external_id="tg-42",
        name="Omar Saleh",
        email="omar@example.com",
        mobile="+97339001122",
        metadata={"telegram_chat": 42},
    )
    assert len(customer.id) == 32
    assert int(customer.id, 16) >= 0
    assert customer.company_id == ids.company_id
    assert (customer.external_id, customer.name, customer.email, customer.mobile) == (
        "tg-42",
        "Omar Saleh",
        "omar@example.com",
        "+97339001122",
    )
    assert customer.metadata == {"telegram_chat": 42}
    assert customer.created_at == customer.updated_at == NOW
    assert sandbox.customer(customer.id).external_id == "tg-42"


async def test_create_customer_with_no_fields_leaves_them_absent(
    client: SkiplinoClient,
) -> None:
    """Create an empty customer; the fields never set read as None."""
    customer = await client.create_customer()
    assert (customer.external_id, customer.name, customer.email, customer.metadata) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"external_id": "crm-7741"}, {"externalId": TAKEN}),
        ({"email": "not-an-email"}, {"email": sandbox_rules.BAD_EMAIL}),
    ],
)
async def test_create_customer_rejects_a_taken_external_id_or_a_bad_email(
    fields: dict[str, Any], errors: dict[str, str], client: SkiplinoClient, sandbox: Sandbox
) -> None:
    """Raise 422 with the field's reason and create nobody."""
    before = len(sandbox.customers)
    with pytest.raises(UnprocessableEntityError) as info:
        await client.create_customer(**fields)
    assert info.value.field_errors == errors
    assert len(sandbox.customers) == before


async def test_list_customers_pages_newest_first(client: SkiplinoClient, ids: SampleIds) -> None:
    """Page through the three sample customers two at a time, newest first."""
    first = await client.list_customers(page=1, limit=2)
    assert [c.id for c in first.items] == [ids.quiet_customer_id, ids.other_customer_id]
    assert (first.total, first.total_pages, first.page, first.limit) == (3, 2, 1, 2)
    assert (first.has_next_page, first.has_prev_page) == (True, False)
    second = await client.list_customers(page=2, limit=2)
    assert [c.id for c in second.items] == [ids.customer_id]
    assert (second.has_next_page, second.has_prev_page) == (False, True)
    beyond = await client.list_customers(page=3, limit=2)
    assert beyond.items == []
    assert not beyond.has_next_page


@pytest.mark.parametrize(
    ("operation", "cap", "client_cap"),
    [
        ("/customers/getAll", sandbox_rules.CUSTOMERS_MAX_LIMIT, CUSTOMERS_PAGE_LIMIT_MAX),
        (
            "/customers/tickets",
            sandbox_rules.CUSTOMER_TICKETS_MAX_LIMIT,
            CUSTOMER_TICKETS_PAGE_LIMIT_MAX,
        ),
    ],
)
async def test_paging_caps_agree_the_cap_is_served_and_one_more_is_refused(
    operation: str,
    cap: int,
    client_cap: int,
    client: SkiplinoClient,
    ids: SampleIds,
    sandbox: Sandbox,
) -> None:
    """Serve limit == cap; refuse cap + 1 in the client, as the sandbox does with 422."""
    assert client_cap == cap

    async def fetch(limit: int) -> object:
        if operation == "/customers/getAll":
            return await client.list_customers(limit=limit)
        return await client.list_customer_tickets(customer_id=ids.customer_id, limit=limit)

    await fetch(cap)
    with pytest.raises(ValueError, match=f"between 1 and {cap}"):
        await fetch(cap + 1)
    with pytest.raises(ValueError, match="page must be >= 1"):
        await client.list_customers(page=0)
    assert len(sandbox.requests) == 1
    async with _raw(sandbox) as api:
        raw = await api.get(operation, params={"id": ids.customer_id, "limit": cap + 1, "page": 0})
    assert raw.status_code == 422
    assert raw.json()["error"] == {
        "limit": f"The limit must be between 1 and {cap}.",
        "page": sandbox_rules.BAD_PAGE,
    }


@pytest.mark.parametrize(
    ("locator", "expected"),
    [
        ("by_id", "customer_id"),
        ("by_external_id", "customer_id"),
        ("both", "customer_id"),
    ],
)
async def test_get_customer_finds_by_id_or_external_id_and_id_wins(
    locator: str, expected: str, client: SkiplinoClient, ids: SampleIds
) -> None:
    """Find Layla by id, by crm-7741, and by her id next to Ahmed's external id."""
    refs = {
        "by_id": {"customer_id": ids.customer_id},
        "by_external_id": {"external_id": ids.customer_external_id},
        "both": {"customer_id": ids.customer_id, "external_id": ids.other_customer_external_id},
    }[locator]
    customer = await client.get_customer(**refs)
    assert customer.id == getattr(ids, expected)
    assert (customer.name, customer.external_id) == ("Layla Hassan", "crm-7741")
    assert customer.metadata == {"tier": "gold", "source": "mobile-app"}
    assert customer.created_at == NOW - timedelta(days=30)


@pytest.mark.parametrize(
    ("refs", "errors"),
    [
        ({"customer_id": UNKNOWN_CUSTOMER_ID}, {"id": NOT_EXIST}),
        ({"external_id": "nobody"}, {"externalId": NOT_EXIST}),
    ],
)
async def test_get_an_unknown_customer_raises_unprocessable_entity(
    refs: dict[str, str], errors: dict[str, str], client: SkiplinoClient
) -> None:
    """Report an unknown customer as 422 "This value does not exist." (not 404)."""
    with pytest.raises(UnprocessableEntityError) as info:
        await client.get_customer(**refs)
    assert info.value.field_errors == errors


async def test_update_customer_changes_only_the_given_fields_and_replaces_metadata(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Update Layla by id; untouched fields stay, metadata is replaced whole."""
    updated = await client.update_customer(
        customer_id=ids.customer_id, name="Layla H.", metadata={"tier": "platinum"}
    )
    assert (updated.name, updated.email) == ("Layla H.", "layla.hassan@example.com")
    assert updated.metadata == {"tier": "platinum"}
    assert updated.created_at is not None
    assert updated.updated_at == NOW > updated.created_at
    assert await client.get_customer(customer_id=ids.customer_id) == updated


async def test_update_customer_by_external_id_keeps_the_external_id(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Locate by external id and change the email; the external id is the locator, not a change."""
    updated = await client.update_customer(
        external_id=ids.other_customer_external_id, email="ahmed@example.com"
    )
    assert (updated.id, updated.external_id, updated.email) == (
        ids.other_customer_id,
        ids.other_customer_external_id,
        "ahmed@example.com",
    )


async def test_update_customer_renames_the_external_id_when_located_by_id(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Give Fatima a new external id and find her by it."""
    renamed = await client.update_customer(
        customer_id=ids.quiet_customer_id, new_external_id="tg-7"
    )
    assert renamed.external_id == "tg-7"
    assert (await client.get_customer(external_id="tg-7")).id == ids.quiet_customer_id


@pytest.mark.parametrize(
    ("refs", "errors"),
    [
        ({"customer_id": "quiet", "new_external_id": "crm-7741"}, {"externalId": TAKEN}),
        ({"customer_id": UNKNOWN_CUSTOMER_ID, "name": "X"}, {"id": NOT_EXIST}),
        ({"external_id": "nobody", "name": "X"}, {"externalId": NOT_EXIST}),
    ],
)
async def test_update_customer_rejects_a_taken_external_id_or_an_unknown_customer(
    refs: dict[str, Any], errors: dict[str, str], client: SkiplinoClient, ids: SampleIds
) -> None:
    """Raise 422 with the field's reason."""
    if refs.get("customer_id") == "quiet":
        refs = {**refs, "customer_id": ids.quiet_customer_id}
    with pytest.raises(UnprocessableEntityError) as info:
        await client.update_customer(**refs)
    assert info.value.field_errors == errors


async def test_delete_customer_removes_them_but_keeps_their_tickets(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Delete Layla by external id; she is gone, her served ticket is still readable."""
    await client.delete_customer(external_id=ids.customer_external_id)
    with pytest.raises(UnprocessableEntityError) as info:
        await client.get_customer(customer_id=ids.customer_id)
    assert info.value.field_errors == {"id": NOT_EXIST}
    assert (await client.get_ticket(ids.served_ticket)).status == TicketStatus.SERVED


async def test_delete_an_unknown_customer_raises_unprocessable_entity(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Report deleting someone already deleted as a 422 on id."""
    await client.delete_customer(customer_id=ids.quiet_customer_id)
    with pytest.raises(UnprocessableEntityError) as info:
        await client.delete_customer(customer_id=ids.quiet_customer_id)
    assert info.value.field_errors == {"id": NOT_EXIST}


async def test_list_customer_tickets_returns_them_newest_first(
    connect: ClientFactory, ids: SampleIds
) -> None:
    """List Layla's appointment, cancelled and served tickets, newest first, with a public key."""
    page = await connect(api_key=PUBLIC).list_customer_tickets(external_id=ids.customer_external_id)
    assert [t.id for t in page.items] == [
        ids.upcoming_ticket,
        ids.cancelled_ticket,
        ids.served_ticket,
    ]
    assert [t.status for t in page.items] == ["upcoming", "cancelled", "served"]
    assert (page.total, page.total_pages, page.has_next_page) == (3, 1, False)


async def test_list_customer_tickets_in_arabic_names_them_in_arabic(
    client: SkiplinoClient, ids: SampleIds
) -> None:
    """Localize the embedded names of a customer's tickets."""
    page = await client.list_customer_tickets(customer_id=ids.customer_id, locale="ar")
    assert page.items[0].service.name == "فتح حساب"


async def test_list_tickets_of_an_unknown_customer_raises_unprocessable_entity(
    client: SkiplinoClient,
) -> None:
    """Report an unknown customer as a 422 on externalId."""
    with pytest.raises(UnprocessableEntityError) as info:
        await client.list_customer_tickets(external_id="nobody")
    assert info.value.field_errors == {"externalId": NOT_EXIST}


# -- paging helpers --------------------------------------------------------------------------


async def test_iter_customer_tickets_walks_every_page_newest_first(
    client: SkiplinoClient, ids: SampleIds, sandbox: Sandbox
) -> None:
    """Yield all 12 of Fatima's walk-ins over two pages of 10, newest first."""
    booked = [
        (
            await client.book_ticket(
                service_id=ids.walk_in_service,
                group_of_service_id=ids.walk_in_group,
                customer_id=ids.quiet_customer_id,
            )
        ).id
        for _ in range(12)
    ]
    seen = [t.id async for t in client.iter_customer_tickets(customer_id=ids.quiet_customer_id)]
    assert seen == booked[::-1]
    pages = [r.query for r in sandbox.requests if r.api_path == "/customers/tickets"]
    assert [(q["page"], q["limit"]) for q in pages] == [("1", "10"), ("2", "10")]


async def test_iter_customers_walks_past_one_hundred_customers(
    client: SkiplinoClient, sandbox: Sandbox
) -> None:
    """Yield all 103 customers once each over two pages, even when asked for pages of 500."""
    for number in range(100):
        await client.create_customer(external_id=f"bulk-{number}")
    seen = [c.id async for c in client.iter_customers(limit=500)]
    assert len(seen) == len(set(seen)) == 103
    assert set(seen) == {c.id for c in sandbox.customers}
    pages = [r.query for r in sandbox.requests if r.api_path == "/customers/getAll"]
    assert [(q["page"], q["limit"]) for q in pages] == [("1", "100"), ("2", "100")]
