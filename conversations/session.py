"""Own the session document of a chat: the current state, its typed draft, the Back stack.

A draft is what a step has gathered so far; each kind is a pydantic model and ``Draft`` is
their union, told apart by ``kind``. Drafts keep ids where the flows allow it: names and
flags are looked up in the user's locale when shown. A ticket card keeps the ticket as it
was fetched (it is shown again without a request), as the typed model. The store saves
``Session`` as JSON; a document of an older shape fails validation and the chat starts
over. Must not import Telegram or the flows.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.sessions.models import StoredSession
from bot.skiplino import Ticket

# The state every conversation starts in and returns to (Cancel, Main menu).
HOME_STATE = "menu"
# Back goes at most this far: a user tapping back and forth for hours must not grow it.
BACK_LIMIT = 12


class _Draft(BaseModel):
    """Base of every draft; fields an older version kept are ignored."""

    model_config = ConfigDict(extra="ignore")


class NoDraft(_Draft):
    """A step that gathers nothing (menu, help, language, phone, a missing ticket)."""

    kind: Literal["none"] = "none"


class Paging(_Draft):
    """A paged list: which page is shown."""

    kind: Literal["paging"] = "paging"
    page: int = 0


class DayChoice(_Draft):
    """What the day and slot steps need: the service, the day, the chosen time."""

    service_id: str | None = None
    day: date | None = None
    time: datetime | None = None


class BookingDraft(DayChoice):
    """A booking in the making: the chosen ids, the day and time, the tickets already held."""

    kind: Literal["booking"] = "booking"
    branch_id: str | None = None
    group_id: str | None = None
    mode: Literal["walkin", "appointment"] | None = None
    # Active tickets of this service the user held when the confirmation opened: a new one
    # seen after a booking request is that booking, these never are.
    held: list[str] = Field(default_factory=list)
    held_numbers: list[str] = Field(default_factory=list)


class PendingBooking(_Draft):
    """A booking request sent at ``sent_at`` whose outcome is not known yet.

    Saved before the request leaves; while it stands no request for the same booking is
    sent again, only looked for: a ticket of the service, not among ``held``, booked at or
    after ``sent_at`` (less a clock skew) is that booking.
    """

    service_id: str
    mode: Literal["walkin", "appointment"]
    time: datetime | None = None
    held: list[str] = Field(default_factory=list)
    sent_at: datetime


class TicketCard(_Draft):
    """A ticket as fetched at ``checked_at`` (its card, or the question to cancel it)."""

    kind: Literal["ticket"] = "ticket"
    ticket: Ticket
    checked_at: datetime | None = None


class RescheduleDraft(DayChoice):
    """Moving an appointment: the ticket as fetched, and the new day and time."""

    kind: Literal["reschedule"] = "reschedule"
    ticket: Ticket


Draft = Annotated[
    NoDraft | Paging | BookingDraft | TicketCard | RescheduleDraft, Field(discriminator="kind")
]


class Frame(BaseModel):
    """A step to return to with Back: its state and its draft."""

    state: str
    draft: Draft


class Session(StoredSession):
    """The conversation of one chat: everything needed to continue after a restart."""

    state: str = HOME_STATE
    # Required, so that a document stored before drafts were typed is not read as empty.
    draft: Draft
    back: list[Frame] = Field(default_factory=list)
    # Increases on every transition; buttons carry it so stale taps are recognised.
    step: int = 0
    # The callback data of the tap that ended with a result the user must keep seeing (a
    # booking made): a second copy of that tap, as a double tap sends, changes nothing.
    settled_tap: str | None = None
    # Kept beside the steps, not in a draft: Back, Cancel or a new /book must not forget a
    # request that may still land.
    pending_booking: PendingBooking | None = None


def ticket_of(draft: Draft) -> Ticket | None:
    """Return the ticket a draft keeps, if it keeps one."""
    return draft.ticket if isinstance(draft, TicketCard | RescheduleDraft) else None
