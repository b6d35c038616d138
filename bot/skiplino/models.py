"""Own the pydantic models of the Skiplino external v1 API schemas and its wire time format.

Attributes are snake_case with the API's camelCase as aliases (either name is accepted on
input). Unknown fields are ignored and the open-ended ``status``/``type`` stay plain
strings, so a newer API does not break the client; known values are constants on
``TicketStatus`` and ``TicketType``. Every timestamp is an aware datetime in UTC.

Must not import anything of the bot, nor Telegram (this package ships alone).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

__all__ = [
    "Branch",
    "BranchStatus",
    "Customer",
    "GeoLocation",
    "NamedRef",
    "Page",
    "Pagination",
    "Service",
    "ServiceGroup",
    "Slot",
    "Ticket",
    "TicketStatus",
    "TicketType",
    "UtcDateTime",
    "format_utc",
]


def format_utc(value: datetime) -> str:
    """Format an aware datetime the way the API wants it: UTC, milliseconds, trailing ``Z``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: give a time zone so it can be sent as UTC")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _as_utc(value: datetime) -> datetime:
    """Convert a parsed timestamp to aware UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        # The API documents UTC for every timestamp; a missing suffix still means UTC.
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDateTime = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
]
"""A timestamp held as aware UTC and written back in the API's ``...000Z`` form."""


class TicketStatus:
    """Known values of ``Ticket.status``; the API says the list is open-ended."""

    WAITING: Final = "waiting"
    UPCOMING: Final = "upcoming"
    SERVING: Final = "serving"
    SERVED: Final = "served"
    CANCELLED: Final = "cancelled"

    ACTIVE: Final = frozenset({WAITING, UPCOMING, SERVING})
    CANCELLABLE: Final = frozenset({WAITING, UPCOMING})


class TicketType:
    """Known values of ``Ticket.type``; the API says the list is open-ended."""

    SEQUENTIAL: Final = "sequential"
    APPOINTMENT: Final = "appointment"


class _ApiModel(BaseModel):
    """Base of every API model: camelCase aliases, unknown fields ignored, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )


class BranchStatus(_ApiModel):
    """Live state of a branch, computed by the API at request time."""

    is_branch_open: bool


class Branch(_ApiModel):
    """An active branch of the company; ``name`` follows X-Locale."""

    id: str
    name: str
    branch_status: BranchStatus

    @property
    def is_open(self) -> bool:
        """Tell whether the branch is open right now."""
        return self.branch_status.is_branch_open


class Service(_ApiModel):
    """A bookable service inside a service group."""

    id: str
    name: str
    is_open: bool
    is_appointment: bool


class ServiceGroup(_ApiModel):
    """A service group of a branch tree; its ``id`` is the booking's ``groupOfServiceId``."""

    id: str
    name: str
    services: list[Service]


class Slot(_ApiModel):
    """One appointment slot and the places still free in it."""

    time: UtcDateTime
    remaining: int


class NamedRef(_ApiModel):
    """An ``{id, name}`` reference embedded in a ticket."""

    id: str
    name: str


class GeoLocation(_ApiModel):
    """A WGS84 position sent with a booking."""

    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class Ticket(_ApiModel):
    """A walk-in (``sequential``) or appointment ticket as the API resolves it."""

    id: str
    ticket_number: str
    status: str
    # Shown nowhere; a ticket without it is still a ticket.
    status_at: UtcDateTime | None = None
    type: str
    # Null for walk-ins; tolerated when absent too.
    time: UtcDateTime | None = None
    branch: NamedRef
    service: NamedRef
    group_of_service: NamedRef
    # Null or absent for a walk-in booked without a customer.
    customer: NamedRef | None = None
    booked_at: UtcDateTime
    # Present only while the ticket is waiting.
    queue_size: int | None = None
    waiting_time: int | None = None

    @property
    def is_appointment(self) -> bool:
        """Tell whether this ticket is an appointment rather than a walk-in."""
        return self.type == TicketType.APPOINTMENT

    @property
    def is_active(self) -> bool:
        """Tell whether the ticket still leads to a visit (waiting, upcoming or serving)."""
        return self.status in TicketStatus.ACTIVE

    @property
    def can_cancel(self) -> bool:
        """Tell whether the API accepts a cancel for this ticket (waiting or upcoming)."""
        return self.status in TicketStatus.CANCELLABLE


class Customer(_ApiModel):
    """A customer of the company directory; fields never set are absent (None)."""

    id: str = Field(alias="_id")
    external_id: str | None = None
    # Required by the schema, but nothing here needs them: a response without them is
    # still a usable customer (tolerate the unknown, NOTES gap 6).
    company_id: str | None = None
    name: str | None = None
    email: str | None = None
    mobile: str | None = None
    metadata: dict[str, Any] | None = None
    created_at: UtcDateTime | None = None
    updated_at: UtcDateTime | None = None


class Pagination(_ApiModel):
    """The ``pagination`` object of paged responses; ``page``/``limit`` echoes are optional."""

    total: int
    total_pages: int
    has_next_page: bool
    has_prev_page: bool
    page: int | None = None
    limit: int | None = None


T = TypeVar("T", bound=BaseModel)


class Page(_ApiModel, Generic[T]):
    """One page of a paged list, with the paging facts the API reported."""

    items: list[T]
    total: int
    total_pages: int
    has_next_page: bool
    has_prev_page: bool
    page: int
    limit: int
