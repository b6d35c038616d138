"""Own message catalogs and locale-aware formatting (Babel + gettext .po files in locales/).

Must not import Telegram, conversations or the Skiplino client.
STUB: types are final; rendering is implemented by the localization work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Ltr:
    """A left-to-right fragment (ticket number, phone): wrapped in isolates in RTL text."""

    value: str


@dataclass(frozen=True)
class LocalDate:
    """A calendar date, formatted in the user's locale (e.g. 'Tue, 1 Dec')."""

    value: date
    style: str = "medium"  # "short" | "medium" | "long" | "weekday" (weekday + day + month)


@dataclass(frozen=True)
class LocalTime:
    """An instant, shown as wall-clock time in the company time zone (e.g. '09:30')."""

    value: datetime


@dataclass(frozen=True)
class LocalDateTime:
    """An instant, shown as date and time in the company time zone."""

    value: datetime


Param = "str | int | Ltr | LocalDate | LocalTime | LocalDateTime | Msg"


@dataclass(frozen=True)
class Msg:
    """A catalog message: key, parameters, and an optional count that picks the plural form.

    ``str`` parameters are shown as given (names the API returned in the user's locale).
    """

    key: str
    params: Mapping[str, object] = field(default_factory=dict)
    count: int | None = None
