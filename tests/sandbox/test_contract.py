"""The sandbox answers inside docs/skiplino-openapi.yaml, and the contract check really bites."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox import SampleIds, Sandbox
from tests.fakes.api_examples import DOC_TICKET
from tests.sandbox.conftest import ClientFactory
from tests.sandbox.contract import Contract, ContractViolation
from tests.sandbox.helpers import PUBLIC, TOMORROW, data, slot

VALID_TICKET: dict[str, Any] = DOC_TICKET


def envelope(ticket: dict[str, Any]) -> dict[str, Any]:
    """Wrap a ticket in the fetch-a-ticket envelope."""
    return {"message": "Ticket fetched successfully.", "data": ticket}


def test_the_documented_example_passes_the_check(contract: Contract) -> None:
    contract.check("GET", "/tickets/k7m2p9x4q1", 200, envelope(VALID_TICKET))


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("GET", "/tickets/k7m2p9x4q1", 200, envelope({**VALID_TICKET, "id": "short"})),
        ("GET", "/tickets/k7m2p9x4q1", 200, envelope({**VALID_TICKET, "queueSize": -1})),
        ("GET", "/tickets/k7m2p9x4q1", 200, envelope({**VALID_TICKET, "time": 5})),
        ("GET", "/tickets/k7m2p9x4q1", 200, {"message": "Wrong.", "data": VALID_TICKET}),
        ("GET", "/tickets/k7m2p9x4q1", 200, envelope({"id": "k7m2p9x4q1"})),
        ("POST", "/tickets/book", 200, {"message": "Ticket booked successfully.", "data": {}}),
        (
            "GET",
            "/customers/getAll",
            200,
            {"message": "Customers fetched successfully.", "data": []},
        ),
        ("GET", "/branches", 401, {"message": 1}),
        ("GET", "/branches/802b33af66/tree", 422, {"message": "x", "error": "not an object"}),
        ("POST", "/tickets/k7m2p9x4q1/cancel", 409, {"message": "x", "error": {"id": "x"}}),
        ("GET", "/nowhere", 200, {"message": "x", "data": None}),
    ],
)
def test_the_check_rejects_responses_outside_the_contract(
    contract: Contract, method: str, path: str, status: int, body: Any
) -> None:
    with pytest.raises(ContractViolation):
        contract.check(method, path, status, body)


async def test_the_client_hook_fails_a_call_whose_answer_breaks_the_contract(
    connect: ClientFactory, sandbox: Sandbox
) -> None:
    sandbox.branches[0].id = "not a valid id"

    with pytest.raises(ContractViolation, match="branches"):
        await connect().get("/branches")


async def test_happy_paths_of_all_13_operations_match_the_contract(
    contract: Contract, connect: ClientFactory, sandbox: Sandbox, ids: SampleIds
) -> None:
    api, public = connect(), connect(PUBLIC)
    contract.checked.clear()

    await public.get("/branches")
    await public.get(f"/branches/{ids.open_branch}/tree")
    slots = data(await public.get(f"/services/{ids.appointment_service}/slots"))
    customer = data(
        await api.post("/customers/create", json={"externalId": "tg-501", "name": "Noor"})
    )
    booked = data(
        await public.post(
            "/tickets/book",
            json={
                "serviceId": ids.appointment_service,
                "groupOfServiceId": ids.appointment_group,
                "time": slots[0]["time"],
                "customerExternalId": "tg-501",
            },
        )
    )
    walk_in = data(
        await public.post(
            "/tickets/book",
            json={"serviceId": ids.walk_in_service, "groupOfServiceId": ids.walk_in_group},
        )
    )
    await public.get(f"/tickets/{walk_in['id']}")
    await public.post(
        f"/tickets/{booked['id']}/change-time",
        json={"time": slot(TOMORROW, 12), "customerId": customer["_id"]},
    )
    await public.post(f"/tickets/{walk_in['id']}/cancel")
    await api.get("/customers/getAll")
    await api.get("/customers/getOne", params={"externalId": "tg-501"})
    await api.put("/customers/update", json={"externalId": "tg-501", "mobile": "+97339000000"})
    await public.get("/customers/tickets", params={"externalId": "tg-501"})
    await api.delete("/customers/delete", params={"id": customer["_id"]})

    succeeded = {(method, path) for method, path, status in contract.checked if status < 300}
    assert len(succeeded) == contract.operation_count == 13
    assert all(r.status is not None and r.status < 300 for r in sandbox.requests)
    assert ("POST", "/tickets/book", 201) in contract.checked
    assert ("POST", "/customers/create", 201) in contract.checked


async def test_error_answers_match_the_contract_too(
    contract: Contract, connect: ClientFactory, sandbox: Sandbox, ids: SampleIds
) -> None:
    api = connect()
    contract.checked.clear()
    sandbox.set_ticket_status(ids.waiting_ticket, "served")

    await connect(key=None).get("/branches")
    await api.get("/branches/zzzzzzzzzz/tree")
    await api.get(f"/services/{ids.walk_in_service}/slots")
    await api.post(
        "/tickets/book",
        json={"serviceId": ids.closed_service, "groupOfServiceId": ids.walk_in_group},
    )
    await api.post("/tickets/book", json={})
    await api.get("/tickets/zzzzzzzzzz")
    await api.post(f"/tickets/{ids.waiting_ticket}/cancel")
    await api.post(f"/tickets/{ids.waiting_ticket}/change-time", json={})
    await api.post("/customers/create", json={"externalId": "crm-7741"})
    await api.get("/customers/getAll", params={"limit": 0})
    await api.get("/customers/getOne")
    await api.put("/customers/update", json={})
    await api.delete("/customers/delete", params={"externalId": "nope"})
    await api.get("/customers/tickets", params={"limit": 50, "id": ids.customer_id})
    sandbox.faults.force("GET", "/branches", 500)
    await api.get("/branches")

    statuses = sorted({status for _, _, status in contract.checked})
    assert statuses == [400, 401, 409, 422, 500]
    assert len(contract.checked) == 15


async def test_responses_are_utf8_json_with_arabic_unescaped(
    connect: ClientFactory, ids: SampleIds
) -> None:
    response = await connect(locale="ar").get("/branches")

    assert response.headers["content-type"].startswith("application/json")
    assert "فرع سيف مول".encode() in response.content
