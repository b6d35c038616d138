"""GET /services/{id}/slots: free appointment slots of one day in the company time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sandbox import SampleIds, Sandbox
from tests.sandbox.conftest import ClientFactory, FakeClock
from tests.sandbox.helpers import NOW, TODAY, TOMORROW, data, error, local_hhmm, slot

HALF_HOURS = [f"{h:02d}:{m:02d}" for h in range(8, 16) for m in (0, 30)]


async def test_slots_default_to_today_and_leave_out_past_times(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.get(f"/services/{ids.appointment_service}/slots")

    assert response.status_code == 200
    assert response.json()["message"] == "Slots fetched successfully."
    slots = data(response)
    assert slots
    for item in slots:
        moment = datetime.fromisoformat(item["time"])
        assert moment > NOW
        assert moment.astimezone(UTC).date() == TODAY
        assert local_hhmm(item["time"]) in HALF_HOURS
    assert "09:00" not in [local_hhmm(s["time"]) for s in slots]  # 09:00 is now, not future


async def test_slots_of_a_day_are_half_hours_from_8_to_16_local_with_free_places(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.get(
        f"/services/{ids.appointment_service}/slots", params={"date": TOMORROW.isoformat()}
    )

    slots = data(response)
    times = [local_hhmm(s["time"]) for s in slots]
    assert times == sorted(times)
    assert set(times) <= set(HALF_HOURS)
    assert len(times) >= 8  # only a few slots are full on an ordinary day
    assert all(1 <= s["remaining"] <= 3 for s in slots)
    assert all(s["time"].endswith(".000Z") for s in slots)


async def test_a_booked_slot_shows_one_place_less(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    url = f"/services/{ids.appointment_service}/slots"
    upcoming = sandbox.ticket(ids.upcoming_ticket)
    assert upcoming.time is not None

    slots = data(await api.get(url, params={"date": TOMORROW.isoformat()}))

    at_ten = next(s for s in slots if local_hhmm(s["time"]) == "10:00")
    assert at_ten == {"time": slot(TOMORROW, 10), "remaining": 2}


async def test_full_slots_are_left_out(
    api: httpx.AsyncClient, sandbox: Sandbox, ids: SampleIds
) -> None:
    url = f"/services/{ids.appointment_service}/slots"
    sandbox.fill_slot(ids.appointment_service, slot(TOMORROW, 11, 30))

    times = [s["time"] for s in data(await api.get(url, params={"date": "2026-07-02"}))]

    assert slot(TOMORROW, 11, 30) not in times
    assert ids.full_slot.strftime("%Y-%m-%dT%H:%M:%S.000Z") not in times


async def test_the_fully_booked_day_returns_an_empty_list(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    for service in (ids.appointment_service, ids.loan_service):
        response = await api.get(
            f"/services/{service}/slots", params={"date": ids.full_date.isoformat()}
        )

        assert response.status_code == 200
        assert data(response) == []


async def test_only_today_and_the_next_13_days_offer_slots(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    url = f"/services/{ids.loan_service}/slots"
    last = TODAY + timedelta(days=13)
    if last == ids.full_date:  # pragma: no cover - depends on the seed
        last -= timedelta(days=1)

    last_day = await api.get(url, params={"date": last.isoformat()})
    too_far = await api.get(url, params={"date": (TODAY + timedelta(days=14)).isoformat()})

    assert data(last_day)
    assert data(too_far) == []


async def test_slots_of_a_walk_in_service_are_refused_with_the_documented_message(
    api: httpx.AsyncClient, ids: SampleIds
) -> None:
    response = await api.get(f"/services/{ids.walk_in_service}/slots")

    assert response.status_code == 422
    assert error(response) == {"id": "This service does not support appointment booking."}


async def test_slots_of_a_past_date_are_422(api: httpx.AsyncClient, ids: SampleIds) -> None:
    response = await api.get(
        f"/services/{ids.appointment_service}/slots", params={"date": "2026-06-30"}
    )

    assert response.status_code == 422
    assert error(response) == {"date": "The date must be today or later."}


@pytest.mark.parametrize(
    "value", ["2026/07/02", "02-07-2026", "20260702", "tomorrow", "2026-02-30"]
)
async def test_slots_need_a_yyyy_mm_dd_date(
    api: httpx.AsyncClient, ids: SampleIds, value: str
) -> None:
    response = await api.get(f"/services/{ids.appointment_service}/slots", params={"date": value})

    assert response.status_code == 422
    assert set(error(response)) == {"date"}


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ("zzzzzzzzzz", "This value does not exist."),
        ("inactive", "This value does not exist."),
        ("short", "This value must be a 10-character alphanumeric id."),
    ],
)
async def test_slots_of_an_unusable_service_id_are_422_on_id(
    api: httpx.AsyncClient, ids: SampleIds, service: str, expected: str
) -> None:
    service_id = ids.inactive_service if service == "inactive" else service

    response = await api.get(f"/services/{service_id}/slots")

    assert response.status_code == 422
    assert error(response) == {"id": expected}


async def test_today_is_the_company_date_not_the_utc_date(
    connect: ClientFactory, clock: FakeClock
) -> None:
    # 22:30 UTC on 1 July is 01:30 on 2 July in Bahrain.
    clock.now = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)
    sandbox = Sandbox(clock=clock)
    client = connect(target=sandbox)
    url = f"/services/{sandbox.sample.appointment_service}/slots"

    default_day = data(await client.get(url))
    utc_day = await client.get(url, params={"date": "2026-07-01"})

    assert default_day
    assert all(s["time"].startswith("2026-07-02T") for s in default_day)
    assert local_hhmm(default_day[0]["time"]) in HALF_HOURS[:3]
    assert utc_day.status_code == 422


async def test_late_in_the_day_today_has_no_slots_left(
    connect: ClientFactory, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 7, 1, 13, 0, tzinfo=UTC)  # 16:00 in Bahrain
    sandbox = Sandbox(clock=clock)

    response = await connect(target=sandbox).get(
        f"/services/{sandbox.sample.appointment_service}/slots"
    )

    assert response.status_code == 200
    assert data(response) == []
