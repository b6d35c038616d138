"""GET /tickets/{id}, cancel and change-time, and the queue that moves on its own."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from sandbox import SampleIds, Sandbox
from tests.sandbox.conftest import ClientFactory, FakeClock
from tests.sandbox.helpers import TODAY, TOMORROW, data, error, slot

TEN = slot(TOMORROW, 10)
TWO_PM = slot(TOMORROW, 14)


async def fetch(client: httpx.AsyncClient, ticket_id: str) -> dict[str, Any]:
    """Return the ticket as GET /tickets/{id} shows it."""
    response = await client.get(f"/tickets/{ticket_id}")
    assert response.status_code == 200
    assert response.json()["message"] == "Ticket fetched successfully."
    return dict(data(response))


async def remaining_at(client: httpx.AsyncClient, service: str, time: str) -> int:
    """Return the free places the slots endpoint shows for ``time`` (0 when left out)."""
    slots = data(await client.get(f"/services/{service}/slots", params={"date": time[:10]}))
    return next((s["remaining"] for s in slots if s["time"] == time), 0)


def move(ids: SampleIds, time: str = TWO_PM, **customer: str) -> dict[str, str]:
    """Return a change-time body for Layla (by _id unless another reference is given)."""
    return {"time": time, **(customer or {"customerId": ids.customer_id})}


# -- fetch --------------------------------------------------------------------------------------


async def test_waiting_ticket_shows_people_ahead_and_estimated_wait(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    ticket = await fetch(api, ids.waiting_ticket)

    assert ticket["status"] == "waiting"
    assert ticket["queueSize"] == 4
    assert ticket["waitingTime"] == 12
    assert ticket["customer"] == {"id": ids.other_customer_id, "name": "Ahmed Al Mahmood"}


@pytest.mark.parametrize("which", ["upcoming_ticket", "served_ticket", "cancelled_ticket"])
async def test_tickets_that_are_not_waiting_have_no_queue_fields(
    api: httpx.AsyncClient, ids: SampleIds, which: str
) -> None:
    ticket = await fetch(api, getattr(ids, which))

    assert "queueSize" not in ticket
    assert "waitingTime" not in ticket


async def test_unknown_status_values_are_passed_through(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    sandbox.set_ticket_status(ids.waiting_ticket, "no_show")

    ticket = await fetch(api, ids.waiting_ticket)

    assert ticket["status"] == "no_show"
    assert "queueSize" not in ticket


@pytest.mark.parametrize(
    ("ticket_id", "message"),
    [
        ("zzzzzzzzzz", "This value does not exist."),
        ("abc", "This value must be a 10-character alphanumeric id."),
        ("abc-def-gh", "This value must be a 10-character alphanumeric id."),
    ],
)
async def test_fetching_an_unknown_or_malformed_ticket_is_422_on_id(
    api: httpx.AsyncClient, ticket_id: str, message: str
) -> None:
    response = await api.get(f"/tickets/{ticket_id}")

    assert response.status_code == 422
    assert error(response) == {"id": message}


async def test_ticket_names_follow_x_locale(connect: ClientFactory, ids: SampleIds) -> None:
    ticket = data(await connect(locale="ar").get(f"/tickets/{ids.upcoming_ticket}"))

    assert ticket["service"]["name"] == "فتح حساب"
    assert ticket["groupOfService"]["name"] == "خدمة العملاء"


# -- the queue ----------------------------------------------------------------------------------


async def test_advancing_the_queue_moves_the_ticket_forward_then_serves_it(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    sandbox.advance_queue(ids.walk_in_service)
    assert (await fetch(api, ids.waiting_ticket))["queueSize"] == 3

    sandbox.advance_queue(ids.walk_in_service, steps=4)
    serving = await fetch(api, ids.waiting_ticket)
    assert serving["status"] == "serving"
    assert "queueSize" not in serving

    sandbox.advance_queue(ids.walk_in_service)
    assert (await fetch(api, ids.waiting_ticket))["status"] == "served"


async def test_advancing_one_service_leaves_other_queues_alone(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    other = data(
        await api.post(
            "/tickets/book",
            json={"serviceId": ids.appointment_service, "groupOfServiceId": ids.appointment_group},
        )
    )

    sandbox.advance_queue(ids.walk_in_service, steps=2)

    assert (await fetch(api, other["id"]))["queueSize"] == other["queueSize"]


async def test_the_queue_serves_one_ticket_per_interval_of_the_clock(
    api: httpx.AsyncClient, clock: FakeClock, ids: SampleIds
) -> None:
    clock.advance(seconds=179)
    assert (await fetch(api, ids.waiting_ticket))["queueSize"] == 4

    clock.advance(seconds=1 + 180)
    moved = await fetch(api, ids.waiting_ticket)

    assert moved["queueSize"] == 2
    assert moved["waitingTime"] == 6


async def test_the_queue_drains_completely_after_a_long_time(
    api: httpx.AsyncClient, clock: FakeClock, ids: SampleIds
) -> None:
    clock.advance(hours=8)

    ticket = await fetch(api, ids.waiting_ticket)

    assert ticket["status"] == "served"
    assert ticket["statusAt"] == "2026-07-01T06:18:00.000Z"  # served at the 6th interval


async def test_waiting_time_follows_the_serving_pace(
    connect: ClientFactory, clock: FakeClock
) -> None:
    sandbox = Sandbox(clock=clock, serve_interval_seconds=240)

    ticket = data(await connect(target=sandbox).get(f"/tickets/{sandbox.sample.waiting_ticket}"))

    assert ticket["queueSize"] == 4
    assert ticket["waitingTime"] == 16


async def test_an_upcoming_appointment_joins_the_queue_at_its_time(
    connect: ClientFactory, clock: FakeClock
) -> None:
    sandbox = Sandbox(clock=clock, serve_interval_seconds=0)  # the queue moves only by hand
    clock.now = datetime.fromisoformat(TEN)

    ticket = data(await connect(target=sandbox).get(f"/tickets/{sandbox.sample.upcoming_ticket}"))

    assert ticket["status"] == "waiting"
    assert ticket["statusAt"] == TEN
    assert ticket["queueSize"] == 1  # the walk-in already waiting at Account Opening
    assert ticket["waitingTime"] == 4  # the fallback estimate when the pace is switched off


# -- cancel -------------------------------------------------------------------------------------


async def test_cancelling_a_waiting_ticket_moves_the_people_behind_forward(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    head = min(
        (
            t
            for t in sandbox.tickets
            if t.service_id == ids.walk_in_service and t.status == "waiting"
        ),
        key=lambda t: t.booked_at,
    )

    response = await api.post(f"/tickets/{head.id}/cancel")

    assert response.status_code == 200
    assert response.json()["message"] == "Ticket cancelled successfully."
    assert data(response)["status"] == "cancelled"
    assert data(response)["statusAt"] == "2026-07-01T06:00:00.000Z"
    assert "queueSize" not in data(response)
    assert (await fetch(api, ids.waiting_ticket))["queueSize"] == 3


async def test_cancelling_an_appointment_frees_its_place(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    before = await remaining_at(api, ids.appointment_service, TEN)

    response = await api.post(f"/tickets/{ids.upcoming_ticket}/cancel")

    assert response.status_code == 200
    assert data(response)["status"] == "cancelled"
    assert await remaining_at(api, ids.appointment_service, TEN) == before + 1


async def test_the_public_key_may_cancel(public_api: httpx.AsyncClient, ids: SampleIds) -> None:
    response = await public_api.post(f"/tickets/{ids.waiting_ticket}/cancel")

    assert response.status_code == 200


@pytest.mark.parametrize("status", ["cancelled", "served", "serving", "no_show"])
async def test_only_waiting_or_upcoming_tickets_can_be_cancelled(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds, status: str
) -> None:
    sandbox.set_ticket_status(ids.waiting_ticket, status)

    response = await api.post(f"/tickets/{ids.waiting_ticket}/cancel")

    assert response.status_code == 409
    assert error(response) == "This ticket can no longer be cancelled."
    assert sandbox.ticket(ids.waiting_ticket).status == status


async def test_cancelling_twice_gives_409_the_second_time(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    first = await api.post(f"/tickets/{ids.upcoming_ticket}/cancel")
    second = await api.post(f"/tickets/{ids.upcoming_ticket}/cancel")

    assert (first.status_code, second.status_code) == (200, 409)


async def test_cancelling_an_unknown_ticket_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post("/tickets/zzzzzzzzzz/cancel")

    assert response.status_code == 422
    assert error(response) == {"id": "This value does not exist."}


# -- change-time --------------------------------------------------------------------------------


async def test_rescheduling_moves_the_appointment_and_frees_the_old_slot(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    old_before = await remaining_at(api, ids.appointment_service, TEN)
    new_before = await remaining_at(api, ids.appointment_service, TWO_PM)

    response = await api.post(f"/tickets/{ids.upcoming_ticket}/change-time", json=move(ids))

    assert response.status_code == 200
    assert response.json()["message"] == "Ticket updated successfully."
    ticket = data(response)
    assert ticket["time"] == TWO_PM
    assert ticket["status"] == "upcoming"
    assert ticket["id"] == ids.upcoming_ticket
    assert await remaining_at(api, ids.appointment_service, TEN) == old_before + 1
    assert await remaining_at(api, ids.appointment_service, TWO_PM) == new_before - 1
    assert (await fetch(api, ids.upcoming_ticket))["time"] == TWO_PM


async def test_rescheduling_by_external_id_with_the_public_key(
    public_api: httpx.AsyncClient, ids: SampleIds
) -> None:
    body = move(ids, customerExternalId=ids.customer_external_id)

    response = await public_api.post(f"/tickets/{ids.upcoming_ticket}/change-time", json=body)

    assert response.status_code == 200


async def test_a_waiting_appointment_can_be_rescheduled_and_leaves_the_queue(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    sandbox.set_ticket_status(ids.upcoming_ticket, "waiting")
    assert "queueSize" in await fetch(api, ids.upcoming_ticket)

    response = await api.post(f"/tickets/{ids.upcoming_ticket}/change-time", json=move(ids))

    assert response.status_code == 200
    assert data(response)["status"] == "upcoming"
    assert "queueSize" not in data(response)


async def test_rescheduling_to_the_same_slot_keeps_the_place(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    sandbox.fill_slot(ids.appointment_service, TEN)

    response = await api.post(f"/tickets/{ids.upcoming_ticket}/change-time", json=move(ids, TEN))

    assert response.status_code == 200
    assert data(response)["time"] == TEN


@pytest.mark.parametrize("status", ["cancelled", "served", "serving"])
async def test_an_appointment_that_is_over_cannot_be_rescheduled(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds, status: str
) -> None:
    sandbox.set_ticket_status(ids.upcoming_ticket, status)

    response = await api.post(f"/tickets/{ids.upcoming_ticket}/change-time", json=move(ids))

    assert response.status_code == 422
    assert error(response) == {"id": "This ticket cannot be rescheduled."}


async def test_a_walk_in_cannot_be_rescheduled(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    walk_in = data(
        await api.post(
            "/tickets/book",
            json={
                "serviceId": ids.appointment_service,
                "groupOfServiceId": ids.appointment_group,
                "customerId": ids.customer_id,
            },
        )
    )

    response = await api.post(f"/tickets/{walk_in['id']}/change-time", json=move(ids))

    assert response.status_code == 422
    assert error(response) == {"id": "This ticket cannot be rescheduled."}


@pytest.mark.parametrize(
    ("customer", "field"),
    [
        ({"customerId": "other"}, "customerId"),
        ({"customerExternalId": "crm-7742"}, "customerExternalId"),
    ],
)
async def test_only_the_tickets_own_customer_can_reschedule_it(
    api: httpx.AsyncClient, ids: SampleIds, customer: dict[str, str], field: str
) -> None:
    if customer.get("customerId") == "other":
        customer = {"customerId": ids.other_customer_id}

    response = await api.post(
        f"/tickets/{ids.upcoming_ticket}/change-time", json=move(ids, **customer)
    )

    assert response.status_code == 422
    assert error(response) == {field: "This customer does not own this ticket."}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"time": TWO_PM}, "Exactly one of customerId or customerExternalId is required."),
        (
            {"time": TWO_PM, "customerId": "x", "customerExternalId": "crm-7741"},
            "Send only one of customerId or customerExternalId.",
        ),
        ({"time": TWO_PM, "customerId": "0" * 32}, "This value does not exist."),
    ],
)
async def test_rescheduling_needs_exactly_one_existing_customer_reference(
    api: httpx.AsyncClient, ids: SampleIds, body: dict[str, str], expected: str
) -> None:
    response = await api.post(f"/tickets/{ids.upcoming_ticket}/change-time", json=body)

    assert response.status_code == 422
    assert error(response) == {"customerId": expected}


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        (None, "This field is required."),
        ("2026-07-02T14:00:00+03:00", "The time must be a UTC ISO-8601 date-time ending in Z."),
        (slot(TODAY, 8), "The time must be in the future."),
        ("2026-07-02T11:15:00.000Z", "This slot is no longer available."),
    ],
)
async def test_rescheduling_needs_a_future_utc_slot_time(
    api: httpx.AsyncClient, ids: SampleIds, time: str | None, expected: str
) -> None:
    body: dict[str, Any] = {"customerId": ids.customer_id}
    if time is not None:
        body["time"] = time

    response = await api.post(f"/tickets/{ids.upcoming_ticket}/change-time", json=body)

    assert response.status_code == 422
    assert error(response) == {"time": expected}


async def test_rescheduling_into_a_full_slot_is_422_and_keeps_the_old_time(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    sandbox.fill_slot(ids.appointment_service, TWO_PM)

    response = await api.post(f"/tickets/{ids.upcoming_ticket}/change-time", json=move(ids))

    assert response.status_code == 422
    assert error(response) == {"time": "This slot is no longer available."}
    assert (await fetch(api, ids.upcoming_ticket))["time"] == TEN


async def test_rescheduling_an_unknown_ticket_is_422(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.post("/tickets/zzzzzzzzzz/change-time", json=move(ids))

    assert response.status_code == 422
    assert error(response)["id"] == "This value does not exist."
