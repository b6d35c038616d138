"""Bearer keys: none or a wrong one gives 401; customer directory needs the secret key."""

from __future__ import annotations

import httpx
import pytest

from sandbox import OPERATIONS, SampleIds, Sandbox
from tests.sandbox.conftest import ClientFactory
from tests.sandbox.helpers import PUBLIC

ROUTES = [(op.method, op.path) for op in OPERATIONS]
SECRET_ONLY = [(op.method, op.path) for op in OPERATIONS if op.secret_only]
EITHER_KEY = [(op.method, op.path) for op in OPERATIONS if not op.secret_only]


def concrete(path: str, ids: SampleIds) -> str:
    """Fill the path template with sample ids."""
    return (
        path.replace("{branchId}", ids.open_branch)
        .replace("/services/{id}", f"/services/{ids.appointment_service}")
        .replace("{id}", ids.upcoming_ticket)
    )


async def call(client: httpx.AsyncClient, method: str, path: str) -> httpx.Response:
    """Send one request with an empty JSON object where a body is expected."""
    body: dict[str, str] | None = {} if method in ("POST", "PUT") else None
    return await client.request(method, path, json=body)


def test_the_sandbox_serves_the_13_documented_operations() -> None:
    assert len(ROUTES) == 13
    assert len(SECRET_ONLY) == 5


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer sk_wrong", "Bearer ", "Basic sk_test_sandbox", "sk_test_sandbox"],
)
async def test_every_operation_refuses_a_missing_or_wrong_key_with_401(
    connect: ClientFactory,
    sandbox: Sandbox,
    ids: SampleIds,
    method: str,
    path: str,
    authorization: str | None,
) -> None:
    client = connect(key=None)
    headers = {"Authorization": authorization} if authorization is not None else {}

    response = await client.request(
        method,
        concrete(path, ids),
        headers=headers,
        json={} if method in ("POST", "PUT") else None,
    )

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized.", "error": "Invalid or missing API key."}
    assert sandbox.ticket(ids.upcoming_ticket).status == "upcoming"


@pytest.mark.parametrize(("method", "path"), SECRET_ONLY)
async def test_customer_directory_refuses_the_public_key(
    public_api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds, method: str, path: str
) -> None:
    count = len(sandbox.customers)

    response = await call(public_api, method, concrete(path, ids))

    assert response.status_code == 401
    assert response.json()["error"] == "This operation requires a secret key."
    assert len(sandbox.customers) == count


@pytest.mark.parametrize(("method", "path"), EITHER_KEY)
async def test_booking_flow_and_customer_tickets_accept_the_public_key(
    public_api: httpx.AsyncClient, ids: SampleIds, method: str, path: str
) -> None:
    response = await call(public_api, method, concrete(path, ids))

    assert response.status_code != 401


async def test_custom_keys_replace_the_defaults(connect: ClientFactory) -> None:
    sandbox = Sandbox(secret_key="sk_live_custom", public_key="pk_live_custom")

    default_key = await connect(target=sandbox).get("/branches")
    custom_secret = await connect("sk_live_custom", target=sandbox).get("/customers/getAll")
    custom_public = await connect("pk_live_custom", target=sandbox).get("/branches")
    old_public = await connect(PUBLIC, target=sandbox).get("/branches")

    assert default_key.status_code == 401
    assert custom_secret.status_code == 200
    assert custom_public.status_code == 200
    assert old_public.status_code == 401


async def test_unknown_routes_answer_a_json_404_and_wrong_methods_405(
    api: httpx.AsyncClient,
) -> None:
    unknown = await api.get("/branches/list/all")
    wrong_method = await api.delete("/branches")

    assert unknown.status_code == 404
    assert unknown.json()["message"] == "Route not found."
    assert wrong_method.status_code == 405
    assert wrong_method.json()["message"] == "Method not allowed."
