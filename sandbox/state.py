"""Own the sandbox's in-memory world: company tree, customers, tickets, slots and the moving queue.

Plain data and synchronous rules, no I/O and no HTTP. Must not import bot, conversations
or telegram.
"""

from __future__ import annotations

import itertools
import math
import random
import string
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

WAITING = "waiting"
UPCOMING = "upcoming"
SERVING = "serving"
SERVED = "served"
CANCELLED = "cancelled"

SEQUENTIAL = "sequential"
APPOINTMENT = "appointment"

ID_ALPHABET = string.ascii_lowercase + string.digits
SHORT_ID_LENGTH = 10

# Appointment slots start every 30 minutes from 08:00; the last one starts at 15:30 so that it
# ends at 16:00, the close of the appointment day.
FIRST_SLOT = time(8, 0)
SLOT_MINUTES = 30
SLOTS_PER_DAY = 16
BOOKING_DAYS = 14  # today and the next 13 days

# Used for waitingTime only when the simulated pace is switched off (interval 0 or infinite).
FALLBACK_MINUTES_PER_TICKET = 4.0


@dataclass(frozen=True)
class LocalizedName:
    """A bilingual name; ``ar`` is None when the company has no translation."""

    en: str
    ar: str | None = None

    def get(self, locale: str) -> str:
        """Return the name in ``locale``, falling back to the base (English) name."""
        if locale == "ar" and self.ar:
            return self.ar
        return self.en


@dataclass
class ServiceRecord:
    """A service of one branch; ``capacity`` is the number of places per appointment slot."""

    id: str
    name: LocalizedName
    branch_id: str
    group_id: str
    is_appointment: bool = False
    is_open: bool = True
    active: bool = True
    capacity: int = 0


@dataclass
class GroupRecord:
    """A group of services in a branch; only ``kind == "service"`` groups reach the tree."""

    id: str
    name: LocalizedName
    branch_id: str
    services: list[ServiceRecord] = field(default_factory=list)
    kind: str = "service"
    active: bool = True


@dataclass
class BranchRecord:
    """A branch; ``is_open`` is a fixed flag in the sandbox (see data.py)."""

    id: str
    name: LocalizedName
    groups: list[GroupRecord] = field(default_factory=list)
    is_open: bool = True
    active: bool = True


@dataclass
class CustomerRecord:
    """A customer record; optional fields that were never set stay None and are not returned."""

    id: str
    company_id: str
    created_at: datetime
    updated_at: datetime
    seq: int
    external_id: str | None = None
    name: str | None = None
    email: str | None = None
    mobile: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass
class TicketRecord:
    """A walk-in (``sequential``) or appointment ticket.

    ``queued_at`` orders the live queue: booking time for walk-ins, appointment time for an
    appointment that turned ``waiting``. ``customer_name`` is a snapshot so a ticket still shows
    its customer after the customer record is deleted (the docs say tickets are kept).
    """

    id: str
    number: str
    type: str
    status: str
    status_at: datetime
    time: datetime | None
    branch_id: str
    group_id: str
    service_id: str
    customer_id: str | None
    customer_name: str | None
    booked_at: datetime
    seq: int
    queued_at: datetime | None = None


def to_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class World:
    """Hold every record of the sandbox and apply the rules that change them."""

    def __init__(
        self, *, tz: ZoneInfo, rng: random.Random, serve_interval_seconds: float, now: datetime
    ) -> None:
        """Start an empty world whose queues begin ticking at ``now``."""
        self.tz = tz
        self.rng = rng
        self.serve_interval_seconds = serve_interval_seconds
        self.company_id = f"cmp_{rng.getrandbits(24):06x}"
        self.branches: list[BranchRecord] = []
        self.customers: list[CustomerRecord] = []
        self.tickets: list[TicketRecord] = []
        # Places of a slot taken by bookings made outside this sandbox (other channels).
        self.taken: dict[tuple[str, datetime], int] = {}
        self.started_at = to_utc(now)
        self._used_ids: set[str] = set()
        self._seq = itertools.count(1)
        self._last_tick: dict[str, datetime] = {}
        self._numbers: dict[tuple[str, str], int] = {}
        self._slot_cache: dict[date, list[datetime]] = {}

    # -- identifiers -------------------------------------------------------------------------

    def new_short_id(self) -> str:
        """Return a fresh 10-character lowercase alphanumeric id from the seeded RNG."""
        while True:
            candidate = "".join(self.rng.choice(ID_ALPHABET) for _ in range(SHORT_ID_LENGTH))
            if candidate not in self._used_ids:
                self._used_ids.add(candidate)
                return candidate

    def new_customer_id(self) -> str:
        """Return a fresh 32-character lowercase hexadecimal customer id."""
        while True:
            candidate = f"{self.rng.getrandbits(128):032x}"
            if candidate not in self._used_ids:
                self._used_ids.add(candidate)
                return candidate

    def next_seq(self) -> int:
        """Return the next insertion sequence number (orders records booked at the same instant)."""
        return next(self._seq)

    def next_number(self, branch_id: str, prefix: str) -> str:
        """Return the next display number of a branch for walk-ins (Q) or appointments (A)."""
        key = (branch_id, prefix)
        self._numbers[key] = self._numbers.get(key, 0) + 1
        return f"{prefix}{self._numbers[key]:03d}"

    def set_number_start(self, branch_id: str, prefix: str, last: int) -> None:
        """Make the next display number of a branch follow ``last``."""
        self._numbers[(branch_id, prefix)] = last

    def add_ticket(
        self,
        service: ServiceRecord,
        status: str,
        *,
        at: datetime,
        customer: CustomerRecord | None = None,
        time: datetime | None = None,
    ) -> TicketRecord:
        """Book a ticket of ``service`` at ``at``: an appointment at ``time``, else a walk-in."""
        appointment = time is not None
        ticket = TicketRecord(
            id=self.new_short_id(),
            number=self.next_number(service.branch_id, "A" if appointment else "Q"),
            type=APPOINTMENT if appointment else SEQUENTIAL,
            status=status,
            status_at=at,
            time=time,
            branch_id=service.branch_id,
            group_id=service.group_id,
            service_id=service.id,
            customer_id=customer.id if customer else None,
            customer_name=customer.name if customer else None,
            booked_at=at,
            seq=self.next_seq(),
            queued_at=at if status in (WAITING, SERVING) else None,
        )
        self.tickets.append(ticket)
        return ticket

    # -- lookups -----------------------------------------------------------------------------

    def active_branches(self) -> list[BranchRecord]:
        """Return the branches the API lists (active ones)."""
        return [branch for branch in self.branches if branch.active]

    def branch(self, branch_id: str) -> BranchRecord | None:
        """Return the active branch with this id."""
        return next((b for b in self.branches if b.id == branch_id and b.active), None)

    def any_branch(self, branch_id: str) -> BranchRecord:
        """Return the branch with this id, active or not (for rendering old tickets)."""
        return next(b for b in self.branches if b.id == branch_id)

    def all_services(self) -> list[ServiceRecord]:
        """Return every service of every branch, active or not."""
        return [s for b in self.branches for g in b.groups for s in g.services]

    def all_groups(self) -> list[GroupRecord]:
        """Return every group of every branch, active or not."""
        return [g for b in self.branches for g in b.groups]

    def group(self, group_id: str) -> GroupRecord | None:
        """Return the bookable group with this id (active, of type service, in an active branch)."""
        for branch in self.active_branches():
            for group in branch.groups:
                if group.id == group_id and group.active and group.kind == "service":
                    return group
        return None

    def service(self, service_id: str) -> ServiceRecord | None:
        """Return the bookable service with this id (active, in a bookable group)."""
        for service in self.all_services():
            if service.id == service_id and service.active and self.group(service.group_id):
                return service
        return None

    def any_service(self, service_id: str) -> ServiceRecord:
        """Return the service with this id, active or not."""
        return next(s for s in self.all_services() if s.id == service_id)

    def any_group(self, group_id: str) -> GroupRecord:
        """Return the group with this id, active or not."""
        return next(g for g in self.all_groups() if g.id == group_id)

    def customer_by_id(self, customer_id: str) -> CustomerRecord | None:
        """Return the customer with this ``_id``."""
        return next((c for c in self.customers if c.id == customer_id), None)

    def customer_by_external_id(self, external_id: str) -> CustomerRecord | None:
        """Return the customer with this ``externalId``."""
        return next((c for c in self.customers if c.external_id == external_id), None)

    def ticket(self, ticket_id: str) -> TicketRecord | None:
        """Return the ticket with this id."""
        return next((t for t in self.tickets if t.id == ticket_id), None)

    # -- appointment slots -------------------------------------------------------------------

    def today(self, now: datetime) -> date:
        """Return today's date in the company time zone."""
        return now.astimezone(self.tz).date()

    def booking_days(self, now: datetime) -> list[date]:
        """Return the local dates that offer appointment slots."""
        today = self.today(now)
        return [today + timedelta(days=offset) for offset in range(BOOKING_DAYS)]

    def slot_starts(self, day: date) -> list[datetime]:
        """Return the UTC start instants of every slot of a local day."""
        if day not in self._slot_cache:
            first = datetime.combine(day, FIRST_SLOT, tzinfo=self.tz)
            self._slot_cache[day] = [
                (first + timedelta(minutes=SLOT_MINUTES * index)).astimezone(UTC)
                for index in range(SLOTS_PER_DAY)
            ]
        return list(self._slot_cache[day])

    def is_offered(self, service: ServiceRecord, instant: datetime, now: datetime) -> bool:
        """Tell whether ``instant`` is a future slot start of an offered day for ``service``."""
        if not service.is_appointment or instant <= now:
            return False
        day = instant.astimezone(self.tz).date()
        return day in self.booking_days(now) and instant in self.slot_starts(day)

    def remaining(
        self, service: ServiceRecord, instant: datetime, *, excluding: TicketRecord | None = None
    ) -> int:
        """Return the free places of a slot, not counting ``excluding``'s own place."""
        booked = sum(
            1
            for t in self.tickets
            if t.service_id == service.id
            and t.type == APPOINTMENT
            and t.time == instant
            and t.status != CANCELLED
            and t is not excluding
        )
        used = booked + self.taken.get((service.id, instant), 0)
        return max(0, service.capacity - used)

    def free_slots(
        self, service: ServiceRecord, day: date, now: datetime
    ) -> list[tuple[datetime, int]]:
        """Return the future slots of ``day`` that still have places, with their free places."""
        if day not in self.booking_days(now):
            return []
        slots = []
        for instant in self.slot_starts(day):
            if instant <= now:
                continue
            left = self.remaining(service, instant)
            if left > 0:
                slots.append((instant, left))
        return slots

    def fill_slot(self, service: ServiceRecord, instant: datetime, *, leave: int = 0) -> None:
        """Take places of a slot from outside so that exactly ``leave`` places remain."""
        instant = to_utc(instant)
        key = (service.id, instant)
        self.taken[key] = 0
        free_without_outside = self.remaining(service, instant)
        self.taken[key] = max(0, free_without_outside - max(0, leave))

    # -- the queue ---------------------------------------------------------------------------

    def _queue_key(self, ticket: TicketRecord) -> tuple[datetime, int]:
        """Return the position key of a waiting ticket."""
        return (ticket.queued_at or ticket.booked_at, ticket.seq)

    def waiting_tickets(self, service_id: str) -> list[TicketRecord]:
        """Return the waiting tickets of a service, head of the queue first."""
        waiting = [t for t in self.tickets if t.service_id == service_id and t.status == WAITING]
        return sorted(waiting, key=self._queue_key)

    def people_ahead(self, ticket: TicketRecord) -> int:
        """Return how many waiting tickets of the same service were queued before ``ticket``."""
        mine = self._queue_key(ticket)
        return sum(
            1
            for t in self.tickets
            if t.service_id == ticket.service_id
            and t.status == WAITING
            and t is not ticket
            and self._queue_key(t) < mine
        )

    def minutes_per_ticket(self) -> float:
        """Return the average service time used for estimates, matching the simulated pace."""
        interval = self.serve_interval_seconds
        if interval <= 0 or not math.isfinite(interval):
            return FALLBACK_MINUTES_PER_TICKET
        return interval / 60.0

    def waiting_minutes(self, ahead: int) -> int:
        """Return the rounded wait estimate for ``ahead`` people."""
        return round(ahead * self.minutes_per_ticket())

    def set_status(self, ticket: TicketRecord, status: str, at: datetime) -> None:
        """Move ``ticket`` to ``status`` at ``at``."""
        ticket.status = status
        ticket.status_at = at
        if status == WAITING and ticket.queued_at is None:
            ticket.queued_at = at

    def step(self, service_id: str, at: datetime) -> int:
        """Finish the ticket being served and call the head of the queue; return tickets moved."""
        moved = 0
        for ticket in self.tickets:
            if ticket.service_id == service_id and ticket.status == SERVING:
                self.set_status(ticket, SERVED, at)
                moved += 1
        queue = self.waiting_tickets(service_id)
        if queue:
            self.set_status(queue[0], SERVING, at)
            moved += 1
        return moved

    def advance(self, service_id: str | None, steps: int, now: datetime) -> int:
        """Move one or every service's queue ``steps`` times now; return tickets moved."""
        targets = [service_id] if service_id else [s.id for s in self.all_services()]
        moved = 0
        for target in targets:
            for _ in range(steps):
                moved += self.step(target, now)
        return moved

    def catch_up(self, now: datetime) -> None:
        """Bring the world up to ``now``: due appointments join the queue, queues move on."""
        for ticket in self.tickets:
            # The docs never say when an appointment turns waiting; the sandbox does it at the
            # appointment time, as if the customer checked in punctually.
            if (
                ticket.type == APPOINTMENT
                and ticket.status == UPCOMING
                and ticket.time is not None
                and ticket.time <= now
            ):
                self.set_status(ticket, WAITING, ticket.time)
                ticket.queued_at = ticket.time
        interval = self.serve_interval_seconds
        if interval <= 0 or not math.isfinite(interval):
            return
        for service in self.all_services():
            last = self._last_tick.setdefault(service.id, self.started_at)
            steps = int((now - last).total_seconds() // interval)
            if steps <= 0:
                continue
            self._last_tick[service.id] = last + timedelta(seconds=steps * interval)
            # More steps than tickets in the queue change nothing, so an idle night stays cheap.
            busy = len(self.waiting_tickets(service.id)) + 1
            for index in range(min(steps, busy)):
                if not self.step(service.id, last + timedelta(seconds=(index + 1) * interval)):
                    break
