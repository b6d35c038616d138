"""Own the sandbox's sample company: a Bahrain bank with bilingual branches, groups and services.

Everything is generated from a seeded RNG, so the same seed gives the same ids, queues and
full slots. Must not import bot, conversations or telegram.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sandbox.state import (
    BOOKING_DAYS,
    CANCELLED,
    SERVED,
    SERVING,
    SLOTS_PER_DAY,
    UPCOMING,
    WAITING,
    BranchRecord,
    CustomerRecord,
    GroupRecord,
    LocalizedName,
    ServiceRecord,
    World,
)


@dataclass(frozen=True)
class ServiceSpec:
    """Blueprint of a service; ``queue`` is how many people already wait in it."""

    name: LocalizedName
    key: str = ""
    appointment_capacity: int = 0  # > 0 makes the service take appointments
    is_open: bool = True
    active: bool = True
    queue: int = 0


@dataclass(frozen=True)
class GroupSpec:
    """Blueprint of a service group."""

    name: LocalizedName
    services: tuple[ServiceSpec, ...]
    key: str = ""
    kind: str = "service"
    active: bool = True


@dataclass(frozen=True)
class BranchSpec:
    """Blueprint of a branch."""

    name: LocalizedName
    groups: tuple[GroupSpec, ...]
    key: str = ""
    # Open/closed is a fixed flag, not a timetable: the open branches are open around the clock
    # in the sandbox so that tests give the same answer at any wall-clock hour.
    is_open: bool = True
    active: bool = True


TELLER = LocalizedName("Teller Services", "خدمات الصراف")
CUSTOMER_SERVICE = LocalizedName("Customer Service", "خدمة العملاء")
CASH_WITHDRAWAL = LocalizedName("Cash Withdrawal", "سحب نقدي")
CASH_DEPOSIT = LocalizedName("Cash Deposit", "إيداع نقدي")
ACCOUNT_OPENING = LocalizedName("Account Opening", "فتح حساب")
CARD_SERVICES = LocalizedName("Card Services", "خدمات البطاقات")

COMPANY: tuple[BranchSpec, ...] = (
    BranchSpec(
        LocalizedName("Seef Mall Branch", "فرع سيف مول"),
        key="open_branch",
        groups=(
            GroupSpec(
                TELLER,
                key="walk_in_group",
                services=(
                    ServiceSpec(CASH_WITHDRAWAL, key="walk_in_service", queue=5),
                    ServiceSpec(CASH_DEPOSIT, queue=2),
                    ServiceSpec(
                        LocalizedName("Foreign Exchange", "صرف العملات الأجنبية"),
                        key="closed_service",
                        is_open=False,
                    ),
                ),
            ),
            GroupSpec(
                CUSTOMER_SERVICE,
                key="appointment_group",
                services=(
                    ServiceSpec(
                        ACCOUNT_OPENING,
                        key="appointment_service",
                        appointment_capacity=3,
                        queue=1,
                    ),
                    ServiceSpec(CARD_SERVICES, queue=3),
                    ServiceSpec(
                        LocalizedName("Cheque Book Request", "طلب دفتر شيكات"),
                        key="inactive_service",
                        active=False,
                    ),
                ),
            ),
            GroupSpec(
                LocalizedName("Loans & Financing", "القروض والتمويل"),
                key="loans_group",
                services=(
                    ServiceSpec(
                        LocalizedName("Personal Loan Consultation", "استشارة قرض شخصي"),
                        key="loan_service",
                        appointment_capacity=2,
                    ),
                    ServiceSpec(
                        LocalizedName("Mortgage Advice", "استشارة التمويل العقاري"),
                        appointment_capacity=1,
                    ),
                ),
            ),
            # Left out of the tree: an inactive group, a group whose only service is inactive,
            # and a group that is not of type "service".
            GroupSpec(
                LocalizedName("Summer Campaign", "حملة الصيف"),
                active=False,
                services=(ServiceSpec(LocalizedName("Campaign Enquiries", "استفسارات الحملة")),),
            ),
            GroupSpec(
                LocalizedName("Safe Deposit Boxes", "صناديق الأمانات"),
                services=(
                    ServiceSpec(LocalizedName("Box Access", "الوصول إلى الصندوق"), active=False),
                ),
            ),
            GroupSpec(
                LocalizedName("Lobby Display", "شاشة الاستقبال"),
                kind="display",
                services=(ServiceSpec(LocalizedName("Announcements", "الإعلانات")),),
            ),
        ),
    ),
    BranchSpec(
        LocalizedName("Manama Central Branch", "فرع المنامة المركزي"),
        key="single_group_branch",
        groups=(
            GroupSpec(
                CUSTOMER_SERVICE,
                key="single_group",
                services=(
                    ServiceSpec(CASH_WITHDRAWAL, queue=4),
                    ServiceSpec(ACCOUNT_OPENING, appointment_capacity=2),
                ),
            ),
        ),
    ),
    BranchSpec(
        LocalizedName("Muharraq Branch", "فرع المحرق"),
        groups=(
            GroupSpec(
                TELLER,
                services=(
                    ServiceSpec(CASH_WITHDRAWAL, queue=3),
                    ServiceSpec(CASH_DEPOSIT, queue=1),
                    # No Arabic translation on purpose: the API falls back to the base name.
                    ServiceSpec(LocalizedName("Western Union"), key="untranslated_service"),
                ),
            ),
            GroupSpec(
                CUSTOMER_SERVICE,
                services=(
                    ServiceSpec(ACCOUNT_OPENING, appointment_capacity=2),
                    ServiceSpec(CARD_SERVICES, queue=2),
                ),
            ),
        ),
    ),
    BranchSpec(
        LocalizedName("Riffa Branch", "فرع الرفاع"),
        key="closed_branch",
        is_open=False,
        groups=(
            GroupSpec(
                TELLER,
                key="closed_branch_group",
                services=(ServiceSpec(CASH_WITHDRAWAL, key="closed_branch_service"),),
            ),
            GroupSpec(
                CUSTOMER_SERVICE,
                services=(ServiceSpec(ACCOUNT_OPENING, appointment_capacity=2),),
            ),
        ),
    ),
    BranchSpec(
        LocalizedName("Isa Town Branch", "فرع مدينة عيسى"),
        key="inactive_branch",
        active=False,
        groups=(GroupSpec(TELLER, services=(ServiceSpec(CASH_WITHDRAWAL),)),),
    ),
)

CUSTOMERS: tuple[dict[str, Any], ...] = (
    {
        "external_id": "crm-7741",
        "name": "Layla Hassan",
        "email": "layla.hassan@example.com",
        "mobile": "+97333445566",
        "metadata": {"tier": "gold", "source": "mobile-app"},
    },
    {"external_id": "crm-7742", "name": "Ahmed Al Mahmood", "mobile": "+97336112233"},
    {"external_id": "crm-7743", "name": "فاطمة علي"},
)

UPCOMING_SLOT_INDEX = 4  # Layla's appointment tomorrow at 10:00 local time


@dataclass(frozen=True)
class SampleIds:
    """Ids and dates of the sample company that tests and demos can rely on."""

    company_id: str
    open_branch: str  # Seef Mall: several groups, open
    single_group_branch: str  # Manama Central: exactly one group
    closed_branch: str  # Riffa: flagged closed
    inactive_branch: str  # Isa Town: inactive, never listed
    walk_in_group: str
    walk_in_service: str  # Cash Withdrawal at Seef Mall: walk-in only, people waiting
    appointment_group: str
    appointment_service: str  # Account Opening at Seef Mall: 3 places per slot
    loans_group: str
    loan_service: str  # Personal Loan Consultation: 2 places per slot
    single_group: str
    closed_service: str  # Foreign Exchange at Seef Mall: flagged closed (in walk_in_group)
    closed_branch_group: str
    closed_branch_service: str
    inactive_service: str  # in appointment_group but inactive: never in the tree
    untranslated_service: str  # no Arabic name
    customer_id: str  # Layla Hassan
    customer_external_id: str  # crm-7741
    other_customer_id: str  # Ahmed Al Mahmood
    other_customer_external_id: str
    quiet_customer_id: str  # Fatima Ali: no tickets
    waiting_ticket: str  # Ahmed's walk-in at the end of walk_in_service's queue
    upcoming_ticket: str  # Layla's appointment tomorrow 10:00 local at appointment_service
    served_ticket: str  # Layla's walk-in three days ago
    cancelled_ticket: str  # Layla's walk-in yesterday
    full_date: date  # local date on which no appointment service has a free slot
    full_slot: datetime  # a full slot (UTC) of appointment_service tomorrow


def build_company(world: World, specs: tuple[BranchSpec, ...] = COMPANY) -> dict[str, str]:
    """Create the branches, groups and services of ``specs``; return ids by spec key."""
    keys: dict[str, str] = {}
    for branch_spec in specs:
        branch = BranchRecord(
            id=world.new_short_id(),
            name=branch_spec.name,
            is_open=branch_spec.is_open,
            active=branch_spec.active,
        )
        world.branches.append(branch)
        if branch_spec.key:
            keys[branch_spec.key] = branch.id
        for group_spec in branch_spec.groups:
            group = GroupRecord(
                id=world.new_short_id(),
                name=group_spec.name,
                branch_id=branch.id,
                kind=group_spec.kind,
                active=group_spec.active,
            )
            branch.groups.append(group)
            if group_spec.key:
                keys[group_spec.key] = group.id
            for service_spec in group_spec.services:
                service = ServiceRecord(
                    id=world.new_short_id(),
                    name=service_spec.name,
                    branch_id=branch.id,
                    group_id=group.id,
                    is_appointment=service_spec.appointment_capacity > 0,
                    is_open=service_spec.is_open,
                    active=service_spec.active,
                    capacity=service_spec.appointment_capacity,
                )
                group.services.append(service)
                if service_spec.key:
                    keys[service_spec.key] = service.id
    return keys


def _queue_lengths(specs: tuple[BranchSpec, ...]) -> list[int]:
    """Return the seeded queue length of every service, in creation order."""
    return [s.queue for b in specs for g in b.groups for s in g.services]


def build_sample(world: World, now: datetime) -> SampleIds:
    """Fill ``world`` with the sample company, customers, queues and booked slots."""
    rng = world.rng
    keys = build_company(world)
    for branch in world.branches:
        world.set_number_start(branch.id, "Q", rng.randint(5, 20))
        world.set_number_start(branch.id, "A", rng.randint(5, 20))

    customers = []
    for index, fields in enumerate(CUSTOMERS):
        created = now - timedelta(days=30 - index)
        customer = CustomerRecord(
            id=world.new_customer_id(),
            company_id=world.company_id,
            created_at=created,
            updated_at=created,
            seq=world.next_seq(),
            **fields,
        )
        world.customers.append(customer)
        customers.append(customer)
    layla, ahmed, fatima = customers

    # Someone is being served at every queue that has people waiting, as in a real branch.
    waiting_ticket = None
    for service, length in zip(world.all_services(), _queue_lengths(COMPANY), strict=True):
        if length == 0:
            continue
        world.add_ticket(service, SERVING, at=now - timedelta(minutes=3 * length + 5))
        for position in range(length):
            last = position == length - 1
            owner = ahmed if last and service.id == keys["walk_in_service"] else None
            ticket = world.add_ticket(
                service,
                WAITING,
                at=now - timedelta(minutes=3 * (length - position)),
                customer=owner,
            )
            if owner is not None:
                waiting_ticket = ticket
    assert waiting_ticket is not None

    tomorrow = world.today(now) + timedelta(days=1)
    appointment = world.any_service(keys["appointment_service"])
    upcoming_time = world.slot_starts(tomorrow)[UPCOMING_SLOT_INDEX]
    upcoming = world.add_ticket(
        appointment,
        UPCOMING,
        at=now - timedelta(hours=20),
        customer=layla,
        time=upcoming_time,
    )
    walk_in = world.any_service(keys["walk_in_service"])
    served = world.add_ticket(walk_in, SERVED, at=now - timedelta(days=3), customer=layla)
    single = world.service(world.any_group(keys["single_group"]).services[0].id)
    assert single is not None
    cancelled = world.add_ticket(single, CANCELLED, at=now - timedelta(days=1), customer=layla)

    full_date, full_slot = _book_outside_places(world, now, appointment, upcoming_time, rng)
    return SampleIds(
        company_id=world.company_id,
        open_branch=keys["open_branch"],
        single_group_branch=keys["single_group_branch"],
        closed_branch=keys["closed_branch"],
        inactive_branch=keys["inactive_branch"],
        walk_in_group=keys["walk_in_group"],
        walk_in_service=keys["walk_in_service"],
        appointment_group=keys["appointment_group"],
        appointment_service=keys["appointment_service"],
        loans_group=keys["loans_group"],
        loan_service=keys["loan_service"],
        single_group=keys["single_group"],
        closed_service=keys["closed_service"],
        closed_branch_group=keys["closed_branch_group"],
        closed_branch_service=keys["closed_branch_service"],
        inactive_service=keys["inactive_service"],
        untranslated_service=keys["untranslated_service"],
        customer_id=layla.id,
        customer_external_id=str(layla.external_id),
        other_customer_id=ahmed.id,
        other_customer_external_id=str(ahmed.external_id),
        quiet_customer_id=fatima.id,
        waiting_ticket=waiting_ticket.id,
        upcoming_ticket=upcoming.id,
        served_ticket=served.id,
        cancelled_ticket=cancelled.id,
        full_date=full_date,
        full_slot=full_slot,
    )


def _book_outside_places(
    world: World,
    now: datetime,
    appointment: ServiceRecord,
    upcoming_time: datetime,
    rng: random.Random,
) -> tuple[date, datetime]:
    """Take slot places as other channels would: some partly, a few fully, one whole day."""
    days = world.booking_days(now)
    # Not today or tomorrow, so the nearest days always have free slots.
    full_date = days[rng.randint(3, BOOKING_DAYS - 2)]
    full_index = rng.choice([i for i in range(SLOTS_PER_DAY) if i != UPCOMING_SLOT_INDEX])
    full_slot = world.slot_starts(days[1])[full_index]
    for service in world.all_services():
        if not service.is_appointment:
            continue
        for day in days:
            for instant in world.slot_starts(day):
                roll = rng.random()
                if day == full_date or roll < 0.06:
                    world.taken[(service.id, instant)] = service.capacity
                elif roll < 0.35 and service.capacity > 1:
                    world.taken[(service.id, instant)] = rng.randint(1, service.capacity - 1)
    world.taken[(appointment.id, upcoming_time)] = 0
    world.taken[(appointment.id, full_slot)] = appointment.capacity
    return full_date, full_slot
