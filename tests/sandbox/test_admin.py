"""What the API received (recorded requests), and the /_sandbox admin routes."""

from __future__ import annotations

import httpx
import pytest

from sandbox import SampleIds, Sandbox
from tests.sandbox.conftest import ClientFactory, FakeClock
from tests.sandbox.helpers import TOMORROW, data, slot


async def test_every_call_is_recorded_with_method_path_query_headers_body_and_status(
    connect: ClientFactory, sandbox: Sandbox, ids: SampleIds
) -> None:
    client = connect(locale="ar")
    await client.get("/customers/tickets", params={"id": ids.customer_id, "limit": 5})
    await client.post("/tickets/book", json={"serviceId": ids.walk_in_service})

    first, second = sandbox.requests
    assert (first.method, first.path, first.api_path) == (
        "GET",
        "/external/v1/customers/tickets",
        "/customers/tickets",
    )
    assert first.query == {"id": ids.customer_id, "limit": "5"}
    assert first.json is None
    assert first.status == 200
    assert second.json == {"serviceId": ids.walk_in_service}
    assert second.status == 422
    assert all(r.locale == "ar" for r in sandbox.requests)
    assert all(r.headers["authorization"] == "Bearer sk_test_sandbox" for r in sandbox.requests)


async def test_recorded_requests_show_that_no_cancel_call_was_made(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    await api.get(f"/tickets/{ids.upcoming_ticket}")

    assert not [r for r in sandbox.requests if r.api_path.endswith("/cancel")]


async def test_admin_lists_recorded_requests_with_the_key_masked_and_can_forget_them(
    api: httpx.AsyncClient, admin: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    await api.get("/branches", headers={"X-Locale": "en"})

    listed = data(await admin.get("/requests"))
    forgotten = await admin.delete("/requests")

    assert len(listed) == 1
    assert listed[0]["path"] == "/external/v1/branches"
    assert listed[0]["headers"]["authorization"] == "Bearer ***"
    assert listed[0]["headers"]["x-locale"] == "en"
    assert listed[0]["status"] == 200
    assert "sk_test_sandbox" not in str(listed)
    assert data(forgotten) == []
    assert sandbox.requests == []


async def test_admin_routes_need_no_key_and_are_not_recorded(
    admin: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    response = await admin.get("/sample")

    assert response.status_code == 200
    sample = data(response)
    assert sample["open_branch"] == ids.open_branch
    assert sample["full_date"] == ids.full_date.isoformat()
    assert sample["full_slot"].endswith(".000Z")
    assert sandbox.requests == []


async def test_admin_advance_moves_a_queue(
    api: httpx.AsyncClient, admin: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await admin.post("/advance", json={"service_id": ids.walk_in_service, "steps": 2})

    assert response.status_code == 200
    assert data(response)["moved"] == 4  # two served, two called
    assert data(await api.get(f"/tickets/{ids.waiting_ticket}"))["queueSize"] == 2


async def test_admin_advance_without_a_service_moves_every_queue(
    api: httpx.AsyncClient, admin: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    await admin.post("/advance", json={})

    assert data(await api.get(f"/tickets/{ids.waiting_ticket}"))["queueSize"] == 3
    serving = [t for t in sandbox.tickets if t.status == "serving"]
    assert len({t.service_id for t in serving}) == len(serving)  # one counter per service


@pytest.mark.parametrize(
    ("payload", "status"),
    [({"service_id": "zzzzzzzzzz"}, 404), ({"steps": -1}, 400), ({"steps": "2"}, 400)],
)
async def test_admin_advance_refuses_bad_input(
    admin: httpx.AsyncClient, payload: dict[str, object], status: int
) -> None:
    response = await admin.post("/advance", json=payload)

    assert response.status_code == status


async def test_admin_sets_a_ticket_status(
    api: httpx.AsyncClient, admin: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await admin.post(f"/tickets/{ids.waiting_ticket}/status", json={"status": "served"})
    unknown = await admin.post("/tickets/zzzzzzzzzz/status", json={"status": "served"})
    missing = await admin.post(f"/tickets/{ids.waiting_ticket}/status", json={})

    assert data(response)["status"] == "served"
    assert data(await api.get(f"/tickets/{ids.waiting_ticket}"))["status"] == "served"
    assert unknown.status_code == 404
    assert missing.status_code == 400


async def test_admin_fills_a_slot(
    api: httpx.AsyncClient, admin: httpx.AsyncClient, ids: SampleIds
) -> None:
    at = slot(TOMORROW, 13)

    response = await admin.post(
        "/slots/fill", json={"service_id": ids.appointment_service, "time": at}
    )
    bad = await admin.post("/slots/fill", json={"service_id": ids.walk_in_service, "time": at})

    assert response.status_code == 200
    slots = data(await api.get(f"/services/{ids.appointment_service}/slots?date=2026-07-02"))
    assert at not in [s["time"] for s in slots]
    assert bad.status_code == 400


async def test_fill_slot_can_leave_some_places(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    at = slot(TOMORROW, 13, 30)

    sandbox.fill_slot(ids.appointment_service, at, leave=2)

    slots = data(await api.get(f"/services/{ids.appointment_service}/slots?date=2026-07-02"))
    assert {"time": at, "remaining": 2} in slots


async def test_admin_reset_restores_the_sample_company(
    api: httpx.AsyncClient, admin: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    await api.post("/customers/create", json={"externalId": "tg-1"})
    await api.post(f"/tickets/{ids.upcoming_ticket}/cancel")

    response = await admin.post("/reset")

    assert response.status_code == 200
    assert [c.external_id for c in sandbox.customers] == ["crm-7741", "crm-7742", "crm-7743"]
    assert sandbox.ticket(ids.upcoming_ticket).status == "upcoming"
    assert sandbox.sample_ids() == ids
    assert sandbox.requests == []


async def test_reset_rebuilds_relative_to_the_clock(clock: FakeClock) -> None:
    sandbox = Sandbox(clock=clock)
    first = sandbox.ticket(sandbox.sample.upcoming_ticket).time
    clock.advance(days=1)

    sandbox.reset()

    second = sandbox.ticket(sandbox.sample.upcoming_ticket).time
    assert first is not None
    assert second is not None
    assert (second - first).days == 1


ADMIN_KEY = "sandbox-admin-SECRET"


async def test_with_an_admin_key_the_admin_routes_need_it(
    connect: ClientFactory, clock: FakeClock
) -> None:
    keyed = Sandbox(clock=clock, admin_key=ADMIN_KEY)
    admin = connect(None, base_url="http://sandbox/_sandbox", target=keyed)

    missing = await admin.post("/reset")
    wrong = await admin.get("/requests", headers={"X-Sandbox-Admin-Key": "guess"})
    right = await admin.get("/sample", headers={"X-Sandbox-Admin-Key": ADMIN_KEY})

    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert ADMIN_KEY not in missing.text + wrong.text


async def test_locked_admin_routes_refuse_everything_while_the_api_still_serves(
    connect: ClientFactory, clock: FakeClock
) -> None:
    locked = Sandbox(clock=clock, admin_locked=True)
    admin = connect(None, base_url="http://sandbox/_sandbox", target=locked)
    api = connect(target=locked)

    refused = [await admin.get("/sample"), await admin.get("/requests"), await admin.post("/reset")]
    branches = await api.get("/branches")

    assert [r.status_code for r in refused] == [403, 403, 403]
    assert "SANDBOX_ADMIN_KEY" in refused[0].json()["error"]
    assert branches.status_code == 200


async def test_healthz_answers_without_any_key_and_is_not_recorded(
    connect: ClientFactory, clock: FakeClock
) -> None:
    locked = Sandbox(clock=clock, admin_locked=True)
    root = connect(None, base_url="http://sandbox", target=locked)

    response = await root.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert locked.requests == []


async def test_the_request_log_keeps_only_the_newest_calls(
    connect: ClientFactory, clock: FakeClock
) -> None:
    small = Sandbox(clock=clock, max_recorded_requests=3)
    api = connect(target=small)

    for page in range(1, 6):
        await api.get("/customers/getAll", params={"page": page})

    assert [r.query["page"] for r in small.requests] == ["3", "4", "5"]


def test_the_request_log_is_capped_by_default() -> None:
    from sandbox.app import MAX_RECORDED_REQUESTS

    assert Sandbox().max_recorded_requests == MAX_RECORDED_REQUESTS <= 10_000


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False), ("::", False)],
)
def test_only_loopback_hosts_leave_the_admin_routes_open_without_a_key(
    host: str, loopback: bool
) -> None:
    from sandbox.server import is_loopback

    assert is_loopback(host) is loopback
