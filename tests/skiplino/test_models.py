"""The API models read every documented example and hold times as aware UTC."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from bot.skiplino import (
    Branch,
    Customer,
    GeoLocation,
    Page,
    Pagination,
    Service,
    ServiceGroup,
    Slot,
    Ticket,
    TicketStatus,
    TicketType,
    format_utc,
)

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "skiplino-openapi.yaml"

# What the `data` of each operation's success envelope must parse as.
DATA_TYPES: dict[str, Any] = {
    "listBranches": list[Branch],
    "getBranchServiceTree": list[ServiceGroup],
    "getServiceSlots": list[Slot],
    "bookTicket": Ticket,
    "getTicket": Ticket,
    "cancelTicket": Ticket,
    "rescheduleAppointment": Ticket,
    "createCustomer": Customer,
    "listCustomers": list[Customer],
    "getCustomer": Customer,
    "updateCustomer": Customer,
    "deleteCustomer": None,
    "listCustomerTickets": list[Ticket],
}
SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "Branch": Branch,
    "BranchTreeGroup": ServiceGroup,
    "Service": Service,
    "Slot": Slot,
    "Ticket": Ticket,
    "Customer": Customer,
    "Pagination": Pagination,
}


@cache
def _contract() -> dict[str, Any]:
    """Load the OpenAPI contract shipped in docs/."""
    with CONTRACT.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.safe_load(handle)
    return loaded


def _success_examples() -> Iterator[tuple[str, str, Any]]:
    """Yield (operationId, example name, envelope) for every documented 2xx example."""
    for methods in _contract()["paths"].values():
        for operation in methods.values():
            for status, response in operation["responses"].items():
                if not str(status).startswith("2"):
                    continue
                examples = response["content"]["application/json"].get("examples", {})
                for name, example in examples.items():
                    yield operation["operationId"], name, example["value"]


SUCCESS_EXAMPLES = list(_success_examples())


def test_every_operation_of_the_contract_has_a_data_type() -> None:
    assert {operation for operation, _, _ in SUCCESS_EXAMPLES} == set(DATA_TYPES)


@pytest.mark.parametrize(
    ("operation", "envelope"),
    [(operation, envelope) for operation, _, envelope in SUCCESS_EXAMPLES],
    ids=[f"{operation}-{name}" for operation, name, _ in SUCCESS_EXAMPLES],
)
def test_documented_success_examples_parse(operation: str, envelope: dict[str, Any]) -> None:
    data_type = DATA_TYPES[operation]
    if data_type is None:
        assert envelope["data"] is None
        return
    TypeAdapter(data_type).validate_python(envelope["data"])
    if "pagination" in envelope:
        pagination = Pagination.model_validate(envelope["pagination"])
        assert pagination.total >= len(envelope["data"])


@pytest.mark.parametrize(("schema", "model"), list(SCHEMA_MODELS.items()))
def test_documented_schema_examples_parse(schema: str, model: type[BaseModel]) -> None:
    examples = _contract()["components"]["schemas"][schema]["examples"]
    assert examples
    for example in examples:
        model.model_validate(example)


def test_times_with_an_offset_are_held_in_utc() -> None:
    slot = Slot.model_validate({"time": "2026-07-01T12:30:00+03:00", "remaining": 1})
    assert slot.time == datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
    assert slot.time.tzinfo is UTC


def test_a_time_without_a_zone_is_read_as_utc() -> None:
    slot = Slot.model_validate({"time": "2026-07-01T09:30:00", "remaining": 1})
    assert slot.time == datetime(2026, 7, 1, 9, 30, tzinfo=UTC)


def test_format_utc_writes_milliseconds_and_a_trailing_z() -> None:
    moment = datetime(2026, 7, 1, 5, 30, 0, 987654, tzinfo=timezone(timedelta(hours=-4)))
    assert format_utc(moment) == "2026-07-01T09:30:00.987Z"


def test_format_utc_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_utc(datetime(2026, 7, 1, 9, 30))


def test_a_ticket_dumps_back_to_the_api_shape() -> None:
    raw = {
        "id": "k7m2p9x4q1",
        "ticketNumber": "A042",
        "status": "upcoming",
        "statusAt": "2026-06-23T11:05:22.000Z",
        "type": "appointment",
        "time": "2026-07-01T09:30:00.000Z",
        "branch": {"id": "802b33af66", "name": "Seef Mall Branch"},
        "service": {"id": "4b8e2d7c1a", "name": "Account Opening"},
        "groupOfService": {"id": "7c1f9a3b2d", "name": "Teller Services"},
        "customer": {"id": "9f2c8b7a4e1d6c3f0a5b8e2d7c4f1a9b", "name": "Layla Hassan"},
        "bookedAt": "2026-06-23T11:05:22.000Z",
    }
    ticket = Ticket.model_validate(raw)
    dumped = ticket.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped == raw
    assert Ticket.model_validate(dumped) == ticket


@pytest.mark.parametrize(
    ("status", "active", "cancellable"),
    [
        (TicketStatus.WAITING, True, True),
        (TicketStatus.UPCOMING, True, True),
        (TicketStatus.SERVING, True, False),
        (TicketStatus.SERVED, False, False),
        (TicketStatus.CANCELLED, False, False),
        ("no_show", False, False),
    ],
)
def test_ticket_status_decides_what_a_customer_can_still_do(
    status: str, active: bool, cancellable: bool
) -> None:
    ticket = Ticket(
        id="k7m2p9x4q1",
        ticket_number="Q017",
        status=status,
        status_at=datetime(2026, 6, 23, 11, 10, tzinfo=UTC),
        type=TicketType.SEQUENTIAL,
        branch={"id": "802b33af66", "name": "Seef"},
        service={"id": "6fe8fb8b12", "name": "Cash"},
        group_of_service={"id": "7c1f9a3b2d", "name": "Teller"},
        booked_at=datetime(2026, 6, 23, 11, 8, tzinfo=UTC),
    )
    assert (ticket.is_active, ticket.can_cancel) == (active, cancellable)
    assert not ticket.is_appointment


def test_customer_reads_its_id_from_underscore_id_and_ignores_unknown_fields() -> None:
    customer = Customer.model_validate(
        {
            "_id": "9f2c8b7a4e1d6c3f0a5b8e2d7c4f1a9b",
            "companyId": "cmp_5f3a91",
            "createdAt": "2026-06-23T11:00:00.000Z",
            "updatedAt": "2026-06-23T11:00:00.000Z",
            "loyaltyPoints": 12,
        }
    )
    assert customer.id == "9f2c8b7a4e1d6c3f0a5b8e2d7c4f1a9b"
    assert (customer.external_id, customer.name, customer.metadata) == (None, None, None)
    assert "loyaltyPoints" not in customer.model_dump(by_alias=True)


def test_a_location_outside_the_globe_is_refused() -> None:
    with pytest.raises(ValidationError):
        GeoLocation(lat=91, lng=0)
    with pytest.raises(ValidationError):
        GeoLocation(lat=0, lng=-181)


def test_a_page_is_typed_by_its_items() -> None:
    page = Page[Slot].model_validate(
        {
            "items": [{"time": "2026-07-01T09:30:00.000Z", "remaining": 3}],
            "total": 1,
            "totalPages": 1,
            "hasNextPage": False,
            "hasPrevPage": False,
            "page": 1,
            "limit": 10,
        }
    )
    assert isinstance(page.items[0], Slot)
    with pytest.raises(ValidationError):
        Page[Slot].model_validate({**page.model_dump(), "items": [{"remaining": 3}]})


def test_a_customer_without_the_fields_we_never_use_still_parses() -> None:
    customer = Customer.model_validate({"_id": "9f2c8b7a4e1d6c3f0a5b8e2d7c4f1a9b", "name": "Layla"})

    assert customer.id == "9f2c8b7a4e1d6c3f0a5b8e2d7c4f1a9b"
    assert customer.company_id is None
    assert customer.created_at is None
