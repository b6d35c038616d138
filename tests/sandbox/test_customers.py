"""The customer directory (secret key) and a customer's ticket history (either key)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from sandbox import SampleIds, Sandbox
from tests.sandbox.conftest import ClientFactory, FakeClock
from tests.sandbox.helpers import data, error

LAYLA_TICKETS = 3  # upcoming appointment, cancelled and served walk-ins


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """Create a customer and return it."""
    response = await client.post("/customers/create", json=fields)
    assert response.status_code == 201, response.text
    return dict(data(response))


# -- create -------------------------------------------------------------------------------------


async def test_creating_a_customer_returns_it_with_server_fields(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.post(
        "/customers/create",
        json={
            "externalId": "tg-1001",
            "name": "Omar Yusuf",
            "email": "omar@example.com",
            "mobile": "+97333001122",
            "metadata": {"source": "telegram"},
        },
    )

    assert response.status_code == 201
    assert response.json()["message"] == "Customer created successfully."
    customer = data(response)
    assert re.fullmatch(r"[0-9a-f]{32}", customer["_id"])
    assert customer["companyId"] == ids.company_id
    assert customer["externalId"] == "tg-1001"
    assert customer["metadata"] == {"source": "telegram"}
    assert customer["createdAt"] == customer["updatedAt"] == "2026-07-01T06:00:00.000Z"


async def test_an_empty_customer_has_only_server_fields(api: httpx.AsyncClient) -> None:
    customer = await create(api)

    assert set(customer) == {"_id", "companyId", "createdAt", "updatedAt"}


async def test_empty_optional_fields_are_not_stored(api: httpx.AsyncClient) -> None:
    customer = await create(api, externalId="tg-1002", name="", email="", metadata={})

    assert set(customer) == {"_id", "externalId", "companyId", "createdAt", "updatedAt"}


async def test_a_taken_external_id_is_422_and_creates_nothing(
    api: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    count = len(sandbox.customers)

    response = await api.post("/customers/create", json={"externalId": "crm-7741", "name": "X"})

    assert response.status_code == 422
    assert error(response) == {"externalId": "This value is already taken."}
    assert len(sandbox.customers) == count


@pytest.mark.parametrize(
    ("fields", "key"),
    [({"name": 5}, "name"), ({"email": "not-an-email"}, "email"), ({"metadata": "x"}, "metadata")],
)
async def test_creating_with_invalid_field_values_is_422(
    api: httpx.AsyncClient, fields: dict[str, Any], key: str
) -> None:
    response = await api.post("/customers/create", json=fields)

    assert response.status_code == 422
    assert set(error(response)) == {key}


async def test_a_retried_create_with_the_same_external_id_cannot_duplicate(
    api: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    await create(api, externalId="tg-42", name="Sara")
    retry = await api.post("/customers/create", json={"externalId": "tg-42", "name": "Sara"})

    assert retry.status_code == 422
    assert [c.external_id for c in sandbox.customers].count("tg-42") == 1


# -- getAll -------------------------------------------------------------------------------------


async def test_customers_are_listed_newest_first_with_pagination(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    clock.advance(minutes=1)
    newest = await create(api, name="Newest")

    response = await api.get("/customers/getAll", params={"limit": 2})

    assert response.status_code == 200
    assert response.json()["message"] == "Customers fetched successfully."
    assert [c["name"] for c in data(response)] == ["Newest", "فاطمة علي"]
    assert data(response)[0]["_id"] == newest["_id"]
    assert response.json()["pagination"] == {
        "total": 4,
        "page": 1,
        "limit": 2,
        "totalPages": 2,
        "hasNextPage": True,
        "hasPrevPage": False,
    }


async def test_the_last_page_and_a_page_beyond_it(api: httpx.AsyncClient) -> None:
    last = await api.get("/customers/getAll", params={"page": 2, "limit": 2})
    beyond = await api.get("/customers/getAll", params={"page": 3, "limit": 2})

    assert [c["externalId"] for c in data(last)] == ["crm-7741"]  # the oldest
    assert last.json()["pagination"]["hasNextPage"] is False
    assert last.json()["pagination"]["hasPrevPage"] is True
    assert data(beyond) == []


async def test_default_paging_is_page_1_of_10(api: httpx.AsyncClient) -> None:
    response = await api.get("/customers/getAll")

    assert response.json()["pagination"]["page"] == 1
    assert response.json()["pagination"]["limit"] == 10
    assert len(data(response)) == 3


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "1.5"}, "page"),
    ],
)
async def test_customer_paging_out_of_range_is_422(
    api: httpx.AsyncClient, params: dict[str, Any], key: str
) -> None:
    response = await api.get("/customers/getAll", params=params)

    assert response.status_code == 422
    assert set(error(response)) == {key}


async def test_limit_100_is_accepted(api: httpx.AsyncClient) -> None:
    response = await api.get("/customers/getAll", params={"limit": 100})

    assert response.status_code == 200
    assert response.json()["pagination"]["limit"] == 100


# -- getOne -------------------------------------------------------------------------------------


async def test_get_one_by_id_or_external_id(api: httpx.AsyncClient, ids: SampleIds) -> None:
    by_id = await api.get("/customers/getOne", params={"id": ids.customer_id})
    by_external = await api.get("/customers/getOne", params={"externalId": "crm-7741"})

    assert by_id.status_code == 200
    assert by_id.json()["message"] == "Customer fetched successfully."
    assert data(by_id) == data(by_external)
    assert data(by_id)["name"] == "Layla Hassan"


async def test_get_one_prefers_id_when_both_are_given(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.get(
        "/customers/getOne", params={"id": ids.customer_id, "externalId": "crm-7742"}
    )

    assert data(response)["externalId"] == "crm-7741"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"id": "0" * 32}, {"id": "This value does not exist."}),
        ({"externalId": "crm-0000"}, {"externalId": "This value does not exist."}),
        ({"id": "xyz"}, {"id": "This value must be a 32-character hexadecimal id."}),
        ({}, {"id": "Either id or externalId is required."}),
    ],
)
async def test_get_one_with_an_unknown_or_missing_identifier_is_422_not_404(
    api: httpx.AsyncClient, params: dict[str, str], expected: dict[str, str]
) -> None:
    response = await api.get("/customers/getOne", params=params)

    assert response.status_code == 422
    assert error(response) == expected


# -- update -------------------------------------------------------------------------------------


async def test_update_changes_only_the_fields_sent(
    api: httpx.AsyncClient, clock: FakeClock, ids: SampleIds
) -> None:
    clock.advance(hours=1)

    response = await api.put(
        "/customers/update", json={"id": ids.customer_id, "name": "Layla A. Hassan"}
    )

    assert response.status_code == 200
    assert response.json()["message"] == "Customer updated successfully."
    customer = data(response)
    assert customer["name"] == "Layla A. Hassan"
    assert customer["email"] == "layla.hassan@example.com"
    assert customer["updatedAt"] == "2026-07-01T07:00:00.000Z"
    assert customer["createdAt"] != customer["updatedAt"]


async def test_update_replaces_metadata_as_a_whole(api: httpx.AsyncClient, ids: SampleIds) -> None:
    response = await api.put(
        "/customers/update", json={"id": ids.customer_id, "metadata": {"tier": "platinum"}}
    )

    assert data(response)["metadata"] == {"tier": "platinum"}


async def test_update_located_by_external_id(api: httpx.AsyncClient) -> None:
    response = await api.put(
        "/customers/update", json={"externalId": "crm-7742", "email": "a@b.co"}
    )

    assert response.status_code == 200
    assert data(response)["externalId"] == "crm-7742"
    assert data(response)["email"] == "a@b.co"


async def test_update_by_id_can_set_a_new_external_id(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.put(
        "/customers/update", json={"id": ids.customer_id, "externalId": "tg-777"}
    )
    old = await api.get("/customers/getOne", params={"externalId": "crm-7741"})

    assert data(response)["externalId"] == "tg-777"
    assert old.status_code == 422


async def test_update_to_an_external_id_of_another_customer_is_422(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.put(
        "/customers/update", json={"id": ids.customer_id, "externalId": "crm-7742"}
    )

    assert response.status_code == 422
    assert error(response) == {"externalId": "This value is already taken."}


async def test_update_keeping_the_own_external_id_is_fine(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.put(
        "/customers/update", json={"id": ids.customer_id, "externalId": "crm-7741"}
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"externalId": "crm-0000", "name": "X"}, {"externalId": "This value does not exist."}),
        ({"id": "f" * 32}, {"id": "This value does not exist."}),
        ({"name": "No locator"}, {"id": "Either id or externalId is required."}),
    ],
)
async def test_update_of_an_unknown_customer_is_422(
    api: httpx.AsyncClient, body: dict[str, str], expected: dict[str, str]
) -> None:
    response = await api.put("/customers/update", json=body)

    assert response.status_code == 422
    assert error(response) == expected


# -- delete -------------------------------------------------------------------------------------


async def test_delete_answers_200_with_null_data_and_keeps_the_tickets(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.delete("/customers/delete", params={"id": ids.customer_id})
    again = await api.get("/customers/getOne", params={"id": ids.customer_id})
    ticket = data(await api.get(f"/tickets/{ids.upcoming_ticket}"))

    assert response.status_code == 200
    assert response.json() == {"message": "Customer deleted successfully.", "data": None}
    assert again.status_code == 422
    assert ticket["customer"] == {"id": ids.customer_id, "name": "Layla Hassan"}


async def test_delete_by_external_id(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    response = await api.delete("/customers/delete", params={"externalId": "crm-7743"})

    assert response.status_code == 200
    assert "crm-7743" not in [c.external_id for c in sandbox.customers]


async def test_deleting_an_unknown_customer_is_422(api: httpx.AsyncClient) -> None:
    response = await api.delete("/customers/delete", params={"id": "0" * 32})

    assert response.status_code == 422
    assert error(response) == {"id": "This value does not exist."}


# -- customer tickets ---------------------------------------------------------------------------


async def test_customer_tickets_are_newest_first_for_either_key(
    api: httpx.AsyncClient, public_api: httpx.AsyncClient, ids: SampleIds
) -> None:
    by_secret = await api.get("/customers/tickets", params={"id": ids.customer_id})
    by_public = await public_api.get("/customers/tickets", params={"externalId": "crm-7741"})

    assert by_public.status_code == 200
    assert by_public.json() == by_secret.json()
    assert by_secret.json()["message"] == "Customer tickets fetched successfully."
    tickets = data(by_secret)
    assert [t["id"] for t in tickets] == [
        ids.upcoming_ticket,
        ids.cancelled_ticket,
        ids.served_ticket,
    ]
    booked = [t["bookedAt"] for t in tickets]
    assert booked == sorted(booked, reverse=True)
    assert by_secret.json()["pagination"]["total"] == LAYLA_TICKETS


async def test_customer_tickets_page_through_with_a_small_limit(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.get(
        "/customers/tickets", params={"id": ids.customer_id, "limit": 2, "page": 2}
    )

    assert [t["id"] for t in data(response)] == [ids.served_ticket]
    assert response.json()["pagination"] == {
        "total": 3,
        "page": 2,
        "limit": 2,
        "totalPages": 2,
        "hasNextPage": False,
        "hasPrevPage": True,
    }


async def test_a_customer_without_tickets_gets_an_empty_page(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.get("/customers/tickets", params={"id": ids.quiet_customer_id})

    assert data(response) == []
    assert response.json()["pagination"]["total"] == 0
    assert response.json()["pagination"]["hasNextPage"] is False


@pytest.mark.parametrize("limit", [0, 11, 100])
async def test_customer_tickets_limit_is_capped_at_10(
    api: httpx.AsyncClient, ids: SampleIds, limit: int
) -> None:
    response = await api.get("/customers/tickets", params={"id": ids.customer_id, "limit": limit})

    assert response.status_code == 422
    assert error(response) == {"limit": "The limit must be between 1 and 10."}


async def test_customer_tickets_of_an_unknown_customer_are_422(api: httpx.AsyncClient) -> None:
    response = await api.get("/customers/tickets", params={"externalId": "crm-0000"})

    assert response.status_code == 422
    assert error(response) == {"externalId": "This value does not exist."}


async def test_customer_ticket_names_follow_x_locale(
    connect: ClientFactory, ids: SampleIds
) -> None:
    response = await connect(locale="ar").get("/customers/tickets", params={"id": ids.customer_id})

    assert data(response)[0]["branch"]["name"] == "فرع سيف مول"
