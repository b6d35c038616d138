"""Fault switches: forced statuses, a seeded error rate, latency, hanging and late routes."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from sandbox import FaultSpecError, SampleIds, Sandbox
from sandbox.faults import Faults, parse_forced, parse_route
from tests.sandbox.conftest import ClientFactory, FakeClock
from tests.sandbox.helpers import data, error


@pytest.mark.parametrize(
    "pattern",
    ["/tickets/*/cancel", "/tickets/{id}/cancel", "/external/v1/tickets/{ticketId}/cancel"],
)
async def test_a_forced_status_answers_matching_calls_only(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds, pattern: str
) -> None:
    sandbox.faults.force("post", pattern, 503)

    cancel = await api.post(f"/tickets/{ids.upcoming_ticket}/cancel")
    fetch = await api.get(f"/tickets/{ids.upcoming_ticket}")

    assert cancel.status_code == 503
    assert cancel.json() == {"message": "Service Unavailable.", "error": "Service Unavailable."}
    assert fetch.status_code == 200
    assert data(fetch)["status"] == "upcoming"  # the forced call changed nothing


async def test_unforcing_a_route_restores_normal_answers(
    api: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.faults.force("GET", "/branches", 500)
    assert (await api.get("/branches")).status_code == 500

    sandbox.faults.unforce("GET", "/branches")

    assert (await api.get("/branches")).status_code == 200


async def test_forced_statuses_come_with_fitting_envelopes(
    connect: ClientFactory, sandbox: Sandbox, ids: SampleIds
) -> None:
    client = connect(locale="ar")
    for status in (400, 401, 404, 409, 422, 429, 500, 502):
        sandbox.faults.forced.clear()
        sandbox.faults.force("*", "/tickets/{id}", status)

        response = await client.get(f"/tickets/{ids.upcoming_ticket}")

        assert response.status_code == status
        assert "error" in response.json()
    assert error(response) == "Bad Gateway."


async def test_forced_404_on_customer_routes_has_a_null_error(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    sandbox.faults.force("PUT", "/customers/update", 404)

    response = await api.put("/customers/update", json={"id": ids.customer_id, "name": "X"})

    assert response.status_code == 404
    assert response.json() == {"message": "Customer not found.", "error": None}
    assert sandbox.customer(ids.customer_id).name == "Layla Hassan"


async def test_error_rate_one_fails_every_call_with_500(
    api: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.faults.set(error_rate=1.0)

    responses = [await api.get("/branches") for _ in range(3)]

    assert [r.status_code for r in responses] == [500, 500, 500]
    assert responses[0].json() == {
        "message": "Something went wrong.",
        "error": "Internal server error.",
    }


async def test_error_rate_is_a_share_of_calls_and_repeats_with_the_seed(
    connect: ClientFactory, clock: FakeClock
) -> None:
    runs = []
    for _ in range(2):
        sandbox = Sandbox(clock=clock, error_rate=0.3)
        client = connect(target=sandbox)
        runs.append([(await client.get("/branches")).status_code for _ in range(40)])

    assert runs[0] == runs[1]
    assert 4 <= runs[0].count(500) <= 20
    assert set(runs[0]) == {200, 500}


async def test_latency_delays_every_answer(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.faults.set(latency_ms=60)

    started = time.perf_counter()
    response = await api.get("/branches")

    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.06


async def test_a_hanging_route_never_answers_before_the_client_gives_up(
    api: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.faults.add_hang("POST", "/tickets/book")

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(api.post("/tickets/book", json={}), timeout=0.2)

    assert sandbox.requests[-1].api_path == "/tickets/book"
    assert sandbox.requests[-1].status is None
    assert (await api.get("/branches")).status_code == 200


async def test_a_hang_that_ends_before_the_timeout_is_just_slow(
    api: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.faults.add_hang("GET", "/branches")
    sandbox.faults.hang_seconds = 0.1

    response = await api.get("/branches")

    assert response.status_code == 200


async def test_removing_a_hang_makes_the_route_answer_again(
    api: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.faults.add_hang("GET", "/branches")
    sandbox.faults.remove_hang("GET", "/branches")

    response = await asyncio.wait_for(api.get("/branches"), timeout=1)

    assert response.status_code == 200


def _walk_in(ids: SampleIds) -> dict[str, str]:
    """Return a walk-in booking body for the sample customer."""
    return {
        "serviceId": ids.walk_in_service,
        "groupOfServiceId": ids.walk_in_group,
        "customerId": ids.customer_id,
    }


async def _customer_tickets(api: httpx.AsyncClient, ids: SampleIds) -> list[str]:
    """Return the ids of the sample customer's tickets."""
    page = await api.get("/customers/tickets", params={"id": ids.customer_id})
    return [ticket["id"] for ticket in data(page)]


async def test_a_late_route_stores_the_write_after_the_client_gave_up(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    before = await _customer_tickets(api, ids)
    sandbox.faults.add_late("POST", "/tickets/book", 0.3)

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(api.post("/tickets/book", json=_walk_in(ids)), timeout=0.1)

    booked = next(r for r in sandbox.requests if r.api_path == "/tickets/book")
    assert await _customer_tickets(api, ids) == before  # not stored yet
    assert booked.status is None
    await asyncio.sleep(0.4)
    after = await _customer_tickets(api, ids)
    assert len(after) == len(before) + 1  # stored once the delay passed, nobody listening
    assert booked.status == 201


async def test_a_late_route_answers_a_patient_client_and_can_be_removed(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    sandbox.faults.add_late("POST", "/tickets/book", 0.1)

    started = time.perf_counter()
    slow = await api.post("/tickets/book", json=_walk_in(ids))
    waited = time.perf_counter() - started
    sandbox.faults.remove_late("POST", "/tickets/book")
    quick = await asyncio.wait_for(api.post("/tickets/book", json=_walk_in(ids)), timeout=1)

    assert slow.status_code == 201
    assert waited >= 0.1
    assert quick.status_code == 201
    assert sandbox.faults.late_seconds("POST", "/tickets/book") is None


async def test_admin_route_sets_and_clears_late_routes(
    admin: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    response = await admin.post("/faults", json={"late": {"POST:/tickets/book": 12.5}})
    negative = await admin.post("/faults", json={"late": {"POST:/tickets/book": -1}})
    not_a_map = await admin.post("/faults", json={"late": ["POST:/tickets/book"]})

    assert response.status_code == 200
    assert data(response)["late"] == {"POST:/tickets/book": 12.5}
    assert sandbox.faults.late_seconds("POST", "/tickets/book") == 12.5
    assert [negative.status_code, not_a_map.status_code] == [400, 400]
    cleared = await admin.delete("/faults")
    assert data(cleared)["late"] == {}


async def test_constructor_faults_apply_and_survive_reset(
    connect: ClientFactory, clock: FakeClock
) -> None:
    sandbox = Sandbox(clock=clock, forced={("GET", "/branches"): 502})
    client = connect(target=sandbox)
    assert (await client.get("/branches")).status_code == 502
    sandbox.faults.clear()
    assert (await client.get("/branches")).status_code == 200

    sandbox.reset()

    assert (await client.get("/branches")).status_code == 502


async def test_admin_route_configures_the_faults(
    api: httpx.AsyncClient, admin: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    response = await admin.post(
        "/faults",
        json={
            "latency_ms": 5,
            "force": ["GET:/branches=503"],
            "hang": ["POST:/tickets/{id}/cancel"],
        },
    )

    assert response.status_code == 200
    assert data(response) == {
        "latency_ms": 5.0,
        "error_rate": 0.0,
        "forced": {"GET:/branches": 503},
        "hang": ["POST:/tickets/{id}/cancel"],
        "hang_seconds": 3600.0,
        "late": {},
    }
    assert (await api.get("/branches")).status_code == 503
    assert sandbox.faults.hangs("POST", "/tickets/abcdefghij/cancel")

    cleared = await admin.delete("/faults")

    assert data(cleared)["forced"] == {}
    assert (await api.get("/branches")).status_code == 200


async def test_admin_faults_accept_a_mapping_and_reject_nonsense(
    admin: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    mapping = await admin.post("/faults", json={"force": {"GET:/tickets/*": 500}})
    bad_status = await admin.post("/faults", json={"force": ["GET:/branches=200"]})
    bad_rate = await admin.post("/faults", json={"error_rate": 2})
    not_json = await admin.post("/faults", content=b"nope")

    assert mapping.status_code == 200
    assert sandbox.faults.forced_status("GET", "/tickets/abcdefghij") == 500
    assert [bad_status.status_code, bad_rate.status_code, not_json.status_code] == [400, 400, 400]


@pytest.mark.parametrize(
    "spec", ["GET/branches=500", "GET:/branches", "GET:/branches=abc", "GET:/branches=302", ":=500"]
)
def test_malformed_forced_specs_are_refused(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        parse_forced(spec)


def test_route_specs_are_normalized() -> None:
    assert parse_route("post:/external/v1/tickets/book/") == ("POST", "/tickets/book")
    assert parse_forced("GET:/tickets/{id}=504") == (("GET", "/tickets/{id}"), 504)


def test_a_wildcard_method_matches_every_method() -> None:
    faults = Faults()
    faults.force("*", "/customers/*", 500)

    assert faults.forced_status("DELETE", "/customers/delete") == 500
    assert faults.forced_status("GET", "/customers/getOne") == 500
    assert faults.forced_status("GET", "/branches") is None
    assert faults.forced_status("GET", "/customers/a/b") is None
