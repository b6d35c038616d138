"""POST /tickets/book: walk-ins and appointments, validation (422) and business rules (400)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from sandbox import SampleIds, Sandbox
from tests.sandbox.conftest import ClientFactory, FakeClock
from tests.sandbox.helpers import TODAY, TOMORROW, data, error, slot

TEN = slot(TOMORROW, 10)
NINE_THIRTY = slot(TOMORROW, 9, 30)


def walk_in(ids: SampleIds, **extra: Any) -> dict[str, Any]:
    """Return a walk-in body for Cash Withdrawal at Seef Mall."""
    return {"serviceId": ids.walk_in_service, "groupOfServiceId": ids.walk_in_group, **extra}


def appointment(ids: SampleIds, time: Any = NINE_THIRTY, **extra: Any) -> dict[str, Any]:
    """Return an appointment body for Account Opening at Seef Mall, for Layla."""
    body = {
        "serviceId": ids.appointment_service,
        "groupOfServiceId": ids.appointment_group,
        "time": time,
        "customerId": ids.customer_id,
    }
    return {**body, **extra}


async def remaining_at(client: httpx.AsyncClient, service: str, time: str) -> int:
    """Return the free places the slots endpoint shows for ``time`` (0 when left out)."""
    day = time[:10]
    slots = data(await client.get(f"/services/{service}/slots", params={"date": day}))
    return next((s["remaining"] for s in slots if s["time"] == time), 0)


async def test_walk_in_without_customer_joins_the_end_of_the_queue(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.post("/tickets/book", json=walk_in(ids))

    assert response.status_code == 201
    assert response.json()["message"] == "Ticket booked successfully."
    ticket = data(response)
    assert re.fullmatch(r"[a-z0-9]{10}", ticket["id"])
    assert re.fullmatch(r"Q\d{3}", ticket["ticketNumber"])
    assert ticket["status"] == "waiting"
    assert ticket["type"] == "sequential"
    assert ticket["time"] is None
    assert ticket["customer"] is None
    assert ticket["branch"] == {"id": ids.open_branch, "name": "Seef Mall Branch"}
    assert ticket["groupOfService"] == {"id": ids.walk_in_group, "name": "Teller Services"}
    assert ticket["bookedAt"] == ticket["statusAt"] == "2026-07-01T06:00:00.000Z"
    assert ticket["queueSize"] == 5  # five people already wait at Cash Withdrawal
    assert ticket["waitingTime"] == 15  # one ticket served every 3 minutes


async def test_consecutive_walk_ins_get_increasing_numbers_and_positions(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    first = data(await api.post("/tickets/book", json=walk_in(ids)))
    second = data(await api.post("/tickets/book", json=walk_in(ids)))

    assert int(second["ticketNumber"][1:]) == int(first["ticketNumber"][1:]) + 1
    assert second["queueSize"] == first["queueSize"] + 1


async def test_walk_in_with_a_customer_shows_up_in_the_customers_tickets(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.post(
        "/tickets/book", json=walk_in(ids, customerExternalId=ids.customer_external_id)
    )
    mine = await api.get("/customers/tickets", params={"id": ids.customer_id})

    assert response.status_code == 201
    assert data(response)["customer"] == {"id": ids.customer_id, "name": "Layla Hassan"}
    assert data(mine)[0]["id"] == data(response)["id"]


async def test_walk_in_on_an_appointment_service_is_allowed(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    body = {"serviceId": ids.appointment_service, "groupOfServiceId": ids.appointment_group}

    response = await api.post("/tickets/book", json=body)

    assert response.status_code == 201
    assert data(response)["type"] == "sequential"


async def test_walk_in_with_both_customer_references_is_422(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    body = walk_in(ids, customerId=ids.customer_id, customerExternalId="crm-7741")

    response = await api.post("/tickets/book", json=body)

    assert response.status_code == 422
    assert "customerId" in error(response)


async def test_walk_in_with_an_unknown_customer_is_422_on_that_reference(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.post("/tickets/book", json=walk_in(ids, customerExternalId="crm-0000"))

    assert response.status_code == 422
    assert error(response) == {"customerExternalId": "This value does not exist."}


async def test_appointment_is_booked_upcoming_without_queue_fields(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    before = await remaining_at(api, ids.appointment_service, NINE_THIRTY)

    response = await api.post("/tickets/book", json=appointment(ids))

    assert response.status_code == 201
    assert response.json()["message"] == "Appointment booked successfully."
    ticket = data(response)
    assert ticket["status"] == "upcoming"
    assert ticket["type"] == "appointment"
    assert ticket["time"] == NINE_THIRTY
    assert re.fullmatch(r"A\d{3}", ticket["ticketNumber"])
    assert ticket["customer"] == {"id": ids.customer_id, "name": "Layla Hassan"}
    assert "queueSize" not in ticket
    assert "waitingTime" not in ticket
    assert await remaining_at(api, ids.appointment_service, NINE_THIRTY) == before - 1


async def test_appointment_by_external_id_with_location_and_options(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    body = appointment(ids, location={"lat": 26.2361, "lng": 50.5436})
    body.pop("customerId")
    body["customerExternalId"] = "crm-7742"
    body["options"] = {"accountType": "savings"}

    response = await api.post("/tickets/book", json=body)

    assert response.status_code == 201
    assert data(response)["customer"]["name"] == "Ahmed Al Mahmood"


async def test_appointment_without_a_customer_is_422(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    body = appointment(ids)
    body.pop("customerId")

    response = await api.post("/tickets/book", json=body)

    assert response.status_code == 422
    assert error(response) == {
        "customerId": "Exactly one of customerId or customerExternalId is required."
    }


async def test_appointment_with_both_customer_references_is_422(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.post(
        "/tickets/book", json=appointment(ids, customerExternalId=ids.customer_external_id)
    )

    assert response.status_code == 422
    assert error(response) == {"customerId": "Send only one of customerId or customerExternalId."}


@pytest.mark.parametrize(
    ("customer", "field", "message"),
    [
        ({"customerId": "0" * 32}, "customerId", "This value does not exist."),
        (
            {"customerId": "not-hex"},
            "customerId",
            "This value must be a 32-character hexadecimal id.",
        ),
        ({"customerExternalId": "crm-0000"}, "customerExternalId", "This value does not exist."),
    ],
)
async def test_appointment_for_an_unknown_customer_is_422(
    api: httpx.AsyncClient,
    ids: SampleIds,
    customer: dict[str, str],
    field: str,
    message: str,
) -> None:
    body = appointment(ids)
    body.pop("customerId")

    response = await api.post("/tickets/book", json={**body, **customer})

    assert response.status_code == 422
    assert error(response) == {field: message}


@pytest.mark.parametrize(
    "time",
    [
        "2026-07-02T09:30:00+03:00",  # right instant, but not UTC-Z
        "2026-07-02T06:30:00.000",  # no zone at all
        "2026-07-02 06:30:00Z",  # not ISO date-time
        "tomorrow at 9:30",
        1_782_000_000,
    ],
)
async def test_appointment_time_must_be_utc_with_a_trailing_z(
    api: httpx.AsyncClient, ids: SampleIds, time: object
) -> None:
    response = await api.post("/tickets/book", json=appointment(ids, time=time))

    assert response.status_code == 422
    assert error(response) == {"time": "The time must be a UTC ISO-8601 date-time ending in Z."}


async def test_appointment_time_in_the_past_is_422(api: httpx.AsyncClient, ids: SampleIds) -> None:
    response = await api.post("/tickets/book", json=appointment(ids, time=slot(TODAY, 8, 30)))

    assert response.status_code == 422
    assert error(response) == {"time": "The time must be in the future."}


@pytest.mark.parametrize(
    "time",
    [
        "2026-07-02T06:10:00.000Z",  # between slots
        slot(TOMORROW, 16),  # after the last slot
        slot(TOMORROW, 7, 30),  # before the first slot
        slot(TODAY.replace(day=20), 10),  # beyond the 14 offered days
    ],
)
async def test_appointment_at_a_time_that_is_not_an_offered_slot_is_422(
    api: httpx.AsyncClient, ids: SampleIds, time: str
) -> None:
    response = await api.post("/tickets/book", json=appointment(ids, time=time))

    assert response.status_code == 422
    assert error(response) == {"time": "This slot is no longer available."}


async def test_appointment_in_a_full_slot_is_422(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    sandbox.fill_slot(ids.appointment_service, NINE_THIRTY)

    response = await api.post("/tickets/book", json=appointment(ids))

    assert response.status_code == 422
    assert error(response) == {"time": "This slot is no longer available."}


async def test_the_slot_time_without_milliseconds_is_the_same_slot(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.post(
        "/tickets/book", json=appointment(ids, time=NINE_THIRTY.replace(".000Z", "Z"))
    )

    assert response.status_code == 201
    assert data(response)["time"] == NINE_THIRTY


async def test_appointment_on_a_walk_in_only_service_is_422(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    body = walk_in(ids, time=NINE_THIRTY, customerId=ids.customer_id)

    response = await api.post("/tickets/book", json=body)

    assert response.status_code == 422
    assert error(response) == {"serviceId": "This service does not support appointment booking."}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {},
            {"serviceId": "This field is required.", "groupOfServiceId": "This field is required."},
        ),
        (
            {"serviceId": "zzzzzzzzzz", "groupOfServiceId": "yyyyyyyyyy"},
            {
                "serviceId": "This value does not exist.",
                "groupOfServiceId": "This value does not exist.",
            },
        ),
        (
            {"serviceId": "bad", "groupOfServiceId": 12},
            {
                "serviceId": "This value must be a 10-character alphanumeric id.",
                "groupOfServiceId": "This value must be a 10-character alphanumeric id.",
            },
        ),
    ],
)
async def test_booking_needs_an_existing_service_and_group(
    api: httpx.AsyncClient, body: dict[str, Any], expected: dict[str, str]
) -> None:
    response = await api.post("/tickets/book", json=body)

    assert response.status_code == 422
    assert response.json()["message"] == "The given data was invalid."
    assert error(response) == expected


async def test_booking_a_service_with_another_group_is_422(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    body = {"serviceId": ids.walk_in_service, "groupOfServiceId": ids.appointment_group}

    response = await api.post("/tickets/book", json=body)

    assert response.status_code == 422
    assert error(response) == {"groupOfServiceId": "This service does not belong to this group."}


async def test_booking_an_inactive_service_is_422(api: httpx.AsyncClient, ids: SampleIds) -> None:
    body = {"serviceId": ids.inactive_service, "groupOfServiceId": ids.appointment_group}

    response = await api.post("/tickets/book", json=body)

    assert response.status_code == 422
    assert error(response) == {"serviceId": "This value does not exist."}


@pytest.mark.parametrize(
    "location", [{"lat": 91, "lng": 50}, {"lat": 26}, {"lat": "26", "lng": 50}, [26, 50]]
)
async def test_booking_with_an_invalid_location_is_422(
    api: httpx.AsyncClient, ids: SampleIds, location: object
) -> None:
    response = await api.post("/tickets/book", json=walk_in(ids, location=location))

    assert response.status_code == 422
    assert set(error(response)) == {"location"}


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"text"'])
async def test_booking_with_a_body_that_is_not_a_json_object_is_422(
    api: httpx.AsyncClient, content: bytes
) -> None:
    response = await api.post(
        "/tickets/book", content=content, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert error(response) == {"body": "The request body must be a JSON object."}


@pytest.mark.parametrize(
    ("locale", "reason"),
    [(None, "The branch is currently closed."), ("ar", "الفرع مغلق حالياً.")],
)
async def test_booking_at_a_closed_branch_is_400_with_a_localized_reason(
    connect: ClientFactory, ids: SampleIds, locale: str | None, reason: str
) -> None:
    body = {"serviceId": ids.closed_branch_service, "groupOfServiceId": ids.closed_branch_group}

    response = await connect(locale=locale).post("/tickets/book", json=body)

    assert response.status_code == 400
    assert response.json() == {"message": "Unable to book the ticket.", "error": reason}


@pytest.mark.parametrize(
    ("locale", "reason"),
    [("en", "The service is currently closed."), ("ar", "الخدمة مغلقة حالياً.")],
)
async def test_booking_a_closed_service_is_400_with_a_localized_reason(
    connect: ClientFactory, ids: SampleIds, locale: str, reason: str
) -> None:
    body = {"serviceId": ids.closed_service, "groupOfServiceId": ids.walk_in_group}

    response = await connect(locale=locale).post("/tickets/book", json=body)

    assert response.status_code == 400
    assert error(response) == reason


async def test_booked_ticket_names_follow_x_locale(connect: ClientFactory, ids: SampleIds) -> None:
    response = await connect(locale="ar").post("/tickets/book", json=walk_in(ids))

    ticket = data(response)
    assert ticket["branch"]["name"] == "فرع سيف مول"
    assert ticket["service"]["name"] == "سحب نقدي"
    assert ticket["groupOfService"]["name"] == "خدمات الصراف"


async def test_five_concurrent_bookings_of_the_last_place_book_it_once(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    sandbox.fill_slot(ids.appointment_service, NINE_THIRTY, leave=1)
    # Latency makes all five requests be in flight before any of them is handled.
    sandbox.faults.set(latency_ms=20)

    responses = await asyncio.gather(
        *(api.post("/tickets/book", json=appointment(ids)) for _ in range(5))
    )

    assert sorted(r.status_code for r in responses) == [201, 422, 422, 422, 422]
    sandbox.faults.clear()
    assert await remaining_at(api, ids.appointment_service, NINE_THIRTY) == 0


async def test_ids_come_from_the_seed(connect: ClientFactory, clock: FakeClock) -> None:
    same_a, same_b, other = Sandbox(clock=clock), Sandbox(clock=clock), Sandbox(clock=clock, seed=8)

    booked = []
    for target in (same_a, same_b, other):
        body = walk_in(target.sample_ids())
        booked.append(data(await connect(target=target).post("/tickets/book", json=body))["id"])

    assert same_a.sample_ids() == same_b.sample_ids()
    assert booked[0] == booked[1]
    assert booked[2] != booked[0]
    assert same_a.sample_ids().open_branch != other.sample_ids().open_branch


async def test_booking_time_is_the_sandbox_clock(
    api: httpx.AsyncClient, clock: FakeClock, ids: SampleIds
) -> None:
    clock.advance(seconds=1.234)

    ticket = data(await api.post("/tickets/book", json=walk_in(ids)))

    assert ticket["bookedAt"] == "2026-07-01T06:00:01.234Z"
