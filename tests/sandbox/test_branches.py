"""GET /branches and GET /branches/{branchId}/tree: active data only, localized names."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from sandbox import SampleIds, Sandbox
from tests.sandbox.conftest import ClientFactory, FakeClock
from tests.sandbox.helpers import data, error


async def test_branches_lists_active_branches_with_their_open_flag(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.get("/branches")

    assert response.status_code == 200
    assert response.json()["message"] == "Branches fetched successfully."
    branches = {b["id"]: b for b in data(response)}
    assert len(branches) == 4
    assert ids.inactive_branch not in branches
    assert branches[ids.open_branch]["name"] == "Seef Mall Branch"
    assert branches[ids.open_branch]["branchStatus"] == {"isBranchOpen": True}
    assert branches[ids.closed_branch]["branchStatus"] == {"isBranchOpen": False}
    assert [b["branchStatus"]["isBranchOpen"] for b in data(response)].count(False) == 1


async def test_branch_names_come_in_arabic_with_x_locale_ar(
    connect: ClientFactory, ids: SampleIds
) -> None:
    response = await connect(locale="ar").get("/branches")

    names = {b["id"]: b["name"] for b in data(response)}
    assert names[ids.open_branch] == "فرع سيف مول"
    assert names[ids.single_group_branch] == "فرع المنامة المركزي"


@pytest.mark.parametrize("locale", [None, "", "en", "fr", "EN-us"])
async def test_missing_empty_or_unknown_locale_gives_english_names(
    connect: ClientFactory, ids: SampleIds, locale: str | None
) -> None:
    response = await connect(locale=locale).get("/branches")

    names = {b["id"]: b["name"] for b in data(response)}
    assert names[ids.open_branch] == "Seef Mall Branch"


async def test_regional_arabic_locale_gives_arabic_names(
    connect: ClientFactory, ids: SampleIds
) -> None:
    response = await connect(locale="ar-BH").get("/branches")

    assert {b["name"] for b in data(response)} >= {"فرع سيف مول"}


@pytest.mark.parametrize("hour_utc", [0, 6, 13, 21])
async def test_open_flags_do_not_depend_on_the_time_of_day(
    connect: ClientFactory, clock: FakeClock, hour_utc: int
) -> None:
    clock.now = datetime(2026, 7, 3, hour_utc, 17, tzinfo=UTC)
    sandbox = Sandbox(clock=clock)

    response = await connect(target=sandbox).get("/branches")

    flags = {b["name"]: b["branchStatus"]["isBranchOpen"] for b in data(response)}
    assert flags == {
        "Seef Mall Branch": True,
        "Manama Central Branch": True,
        "Muharraq Branch": True,
        "Riffa Branch": False,
    }


async def test_tree_lists_active_service_groups_with_their_active_services(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.get(f"/branches/{ids.open_branch}/tree")

    assert response.status_code == 200
    assert response.json()["message"] == "Branch tree fetched successfully."
    groups = data(response)
    assert [g["name"] for g in groups] == [
        "Teller Services",
        "Customer Service",
        "Loans & Financing",
    ]
    services = {s["id"]: s for g in groups for s in g["services"]}
    assert services[ids.walk_in_service] == {
        "id": ids.walk_in_service,
        "name": "Cash Withdrawal",
        "isOpen": True,
        "isAppointment": False,
    }
    assert services[ids.appointment_service]["isAppointment"] is True
    assert services[ids.closed_service]["isOpen"] is False
    assert ids.inactive_service not in services
    assert groups[0]["id"] == ids.walk_in_group


async def test_branch_with_a_single_group_has_exactly_one_group(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.get(f"/branches/{ids.single_group_branch}/tree")

    assert [g["id"] for g in data(response)] == [ids.single_group]


async def test_closed_branch_tree_shows_every_service_closed(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.get(f"/branches/{ids.closed_branch}/tree")

    flags = [s["isOpen"] for g in data(response) for s in g["services"]]
    assert flags
    assert not any(flags)


async def test_tree_names_are_arabic_and_fall_back_to_the_base_name(
    connect: ClientFactory, sandbox: Sandbox, ids: SampleIds
) -> None:
    client = connect(locale="ar")
    muharraq = next(b.id for b in sandbox.branches if b.name.en == "Muharraq Branch")

    seef = data(await client.get(f"/branches/{ids.open_branch}/tree"))
    muharraq_tree = data(await client.get(f"/branches/{muharraq}/tree"))

    assert seef[0]["name"] == "خدمات الصراف"
    assert seef[0]["services"][0]["name"] == "سحب نقدي"
    names = {s["id"]: s["name"] for g in muharraq_tree for s in g["services"]}
    assert names[ids.untranslated_service] == "Western Union"


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("unknown", "This value does not exist."),
        ("inactive", "This value does not exist."),
        ("malformed", "This value must be a 10-character alphanumeric id."),
    ],
)
async def test_tree_of_an_unusable_branch_id_is_422_on_branch_id(
    api: httpx.AsyncClient, ids: SampleIds, which: str, expected: str
) -> None:
    branch_id = {"unknown": "zzzzzzzzzz", "inactive": ids.inactive_branch, "malformed": "abc"}[
        which
    ]

    response = await api.get(f"/branches/{branch_id}/tree")

    assert response.status_code == 422
    assert error(response) == {"branchId": expected}
