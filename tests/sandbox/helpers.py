"""Shared constants and small helpers of the sandbox tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from sandbox import DEFAULT_PUBLIC_KEY, DEFAULT_SECRET_KEY, IN_PROCESS_API_URL

BAHRAIN = ZoneInfo("Asia/Bahrain")
# 09:00 on Wednesday 1 July 2026 in Bahrain (UTC+3): slots of 08:00-09:00 today are past.
NOW = datetime(2026, 7, 1, 6, 0, tzinfo=UTC)
TODAY = date(2026, 7, 1)
TOMORROW = date(2026, 7, 2)
SECRET = DEFAULT_SECRET_KEY
PUBLIC = DEFAULT_PUBLIC_KEY
BASE_URL = IN_PROCESS_API_URL


def slot(day: date, hour: int, minute: int = 0) -> str:
    """Return the API form (UTC, ms, Z) of a local Bahrain wall-clock time."""
    local = datetime.combine(day, time(hour, minute), tzinfo=BAHRAIN)
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def local_hhmm(value: str) -> str:
    """Return the Bahrain wall-clock HH:MM of an API time."""
    return datetime.fromisoformat(value).astimezone(BAHRAIN).strftime("%H:%M")


def data(response: httpx.Response) -> Any:
    """Return the envelope's data."""
    return response.json()["data"]


def error(response: httpx.Response) -> Any:
    """Return the envelope's error."""
    return response.json()["error"]
