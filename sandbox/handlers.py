"""Own the 13 operations of the Skiplino external v1 API as synchronous functions on the world.

Each handler validates its input, applies the rules of NOTES.md and returns a ``Reply``
(status + JSON envelope). Handlers never await, so every check-then-write is atomic on the
event loop: concurrent bookings of the last place cannot overbook. Strings here are API data
(the real API's wording where documented), not user-facing bot text.
Must not import bot, conversations or telegram.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sandbox.state import (
    APPOINTMENT,
    CANCELLED,
    UPCOMING,
    WAITING,
    CustomerRecord,
    LocalizedName,
    TicketRecord,
    World,
)

# Success messages, verbatim from NOTES.md section 4. The three that were not recovered
# (branches, tree, slots) follow the naming pattern of the others, as the openapi examples do.
MSG_BRANCHES = "Branches fetched successfully."
MSG_TREE = "Branch tree fetched successfully."
MSG_SLOTS = "Slots fetched successfully."
MSG_BOOKED_APPOINTMENT = "Appointment booked successfully."
MSG_BOOKED_WALK_IN = "Ticket booked successfully."
MSG_TICKET = "Ticket fetched successfully."
MSG_CANCELLED = "Ticket cancelled successfully."
MSG_RESCHEDULED = "Ticket updated successfully."
MSG_CUSTOMER_CREATED = "Customer created successfully."
MSG_CUSTOMERS = "Customers fetched successfully."
MSG_CUSTOMER = "Customer fetched successfully."
MSG_CUSTOMER_UPDATED = "Customer updated successfully."
MSG_CUSTOMER_DELETED = "Customer deleted successfully."
MSG_CUSTOMER_TICKETS = "Customer tickets fetched successfully."

# Error envelopes. The documented strings are kept verbatim; the rest follow the openapi examples.
MSG_INVALID = "The given data was invalid."
MSG_UNAUTHORIZED = "Unauthorized."
MSG_BOOK_FAILED = "Unable to book the ticket."
MSG_NOT_CANCELLABLE = "This ticket can no longer be cancelled."
MSG_SERVER_ERROR = "Something went wrong."
ERR_BAD_KEY = "Invalid or missing API key."
ERR_SECRET_ONLY = "This operation requires a secret key."
ERR_SERVER = "Internal server error."

REQUIRED = "This field is required."
NOT_EXIST = "This value does not exist."
TAKEN = "This value is already taken."
BAD_SHORT_ID = "This value must be a 10-character alphanumeric id."
BAD_CUSTOMER_ID = "This value must be a 32-character hexadecimal id."
NOT_STRING = "This value must be a string."
NOT_OBJECT = "This value must be an object."
BAD_EMAIL = "This value must be a valid email address."
BAD_BODY = "The request body must be a JSON object."
NOT_APPOINTMENT = "This service does not support appointment booking."
WRONG_GROUP = "This service does not belong to this group."
NOT_UTC = "The time must be a UTC ISO-8601 date-time ending in Z."
NOT_FUTURE = "The time must be in the future."
SLOT_GONE = "This slot is no longer available."
DATE_FORMAT = "The date must be a date in YYYY-MM-DD format."
DATE_PAST = "The date must be today or later."
ONE_CUSTOMER = "Exactly one of customerId or customerExternalId is required."
BOTH_CUSTOMERS = "Send only one of customerId or customerExternalId."
NOT_OWNER = "This customer does not own this ticket."
NOT_RESCHEDULABLE = "This ticket cannot be rescheduled."
LOCATOR = "Either id or externalId is required."
BAD_PAGE = "The page must be an integer of at least 1."
BAD_LOCATION = "The location needs lat between -90 and 90 and lng between -180 and 180."

# The 400 reason of a failed booking is the one string the docs say is localized.
CLOSED_BRANCH = LocalizedName("The branch is currently closed.", "الفرع مغلق حالياً.")
CLOSED_SERVICE = LocalizedName("The service is currently closed.", "الخدمة مغلقة حالياً.")

SHORT_ID = re.compile(r"[A-Za-z0-9]{10}")
CUSTOMER_ID = re.compile(r"[0-9a-fA-F]{32}")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
INTEGER = re.compile(r"-?\d+")

CUSTOMERS_MAX_LIMIT = 100
CUSTOMER_TICKETS_MAX_LIMIT = 10
DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class Reply:
    """An HTTP status and its JSON body."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Call:
    """What a handler needs from the request, already authenticated."""

    now: datetime
    locale: str  # "en" or "ar"
    path: Mapping[str, str]
    query: Mapping[str, str]
    body: Any = None


Handler = Callable[[World, Call], Reply]


def ok(message: str, data: Any, status: int = 200) -> Reply:
    """Return a success envelope."""
    return Reply(status, {"message": message, "data": data})


def invalid(errors: Mapping[str, str]) -> Reply:
    """Return a 422 envelope keyed by input name."""
    return Reply(422, {"message": MSG_INVALID, "error": dict(errors)})


def failure(status: int, message: str, error: str | None) -> Reply:
    """Return a non-validation error envelope."""
    return Reply(status, {"message": message, "error": error})


def unauthorized(secret_only: bool = False) -> Reply:
    """Return the 401 envelope."""
    return failure(401, MSG_UNAUTHORIZED, ERR_SECRET_ONLY if secret_only else ERR_BAD_KEY)


def server_error() -> Reply:
    """Return the 500 envelope."""
    return failure(500, MSG_SERVER_ERROR, ERR_SERVER)


# -- rendering --------------------------------------------------------------------------------


def iso(value: datetime) -> str:
    """Format an instant as UTC ISO-8601 with milliseconds and a trailing Z."""
    moment = value.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def render_ticket(world: World, ticket: TicketRecord, locale: str) -> dict[str, Any]:
    """Return the API shape of a ticket; queueSize/waitingTime only while waiting."""
    branch = world.any_branch(ticket.branch_id)
    service = world.any_service(ticket.service_id)
    group = world.any_group(ticket.group_id)
    customer: dict[str, str] | None = None
    if ticket.customer_id is not None:
        record = world.customer_by_id(ticket.customer_id)
        name = record.name if record is not None else ticket.customer_name
        customer = {"id": ticket.customer_id, "name": name or ""}
    data: dict[str, Any] = {
        "id": ticket.id,
        "ticketNumber": ticket.number,
        "status": ticket.status,
        "statusAt": iso(ticket.status_at),
        "type": ticket.type,
        "time": iso(ticket.time) if ticket.time is not None else None,
        "branch": {"id": branch.id, "name": branch.name.get(locale)},
        "service": {"id": service.id, "name": service.name.get(locale)},
        "groupOfService": {"id": group.id, "name": group.name.get(locale)},
        # The docs leave a walk-in without customer open; the sandbox sends customer: null.
        "customer": customer,
        "bookedAt": iso(ticket.booked_at),
    }
    if ticket.status == WAITING:
        ahead = world.people_ahead(ticket)
        data["queueSize"] = ahead
        data["waitingTime"] = world.waiting_minutes(ahead)
    return data


def render_customer(customer: CustomerRecord) -> dict[str, Any]:
    """Return the API shape of a customer; unset optional fields are absent."""
    data: dict[str, Any] = {"_id": customer.id}
    if customer.external_id is not None:
        data["externalId"] = customer.external_id
    data["companyId"] = customer.company_id
    optional = (
        ("name", customer.name),
        ("email", customer.email),
        ("mobile", customer.mobile),
        ("metadata", customer.metadata),
    )
    for key, value in optional:
        if value is not None:
            data[key] = value
    data["createdAt"] = iso(customer.created_at)
    data["updatedAt"] = iso(customer.updated_at)
    return data


def paginate(items: list[Any], page: int, limit: int) -> tuple[list[Any], dict[str, Any]]:
    """Cut one page out of ``items`` and describe it."""
    total = len(items)
    # totalPages is 1 for an empty list, as mongoose-paginate (whose field names the API
    # mirrors) reports it; the docs leave 0-vs-1 open.
    total_pages = max(1, math.ceil(total / limit))
    start = (page - 1) * limit
    meta = {
        "total": total,
        "page": page,
        "limit": limit,
        "totalPages": total_pages,
        "hasNextPage": page < total_pages,
        "hasPrevPage": page > 1,
    }
    return items[start : start + limit], meta


# -- input checks -----------------------------------------------------------------------------


def parse_utc_time(value: object) -> datetime | None:
    """Return the instant of a UTC ISO-8601 date-time ending in Z, or None."""
    if not isinstance(value, str) or not value.endswith("Z") or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def _future_time(value: object, now: datetime, errors: dict[str, str]) -> datetime | None:
    """Return a future UTC-Z instant from input ``time``, adding an error otherwise."""
    parsed = parse_utc_time(value)
    if parsed is None:
        errors["time"] = NOT_UTC
        return None
    if parsed <= now:
        errors["time"] = NOT_FUTURE
        return None
    return parsed


def _query_int(query: Mapping[str, str], name: str, default: int) -> int | None:
    """Return an integer query value, the default when absent, None when malformed."""
    raw = query.get(name)
    if raw is None or raw.strip() == "":
        return default
    if not INTEGER.fullmatch(raw.strip()):
        return None
    return int(raw)


def _paging(query: Mapping[str, str], max_limit: int, errors: dict[str, str]) -> tuple[int, int]:
    """Read ``page`` and ``limit`` from the query, adding errors for values out of range."""
    page = _query_int(query, "page", 1)
    limit = _query_int(query, "limit", DEFAULT_LIMIT)
    if page is None or page < 1:
        errors["page"] = BAD_PAGE
    if limit is None or not 1 <= limit <= max_limit:
        errors["limit"] = f"The limit must be between 1 and {max_limit}."
    return page or 1, limit or DEFAULT_LIMIT


def _short_id(value: object, name: str, errors: dict[str, str]) -> str | None:
    """Return a well-formed 10-character id from input ``name``, adding an error otherwise."""
    if value is None or value == "":
        errors[name] = REQUIRED
        return None
    if not isinstance(value, str) or not SHORT_ID.fullmatch(value):
        errors[name] = BAD_SHORT_ID
        return None
    return value


def _given(value: object) -> bool:
    """Tell whether an optional input was really sent (null and "" count as not sent)."""
    return value is not None and value != ""


def _locate_customer(
    world: World, source: Mapping[str, Any], errors: dict[str, str]
) -> CustomerRecord | None:
    """Find a customer by ``id`` (which wins when both are given) or by ``externalId``."""
    customer_id = source.get("id")
    external_id = source.get("externalId")
    if _given(customer_id):
        if not isinstance(customer_id, str) or not CUSTOMER_ID.fullmatch(customer_id):
            errors["id"] = BAD_CUSTOMER_ID
            return None
        found = world.customer_by_id(customer_id.lower())
        if found is None:
            errors["id"] = NOT_EXIST
        return found
    if _given(external_id):
        if not isinstance(external_id, str):
            errors["externalId"] = NOT_STRING
            return None
        found = world.customer_by_external_id(external_id)
        if found is None:
            errors["externalId"] = NOT_EXIST
        return found
    errors["id"] = LOCATOR
    return None


def _customer_reference(
    world: World, body: Mapping[str, Any], errors: dict[str, str], *, required: bool
) -> tuple[CustomerRecord | None, str]:
    """Resolve exactly one of customerId / customerExternalId; return it and its input name."""
    by_id = _given(body.get("customerId"))
    by_external = _given(body.get("customerExternalId"))
    if by_id and by_external:
        errors["customerId"] = BOTH_CUSTOMERS
        return None, "customerId"
    if not by_id and not by_external:
        if required:
            errors["customerId"] = ONE_CUSTOMER
        return None, "customerId"
    if by_id:
        value = body["customerId"]
        if not isinstance(value, str) or not CUSTOMER_ID.fullmatch(value):
            errors["customerId"] = BAD_CUSTOMER_ID
            return None, "customerId"
        found = world.customer_by_id(value.lower())
        name = "customerId"
    else:
        value = body["customerExternalId"]
        if not isinstance(value, str):
            errors["customerExternalId"] = NOT_STRING
            return None, "customerExternalId"
        found = world.customer_by_external_id(value)
        name = "customerExternalId"
    if found is None:
        errors[name] = NOT_EXIST
    return found, name


def _check_location(value: object, errors: dict[str, str]) -> None:
    """Require both coordinates within WGS84 ranges when ``location`` is sent."""
    if value is None:
        return
    if not isinstance(value, dict):
        errors["location"] = BAD_LOCATION
        return
    lat, lng = value.get("lat"), value.get("lng")
    for coordinate, bound in ((lat, 90), (lng, 180)):
        if (
            isinstance(coordinate, bool)
            or not isinstance(coordinate, int | float)
            or not -bound <= coordinate <= bound
        ):
            errors["location"] = BAD_LOCATION
            return


# -- branches and services --------------------------------------------------------------------


def list_branches(world: World, call: Call) -> Reply:
    """Answer GET /branches: active branches with their open flag, names localized."""
    data = [
        {
            "id": branch.id,
            "name": branch.name.get(call.locale),
            "branchStatus": {"isBranchOpen": branch.is_open},
        }
        for branch in world.active_branches()
    ]
    return ok(MSG_BRANCHES, data)


def branch_tree(world: World, call: Call) -> Reply:
    """Answer GET /branches/{branchId}/tree: active service groups with their active services."""
    errors: dict[str, str] = {}
    branch_id = _short_id(call.path["branchId"], "branchId", errors)
    branch = world.branch(branch_id) if branch_id else None
    if branch is None:
        # The docs give no status for a foreign/unknown branch; 422 follows the API-wide
        # pattern of validating identifiers for existence.
        errors.setdefault("branchId", NOT_EXIST)
        return invalid(errors)
    data = []
    for group in branch.groups:
        if not group.active or group.kind != "service":
            continue
        services = [
            {
                "id": service.id,
                "name": service.name.get(call.locale),
                "isOpen": branch.is_open and service.is_open,
                "isAppointment": service.is_appointment,
            }
            for service in group.services
            if service.active
        ]
        if services:
            data.append({"id": group.id, "name": group.name.get(call.locale), "services": services})
    return ok(MSG_TREE, data)


def service_slots(world: World, call: Call) -> Reply:
    """Answer GET /services/{id}/slots: free slots of one day (default today, company time)."""
    errors: dict[str, str] = {}
    service_id = _short_id(call.path["id"], "id", errors)
    service = world.service(service_id) if service_id else None
    if service_id and service is None:
        errors["id"] = NOT_EXIST
    elif service is not None and not service.is_appointment:
        errors["id"] = NOT_APPOINTMENT
    day = world.today(call.now)
    raw_date = call.query.get("date")
    if raw_date:
        try:
            if not ISO_DATE.fullmatch(raw_date):
                raise ValueError(raw_date)
            day = date.fromisoformat(raw_date)
        except ValueError:
            errors["date"] = DATE_FORMAT
        else:
            if day < world.today(call.now):
                errors["date"] = DATE_PAST
    if errors or service is None:
        return invalid(errors)
    # Full slots (remaining 0) are left out: the docs describe the list as the bookable slots
    # and an empty array as "nothing free that day", so a 0 entry would offer nothing.
    data = [
        {"time": iso(instant), "remaining": left}
        for instant, left in world.free_slots(service, day, call.now)
    ]
    return ok(MSG_SLOTS, data)


# -- tickets ----------------------------------------------------------------------------------


def book_ticket(world: World, call: Call) -> Reply:
    """Answer POST /tickets/book: a walk-in without ``time``, an appointment with it."""
    body: dict[str, Any] = call.body
    errors: dict[str, str] = {}
    service_id = _short_id(body.get("serviceId"), "serviceId", errors)
    group_id = _short_id(body.get("groupOfServiceId"), "groupOfServiceId", errors)
    service = world.service(service_id) if service_id else None
    group = world.group(group_id) if group_id else None
    if service_id and service is None:
        errors["serviceId"] = NOT_EXIST
    if group_id and group is None:
        errors["groupOfServiceId"] = NOT_EXIST
    if service is not None and group is not None and service.group_id != group.id:
        errors["groupOfServiceId"] = WRONG_GROUP

    appointment = _given(body.get("time"))
    instant = _future_time(body["time"], call.now, errors) if appointment else None
    # Exactly one reference is required for appointments; a walk-in may omit it, but sending
    # both is as ambiguous there as anywhere, so it is rejected too.
    customer, _ = _customer_reference(world, body, errors, required=appointment)
    _check_location(body.get("location"), errors)
    if body.get("options") is not None and not isinstance(body.get("options"), dict):
        errors["options"] = NOT_OBJECT

    if appointment and service is not None:
        if not service.is_appointment:
            errors["serviceId"] = NOT_APPOINTMENT
        elif instant is not None and (
            not world.is_offered(service, instant, call.now)
            or world.remaining(service, instant) <= 0
        ):
            # A time that is not an offered slot, or a slot filled meanwhile, is a validation
            # failure of the input `time` (422), like every other "does this value exist" check;
            # 400 stays reserved for the documented closed-branch/service business rule.
            errors["time"] = SLOT_GONE
    if errors or service is None:
        return invalid(errors)

    branch = world.any_branch(service.branch_id)
    if not branch.is_open:
        return failure(400, MSG_BOOK_FAILED, CLOSED_BRANCH.get(call.locale))
    if not service.is_open:
        return failure(400, MSG_BOOK_FAILED, CLOSED_SERVICE.get(call.locale))

    status = UPCOMING if appointment else WAITING
    ticket = world.add_ticket(service, status, at=call.now, customer=customer, time=instant)
    message = MSG_BOOKED_APPOINTMENT if appointment else MSG_BOOKED_WALK_IN
    return ok(message, render_ticket(world, ticket, call.locale), status=201)


def _path_ticket(world: World, call: Call, errors: dict[str, str]) -> TicketRecord | None:
    """Resolve the path ``id`` to a ticket, adding a 422 error when malformed or unknown."""
    ticket_id = _short_id(call.path["id"], "id", errors)
    if ticket_id is None:
        return None
    ticket = world.ticket(ticket_id)
    if ticket is None:
        # Unknown ids are validation failures (422), the API-wide pattern the docs state for
        # customers; "Ticket not found." 404 is kept for "resolved, then gone".
        errors["id"] = NOT_EXIST
    return ticket


def get_ticket(world: World, call: Call) -> Reply:
    """Answer GET /tickets/{id}: the ticket, with queue position while waiting."""
    errors: dict[str, str] = {}
    ticket = _path_ticket(world, call, errors)
    if ticket is None:
        return invalid(errors)
    return ok(MSG_TICKET, render_ticket(world, ticket, call.locale))


def cancel_ticket(world: World, call: Call) -> Reply:
    """Answer POST /tickets/{id}/cancel: only waiting or upcoming tickets, else 409."""
    errors: dict[str, str] = {}
    ticket = _path_ticket(world, call, errors)
    if ticket is None:
        return invalid(errors)
    if ticket.status not in (WAITING, UPCOMING):
        return failure(409, MSG_NOT_CANCELLABLE, MSG_NOT_CANCELLABLE)
    world.set_status(ticket, CANCELLED, call.now)
    return ok(MSG_CANCELLED, render_ticket(world, ticket, call.locale))


def change_time(world: World, call: Call) -> Reply:
    """Answer POST /tickets/{id}/change-time: move the customer's own appointment to a free slot."""
    body: dict[str, Any] = call.body
    errors: dict[str, str] = {}
    ticket = _path_ticket(world, call, errors)
    # The docs contradict themselves: the reschedule page wants a `waiting` appointment while
    # a booked appointment is `upcoming` (NOTES.md gap 2). Both are accepted, so a client can
    # move an appointment it has just booked as well as one that has turned waiting.
    service = world.service(ticket.service_id) if ticket is not None else None
    if ticket is not None and (
        ticket.type != APPOINTMENT or ticket.status not in (UPCOMING, WAITING) or service is None
    ):
        errors["id"] = NOT_RESCHEDULABLE
    instant = None
    if not _given(body.get("time")):
        errors["time"] = REQUIRED
    else:
        instant = _future_time(body["time"], call.now, errors)
    customer, field = _customer_reference(world, body, errors, required=True)
    if customer is not None and ticket is not None and customer.id != ticket.customer_id:
        # The docs only say the customer must exist; only the ticket's own customer may move
        # it, so one customer cannot reschedule another's appointment.
        errors[field] = NOT_OWNER
    if (
        "id" not in errors
        and ticket is not None
        and service is not None
        and instant is not None
        and (
            not world.is_offered(service, instant, call.now)
            or world.remaining(service, instant, excluding=ticket) <= 0
        )
    ):
        # The docs do not say the new time must be a free slot; a careful server would not
        # overbook, so the same rule as booking applies (the ticket's own place counts free).
        errors["time"] = SLOT_GONE
    if errors or ticket is None or instant is None:
        return invalid(errors)
    ticket.time = instant
    if ticket.status != UPCOMING:
        # A waiting appointment moved to a future time leaves the queue until that time.
        world.set_status(ticket, UPCOMING, call.now)
        ticket.queued_at = None
    return ok(MSG_RESCHEDULED, render_ticket(world, ticket, call.locale))


# -- customers --------------------------------------------------------------------------------

_TEXT_FIELDS = ("externalId", "name", "email", "mobile")
_ATTRIBUTES = {"externalId": "external_id", "name": "name", "email": "email", "mobile": "mobile"}


def _customer_fields(body: Mapping[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """Validate the writable customer fields present in ``body``; empty values mean unset."""
    values: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        if name not in body:
            continue
        value = body[name]
        if value is None or value == "":
            values[name] = None
        elif not isinstance(value, str):
            errors[name] = NOT_STRING
        elif name == "email" and not EMAIL.fullmatch(value):
            errors[name] = BAD_EMAIL
        else:
            values[name] = value
    if "metadata" in body:
        metadata = body["metadata"]
        if metadata is None or metadata == {}:
            values["metadata"] = None
        elif not isinstance(metadata, dict):
            errors["metadata"] = NOT_OBJECT
        else:
            values["metadata"] = dict(metadata)
    return values


def _apply(customer: CustomerRecord, values: Mapping[str, Any]) -> None:
    """Write validated field values onto a customer."""
    for name, value in values.items():
        if name == "metadata":
            # metadata replaces the stored object as a whole (no merge), as documented.
            customer.metadata = value
        else:
            setattr(customer, _ATTRIBUTES[name], value)


def create_customer(world: World, call: Call) -> Reply:
    """Answer POST /customers/create: every field optional; a taken externalId gives 422."""
    body: dict[str, Any] = call.body
    errors: dict[str, str] = {}
    values = _customer_fields(body, errors)
    external_id = values.get("externalId")
    if external_id is not None and world.customer_by_external_id(external_id) is not None:
        errors["externalId"] = TAKEN
    if errors:
        return invalid(errors)
    customer = CustomerRecord(
        id=world.new_customer_id(),
        company_id=world.company_id,
        created_at=call.now,
        updated_at=call.now,
        seq=world.next_seq(),
    )
    _apply(customer, values)
    world.customers.append(customer)
    return ok(MSG_CUSTOMER_CREATED, render_customer(customer), status=201)


def list_customers(world: World, call: Call) -> Reply:
    """Answer GET /customers/getAll: newest first, page >= 1, limit 1-100."""
    errors: dict[str, str] = {}
    page, limit = _paging(call.query, CUSTOMERS_MAX_LIMIT, errors)
    if errors:
        return invalid(errors)
    # "newest-insertion order" is read as newest first, like the customer-tickets list.
    newest_first = sorted(world.customers, key=lambda c: (c.created_at, c.seq), reverse=True)
    items, meta = paginate(newest_first, page, limit)
    data = [render_customer(c) for c in items]
    return Reply(200, {"message": MSG_CUSTOMERS, "data": data, "pagination": meta})


def get_customer(world: World, call: Call) -> Reply:
    """Answer GET /customers/getOne: by id (wins) or externalId; unknown gives 422, not 404."""
    errors: dict[str, str] = {}
    customer = _locate_customer(world, call.query, errors)
    if customer is None:
        return invalid(errors)
    return ok(MSG_CUSTOMER, render_customer(customer))


def update_customer(world: World, call: Call) -> Reply:
    """Answer PUT /customers/update: partial update located by body id or externalId."""
    body: dict[str, Any] = call.body
    errors: dict[str, str] = {}
    by_id = _given(body.get("id"))
    customer = _locate_customer(world, body, errors)
    values = _customer_fields(body, errors)
    if not by_id:
        # Located by externalId: the value is the locator, not a change.
        values.pop("externalId", None)
    new_external = values.get("externalId")
    if customer is not None and new_external is not None:
        holder = world.customer_by_external_id(new_external)
        if holder is not None and holder is not customer:
            errors["externalId"] = TAKEN
    if errors or customer is None:
        return invalid(errors)
    _apply(customer, values)
    customer.updated_at = call.now
    return ok(MSG_CUSTOMER_UPDATED, render_customer(customer))


def delete_customer(world: World, call: Call) -> Reply:
    """Answer DELETE /customers/delete: hard delete, 200 with data null; tickets are kept."""
    errors: dict[str, str] = {}
    customer = _locate_customer(world, call.query, errors)
    if customer is None:
        return invalid(errors)
    world.customers.remove(customer)
    return ok(MSG_CUSTOMER_DELETED, None)


def customer_tickets(world: World, call: Call) -> Reply:
    """Answer GET /customers/tickets: the customer's tickets, newest first, limit 1-10."""
    errors: dict[str, str] = {}
    customer = _locate_customer(world, call.query, errors)
    page, limit = _paging(call.query, CUSTOMER_TICKETS_MAX_LIMIT, errors)
    if errors or customer is None:
        return invalid(errors)
    mine = [t for t in world.tickets if t.customer_id == customer.id]
    mine.sort(key=lambda t: (t.booked_at, t.seq), reverse=True)
    items, meta = paginate(mine, page, limit)
    data = [render_ticket(world, t, call.locale) for t in items]
    return Reply(200, {"message": MSG_CUSTOMER_TICKETS, "data": data, "pagination": meta})
