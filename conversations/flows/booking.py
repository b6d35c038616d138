"""Own the booking flow: branch -> group -> service -> walk-in or date -> slot -> confirm -> ticket.

A booking is never made twice: before every booking request, and after one whose outcome is
unknown (timeout, 5xx), the customer's newest tickets are checked for the booking in question.

Skiplino has no idempotency key, and its answer may come after the client gave up, so a look
right after a timeout can miss a booking that lands later. Before the request leaves, the
session is saved with ``Session.pending_booking`` ("booking sent at T") through the engine's
checkpoint (the turn's compare-and-set save, under the chat's lock). We chose the checkpoint
over a separate store record: the record then shares the session's lock, version and TTL,
so the two can never disagree, and no store interface grows. While the record stands,
Confirm, Try again and Check again only look for the ticket (never send) and say honestly
that the booking is being checked. It is cleared when the ticket is found, when Skiplino
answered (booked or refused), when the request provably never left (``APINotSentError``),
or when it is older than ``PENDING_LIMIT`` with still no ticket.

The day and slot steps serve the reschedule flow too (``DateState``, ``SlotState``).
Must not import Telegram.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Literal

from bot.dates import parse_user_date
from bot.i18n import LocalDate, LocalTime, Ltr, Msg
from bot.skiplino import (
    APIConnectionError,
    APINotSentError,
    APIStatusError,
    BadRequestError,
    Branch,
    InternalServerError,
    RateLimitError,
    Service,
    ServiceGroup,
    Slot,
    Ticket,
    TicketType,
    UnprocessableEntityError,
)
from conversations import audit
from conversations.callback import CallbackData
from conversations.context import Ctx
from conversations.customers import customer_tickets
from conversations.flow import SHOWN, Flow, Outcome, Shown, State
from conversations.replies import Button
from conversations.session import BookingDraft, Paging, PendingBooking, RescheduleDraft
from conversations.ticket_card import TicketStep, card_of, show_ticket

log = logging.getLogger(__name__)

PAGE_SIZE = 8
DAY_BUTTONS = 7
MAX_DAYS_AHEAD = 90
NEXT_DAYS_SEARCHED = 14
_DAY = re.compile(r"^\d{8}$")
_SLOT = re.compile(r"^\d{12}$")
# Skiplino's clock may be this far behind ours: a ticket it stamps that much before our
# request was sent can still be that request's.
CLOCK_SKEW = timedelta(minutes=2)
# No booking request lives this long (the client's timeout is seconds, an update's deadline
# tens of seconds), so a pending booking this old whose ticket never appeared did not reach
# Skiplino's store: it counts as not made, and a new request may be sent.
PENDING_LIMIT = timedelta(minutes=10)


class BookingStep(StrEnum):
    """The states of the booking flow."""

    BRANCH = "book.branch"
    GROUP = "book.group"
    SERVICE = "book.service"
    MODE = "book.mode"
    DATE = "book.date"
    SLOT = "book.slot"
    CONFIRM = "book.confirm"


class BookingAction(StrEnum):
    """Buttons of the booking steps; the short codes are what callback data carries."""

    PAGE = "pg"
    BRANCH = "br"
    GROUP = "gr"
    SERVICE = "sv"
    WALK_IN = "walk"
    APPOINTMENT = "appt"
    DAY = "dt"
    SLOT = "sl"
    CONFIRM = "ok"


def _error_text(error: object) -> str:
    """Flatten an API error (string or per-field object) into the text the API meant."""
    if isinstance(error, dict):
        return " ".join(str(v) for v in error.values())
    return str(error) if error else ""


def _day_arg(day: date) -> str:
    """Encode a date for a button."""
    return day.strftime("%Y%m%d")


def _slot_arg(moment: datetime) -> str:
    """Encode a slot's UTC start for a button (minute precision)."""
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M")


def _parse_day(arg: str) -> date | None:
    """Decode a button date."""
    if not _DAY.match(arg):
        return None
    try:
        return datetime.strptime(arg, "%Y%m%d").date()
    except ValueError:
        return None


def _parse_slot(arg: str) -> datetime | None:
    """Decode a button slot time."""
    if not _SLOT.match(arg):
        return None
    try:
        return datetime.strptime(arg, "%Y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None


def _booking(ctx: Ctx) -> BookingDraft:
    """Return the current booking draft (an empty one if the step holds none)."""
    return ctx.draft_as(BookingDraft) or BookingDraft()


def _choices(ctx: Ctx) -> BookingDraft:
    """Carry the choices made so far (ids only) into the next step's draft."""
    # Ids only: names and open/appointment flags are looked up in the user's locale when shown,
    # so a language change needs no renaming and a flag is never older than the catalog cache.
    draft = _booking(ctx)
    return BookingDraft(
        branch_id=draft.branch_id, group_id=draft.group_id, service_id=draft.service_id
    )


def _back_to_branches(ctx: Ctx) -> Outcome:
    """Say the drafted choice is no longer offered and go back to the branch list."""
    while ctx.state != BookingStep.BRANCH and ctx.go_back():
        pass
    if ctx.state != BookingStep.BRANCH:
        ctx.reset()
        ctx.goto(BookingStep.BRANCH, Paging())
    ctx.notice(Msg("booking.gone"))
    return None


async def _show_branches_again(ctx: Ctx) -> Shown:
    """Say the drafted choice is no longer offered and show the branch list now."""
    _back_to_branches(ctx)
    return await BranchState().render(ctx)


async def _with_group(ctx: Ctx) -> tuple[Branch, ServiceGroup] | None:
    """Resolve the draft's branch and group; None when either is no longer offered."""
    chosen = await ctx.catalogue.choice(_booking(ctx), ctx.locale)
    if chosen is None or chosen.group is None:
        return None
    return chosen.branch, chosen.group


async def _with_service(ctx: Ctx) -> tuple[Branch, Service] | None:
    """Resolve the draft's branch and service; None when either is no longer offered."""
    chosen = await ctx.catalogue.choice(_booking(ctx), ctx.locale)
    if chosen is None or chosen.service is None:
        return None
    return chosen.branch, chosen.service


class BranchState(State):
    """Choose a branch (paged past eight)."""

    name = BookingStep.BRANCH

    async def render(self, ctx: Ctx) -> Shown:
        """List the active branches with their open/closed state."""
        branches = await ctx.catalogue.branches(ctx.locale)
        if not branches:
            return ctx.show(Msg("booking.no_branches"), buttons=[ctx.nav_row()])
        pages = max(1, -(-len(branches) // PAGE_SIZE))
        paging = ctx.draft_as(Paging) or Paging()
        page = min(max(paging.page, 0), pages - 1)
        rows = [
            [
                ctx.button(
                    Msg(
                        "booking.branch_open" if branch.is_open else "booking.branch_closed",
                        {"name": branch.name},
                    ),
                    BookingAction.BRANCH,
                    branch.id,
                )
            ]
            for branch in branches[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
        ]
        paging_row = []
        if page > 0:
            paging_row.append(ctx.button(Msg("common.prev"), BookingAction.PAGE, str(page - 1)))
        if page < pages - 1:
            paging_row.append(ctx.button(Msg("common.next"), BookingAction.PAGE, str(page + 1)))
        return ctx.show(Msg("booking.choose_branch"), buttons=[*rows, paging_row, ctx.nav_row()])

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> Outcome:
        """Open a page or a branch."""
        if data.action == BookingAction.PAGE and data.arg(0).isdigit():
            ctx.session.draft = Paging(page=int(data.arg(0)))
            return None
        # No format check on the id: only a branch of the current list is accepted, and the
        # branch id format is not documented (NOTES: inferred from examples).
        if data.action != BookingAction.BRANCH or not data.arg(0):
            return await super().on_tap(ctx, data)
        branches = await ctx.catalogue.branches(ctx.locale)
        branch = next((b for b in branches if b.id == data.arg(0)), None)
        if branch is None:
            ctx.notice(Msg("booking.gone"))
            return None
        groups = await ctx.catalogue.tree(branch.id, ctx.locale)
        if len(groups) == 1:
            # One group only: asking for it would be a step without a choice.
            draft = BookingDraft(branch_id=branch.id, group_id=groups[0].id)
            ctx.goto(BookingStep.SERVICE, draft)
        else:
            ctx.goto(BookingStep.GROUP, BookingDraft(branch_id=branch.id))
        return None


class GroupState(State):
    """Choose a service group."""

    name = BookingStep.GROUP

    async def render(self, ctx: Ctx) -> Shown:
        """List the branch's service groups."""
        chosen = await ctx.catalogue.choice(_booking(ctx), ctx.locale)
        if chosen is None:
            return await _show_branches_again(ctx)
        groups = await ctx.catalogue.tree(chosen.branch.id, ctx.locale)
        rows = [[ctx.button(group.name, BookingAction.GROUP, group.id)] for group in groups]
        return ctx.show(
            Msg("booking.choose_group", {"branch": chosen.branch.name}),
            *([Msg("booking.no_services")] if not groups else []),
            buttons=[*rows, ctx.nav_row()],
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> Outcome:
        """Open a group."""
        chosen = await ctx.catalogue.choice(_booking(ctx), ctx.locale)
        if chosen is None:
            return _back_to_branches(ctx)
        groups = await ctx.catalogue.tree(chosen.branch.id, ctx.locale)
        group = next((g for g in groups if g.id == data.arg(0)), None)
        if data.action != BookingAction.GROUP or group is None:
            return await super().on_tap(ctx, data)
        ctx.goto(BookingStep.SERVICE, _choices(ctx).model_copy(update={"group_id": group.id}))
        return None


class ServiceState(State):
    """Choose a service of the group."""

    name = BookingStep.SERVICE

    async def render(self, ctx: Ctx) -> Shown:
        """List the group's services, open/closed and walk-in/appointment."""
        found = await _with_group(ctx)
        if found is None:
            return await _show_branches_again(ctx)
        branch, group = found
        services = group.services
        rows = []
        for service in services:
            if service.is_appointment:
                key = "booking.service_appointment"
            elif service.is_open:
                key = "booking.service_walkin"
            else:
                key = "booking.service_closed"
            label = Msg(key, {"name": service.name})
            rows.append([ctx.button(label, BookingAction.SERVICE, service.id)])
        return ctx.show(
            Msg("booking.choose_service", {"branch": branch.name}),
            *([Msg("booking.no_services")] if not services else []),
            buttons=[*rows, ctx.nav_row()],
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> Outcome:
        """Open a service."""
        found = await _with_group(ctx)
        if found is None:
            return _back_to_branches(ctx)
        service = next((s for s in found[1].services if s.id == data.arg(0)), None)
        if data.action != BookingAction.SERVICE or service is None:
            return await super().on_tap(ctx, data)
        ctx.goto(BookingStep.MODE, _choices(ctx).model_copy(update={"service_id": service.id}))
        return None


class ModeState(State):
    """Join the queue now, or book a time."""

    name = BookingStep.MODE

    async def render(self, ctx: Ctx) -> Shown:
        """Offer what the service allows."""
        found = await _with_service(ctx)
        if found is None:
            return await _show_branches_again(ctx)
        _, service = found
        lines = [Msg("booking.service_title", {"service": service.name})]
        rows = []
        if service.is_open:
            rows.append([ctx.button(Msg("booking.join_queue"), BookingAction.WALK_IN)])
        else:
            lines.append(Msg("booking.service_closed_now"))
        if service.is_appointment:
            rows.append([ctx.button(Msg("booking.book_time"), BookingAction.APPOINTMENT)])
        elif not service.is_open:
            lines.append(Msg("booking.come_back_later"))
        return ctx.show(*lines, buttons=[*rows, ctx.nav_row()])

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> Outcome:
        """Go on with a walk-in or an appointment."""
        if data.action not in (BookingAction.WALK_IN, BookingAction.APPOINTMENT):
            return await super().on_tap(ctx, data)
        found = await _with_service(ctx)
        if found is None:
            return _back_to_branches(ctx)
        _, service = found
        if data.action == BookingAction.WALK_IN and service.is_open:
            await enter_confirm(ctx, mode="walkin")
            return None
        if data.action == BookingAction.APPOINTMENT and service.is_appointment:
            ctx.goto(BookingStep.DATE, _choices(ctx))
            return None
        return await super().on_tap(ctx, data)


def day_buttons(ctx: Ctx, days: list[date]) -> list[list[Button]]:
    """Lay out day buttons two per row."""
    buttons = [ctx.button(day_label(day), BookingAction.DAY, _day_arg(day)) for day in days]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def day_label(day: date) -> Msg:
    """Return a button label for a day."""
    return Msg("booking.day_label", {"day": LocalDate(day, "weekday")})


def day_problem(ctx: Ctx, day: date | None) -> Msg | None:
    """Return why ``day`` cannot be booked (unreadable, past, too far), or None."""
    if day is None:
        return Msg("booking.date_not_understood")
    today = ctx.today()
    if day < today:
        return Msg("booking.date_past")
    if day > today + timedelta(days=MAX_DAYS_AHEAD):
        return Msg("booking.date_too_far", {"days": MAX_DAYS_AHEAD})
    return None


def _day_choice(ctx: Ctx) -> BookingDraft | RescheduleDraft:
    """Return the current draft's service, day and time (empty if the step holds none)."""
    draft = ctx.draft
    return draft if isinstance(draft, BookingDraft | RescheduleDraft) else BookingDraft()


def choose_day(ctx: Ctx, day: date | None, next_state: str) -> Outcome:
    """Accept a day (from a button or typed) or explain why not."""
    problem = day_problem(ctx, day)
    if problem is not None or day is None:
        ctx.notice(problem or Msg("booking.date_not_understood"))
        return None
    ctx.goto(next_state, _day_choice(ctx).model_copy(update={"day": day}))
    return None


class DateState(State):
    """Choose a day: buttons for the coming week, or a typed date."""

    name: str = BookingStep.DATE
    next_state: str = BookingStep.SLOT

    async def service_name(self, ctx: Ctx) -> str | None:
        """Return the drafted service's name; None when it is no longer offered."""
        found = await _with_service(ctx)
        return found[1].name if found is not None else None

    async def render(self, ctx: Ctx) -> Shown:
        """Offer the next days."""
        service = await self.service_name(ctx)
        if service is None:
            return await self.when_gone(ctx)
        today = ctx.today()
        days = [today + timedelta(days=n) for n in range(DAY_BUTTONS)]
        return ctx.show(
            Msg("booking.choose_date", {"service": service}),
            buttons=[*day_buttons(ctx, days), ctx.nav_row()],
        )

    async def when_gone(self, ctx: Ctx) -> Shown:
        """Show the way on when what the step is about is gone."""
        return await _show_branches_again(ctx)

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> Outcome:
        """Take a day button."""
        if data.action != BookingAction.DAY:
            return await super().on_tap(ctx, data)
        return choose_day(ctx, _parse_day(data.arg(0)), self.next_state)

    async def on_text(self, ctx: Ctx, text: str) -> Outcome:
        """Take a typed date."""
        day = parse_user_date(text, locale=ctx.locale, now=ctx.now(), timezone=ctx.timezone)
        return choose_day(ctx, day, self.next_state)


async def free_slots(ctx: Ctx, service_id: str, day: date) -> list[Slot]:
    """Return the slots with places left on ``day`` (future ones only)."""
    slots = await ctx.api.get_service_slots(service_id, date=day, locale=ctx.locale)
    now = ctx.now()
    return [s for s in slots if s.remaining > 0 and s.time > now]


async def days_with_slots(ctx: Ctx, service_id: str, after: date, wanted: int = 3) -> list[date]:
    """Find the next days after ``after`` that have free slots."""
    found: list[date] = []
    for n in range(1, NEXT_DAYS_SEARCHED + 1):
        day = after + timedelta(days=n)
        try:
            if await free_slots(ctx, service_id, day):
                found.append(day)
        except UnprocessableEntityError:
            break
        if len(found) >= wanted:
            break
    return found


class SlotState(State):
    """Choose a time on the chosen day."""

    name: str = BookingStep.SLOT

    async def render(self, ctx: Ctx) -> Shown:
        """List the day's free slots, or offer the next days that have some."""
        draft = _day_choice(ctx)
        day = draft.day or ctx.today()
        service_id = draft.service_id or ""
        try:
            slots = await free_slots(ctx, service_id, day)
        except UnprocessableEntityError as exc:
            return ctx.show(
                Msg("booking.slots_refused", {"reason": _error_text(exc.error)}),
                buttons=[ctx.nav_row()],
            )
        title = Msg("booking.choose_slot", {"day": LocalDate(day, "long")})
        if not slots:
            days = await days_with_slots(ctx, service_id, day)
            return ctx.show(
                title,
                Msg("booking.no_slots_that_day"),
                *(
                    [Msg("booking.next_days_with_slots")]
                    if days
                    else [Msg("booking.no_slots_soon")]
                ),
                buttons=[*day_buttons(ctx, days), ctx.nav_row()],
            )
        buttons = [
            ctx.button(
                Msg(
                    "booking.slot_label",
                    {
                        "time": LocalTime(slot.time),
                        "places": Msg(
                            "slots.places_left", {"count": slot.remaining}, count=slot.remaining
                        ),
                    },
                ),
                BookingAction.SLOT,
                _slot_arg(slot.time),
            )
            for slot in slots
        ]
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
        return ctx.show(title, buttons=[*rows, ctx.nav_row()])

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> Outcome:
        """Take a slot that is still free, or switch to another suggested day."""
        draft = _day_choice(ctx)
        if data.action == BookingAction.DAY:
            day = _parse_day(data.arg(0))
            # Day buttons only offer bookable days: anything else is forged or stale.
            if len(data.args) != 1 or day is None or day_problem(ctx, day) is not None:
                return await super().on_tap(ctx, data)
            ctx.session.draft = draft.model_copy(update={"day": day})
            return None
        moment = _parse_slot(data.arg(0))
        if (
            data.action != BookingAction.SLOT
            or len(data.args) != 1
            or moment is None
            or draft.day is None
            or moment.astimezone(ctx.timezone).date() != draft.day
        ):
            return await super().on_tap(ctx, data)
        # Callback data is never trusted: the time must be one of the day's free slots now.
        # This also catches a slot taken since the list was shown, before Confirm.
        free = await free_slots(ctx, draft.service_id or "", draft.day)
        if moment not in {slot.time for slot in free}:
            ctx.notice(Msg("booking.slot_taken"))
            return None
        return await self.choose_slot(ctx, moment)

    async def choose_slot(self, ctx: Ctx, moment: datetime) -> Outcome:
        """Go on to the confirmation of ``moment``."""
        await enter_confirm(ctx, mode="appointment", time=moment)
        return None

    async def on_text(self, ctx: Ctx, text: str) -> Outcome:
        """A typed date here picks another day."""
        day = parse_user_date(text, locale=ctx.locale, now=ctx.now(), timezone=ctx.timezone)
        problem = day_problem(ctx, day)
        if problem is not None or day is None:
            ctx.notice(problem or Msg("booking.date_not_understood"))
            return None
        ctx.session.draft = _day_choice(ctx).model_copy(update={"day": day})
        return None


class ConfirmState(State):
    """Show what will be booked; book on Confirm."""

    name = BookingStep.CONFIRM

    async def render(self, ctx: Ctx) -> Shown:
        """Summarise the booking, or, while its request's outcome is unknown, look for it."""
        draft = _booking(ctx)
        pending = _pending_of(ctx, draft)
        if pending is not None:
            return await _look_for_pending(ctx, pending)
        found = await _with_service(ctx)
        if found is None:
            return await _show_branches_again(ctx)
        branch, service = found
        lines = [
            Msg("booking.confirm_title"),
            Msg("booking.summary_branch", {"branch": branch.name}),
            Msg("booking.summary_service", {"service": service.name}),
        ]
        if draft.mode == "appointment" and draft.time is not None:
            lines.append(
                Msg(
                    "booking.summary_time",
                    {
                        "day": LocalDate(draft.time.astimezone(ctx.timezone).date(), "long"),
                        "time": LocalTime(draft.time),
                    },
                )
            )
        else:
            lines.append(Msg("booking.summary_walkin"))
        if draft.held_numbers:
            # Booking again is allowed (a second ticket can be wanted), but never by surprise.
            numbers = Ltr(", ".join(draft.held_numbers))
            lines.append(Msg("booking.already_holding", {"numbers": numbers}))
        confirm = ctx.button(Msg("booking.confirm"), BookingAction.CONFIRM)
        return ctx.show(*lines, buttons=[[confirm], ctx.nav_row()])

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> Outcome:
        """Book (or look for the booking already sent)."""
        if data.action != BookingAction.CONFIRM:
            return await super().on_tap(ctx, data)
        outcome = await book(ctx)
        if ctx.state == TicketStep.CARD:
            # Booked or found: a second copy of this tap must leave the success card alone.
            ctx.settle_tap()
        return outcome


async def enter_confirm(
    ctx: Ctx, *, mode: Literal["walkin", "appointment"], time: datetime | None = None
) -> None:
    """Open the confirmation, noting the active tickets the user holds for this service now.

    A ticket of this service that is active and not among these, seen after a booking request,
    is that booking: the note is saved with the step before Confirm can be tapped, so even a
    crash between Skiplino's answer and our save cannot make a retry book twice, and a second
    ticket booked on purpose is never mistaken for the first.
    """
    found = await customer_tickets(ctx, create=True)
    page = found[1].items if found is not None else []
    current = _booking(ctx)
    held = [t for t in page if t.is_active and t.service.id == current.service_id]
    ctx.goto(
        BookingStep.CONFIRM,
        _choices(ctx).model_copy(
            update={
                "day": current.day,
                "mode": mode,
                "time": time,
                "held": [t.id for t in held],
                "held_numbers": [t.ticket_number for t in held],
            }
        ),
    )


def _is_booking_of(draft: BookingDraft, ticket: Ticket, since: datetime | None = None) -> bool:
    """Tell whether ``ticket`` is the booking ``draft`` asks for (booked at ``since`` or later)."""
    if ticket.service.id != draft.service_id or not ticket.is_active:
        return False
    if ticket.id in draft.held:
        return False
    if since is not None and ticket.booked_at < since - CLOCK_SKEW:
        return False
    if draft.mode == "appointment":
        return ticket.type == TicketType.APPOINTMENT and ticket.time == draft.time
    return ticket.type != TicketType.APPOINTMENT


async def find_booked(
    ctx: Ctx, draft: BookingDraft, since: datetime | None = None
) -> tuple[str, Ticket | None]:
    """Return the user's customer id and the ticket ``draft`` already booked, if any."""
    found = await customer_tickets(ctx, create=True)
    if found is None:  # pragma: no cover - create=True always yields a customer
        raise AssertionError("no customer")
    customer_id, page = found
    return customer_id, next((t for t in page.items if _is_booking_of(draft, t, since)), None)


def _pending_of(ctx: Ctx, draft: BookingDraft) -> PendingBooking | None:
    """Return the pending booking request for the booking ``draft`` asks for, if any."""
    pending = ctx.session.pending_booking
    if pending is None or pending.service_id != draft.service_id:
        return None
    if pending.mode != draft.mode or pending.time != draft.time:
        return None
    return pending


def _draft_of(pending: PendingBooking) -> BookingDraft:
    """Return the booking a pending request asked for, as a draft to look for."""
    return BookingDraft(
        service_id=pending.service_id, mode=pending.mode, time=pending.time, held=pending.held
    )


def _checking(ctx: Ctx) -> Shown:
    """Say the booking was sent and is being checked; offer to look again."""
    return ctx.show(
        Msg("booking.checking"),
        buttons=[[ctx.button(Msg("booking.check_again"), BookingAction.CONFIRM)], ctx.nav_row()],
    )


def _not_made(ctx: Ctx) -> Shown:
    """Say no ticket was made; Try again sends a new request."""
    return ctx.show(
        Msg("booking.not_confirmed"),
        buttons=[[ctx.button(Msg("common.try_again"), BookingAction.CONFIRM)], ctx.nav_row()],
    )


async def _look_for_pending(ctx: Ctx, pending: PendingBooking) -> Shown:
    """Look for the ticket of a request whose outcome is unknown; never send another."""
    service_id = pending.service_id
    try:
        _, ticket = await find_booked(ctx, _draft_of(pending), pending.sent_at)
    except (APIConnectionError, InternalServerError, RateLimitError):
        audit.record("booking", "unknown", ticket_id="", service_id=service_id)
        # The look itself failed: say so; Try again looks first, it never sends.
        return ctx.show(
            Msg("booking.outcome_unknown"),
            buttons=[
                [ctx.button(Msg("common.try_again"), BookingAction.CONFIRM)],
                ctx.nav_row(),
            ],
        )
    if ticket is not None:
        ctx.session.pending_booking = None
        audit.booked(ticket, "booked")
        return _booked(ctx, ticket)
    if ctx.now() - pending.sent_at < PENDING_LIMIT:
        audit.record("booking", "checking", ticket_id="", service_id=service_id)
        return _checking(ctx)
    # Older than any request can live and still no ticket: it never reached Skiplino's store.
    log.warning("a pending booking was never found; counting it as not made")
    ctx.session.pending_booking = None
    audit.record("booking", "not_made", ticket_id="", service_id=service_id)
    return _not_made(ctx)


def _booked(ctx: Ctx, ticket: Ticket) -> Shown:
    """Start over at the new ticket's card, saying it is booked."""
    ctx.reset(TicketStep.CARD, card_of(ctx, ticket))
    ctx.notice(Msg("booking.done"))
    return show_ticket(ctx, ticket)


async def book(ctx: Ctx) -> Outcome:
    """Book the drafted ticket exactly once."""
    draft = _booking(ctx)
    pending = _pending_of(ctx, draft)
    if pending is not None:
        return await _look_for_pending(ctx, pending)
    customer_id, existing = await find_booked(ctx, draft)
    if existing is not None:
        audit.booked(existing, "already_booked")
        return _booked(ctx, existing)
    service_id = draft.service_id or ""
    appointment = draft.mode == "appointment"
    ctx.session.pending_booking = PendingBooking(
        service_id=service_id,
        mode=draft.mode or "walkin",
        time=draft.time if appointment else None,
        held=draft.held,
        sent_at=ctx.now(),
    )
    if not await ctx.checkpoint():
        # The chat moved on under us (our lock expired): nothing is sent, and this update's
        # save fails the same way, so what it would show is dropped.
        log.warning("could not record the booking before sending it; not sending")
        return SHOWN
    try:
        ticket = await ctx.api.book_ticket(
            service_id=service_id,
            group_of_service_id=draft.group_id or "",
            time=draft.time if appointment else None,
            customer_id=customer_id,
            locale=ctx.locale,
        )
    except APINotSentError:
        # No connection was made, so Skiplino got nothing: the one case that is surely not made.
        ctx.session.pending_booking = None
        audit.record("booking", "not_made", ticket_id="", service_id=service_id)
        return _not_made(ctx)
    except (APIConnectionError, InternalServerError):
        # The request may have reached Skiplino and may still land: look, never resend.
        log.warning("booking outcome unknown; checking the customer's tickets")
        return await _look_for_pending(ctx, ctx.session.pending_booking)
    except APIStatusError as exc:
        # Any other status is Skiplino's answer to this request: nothing was stored.
        ctx.session.pending_booking = None
        return _refused(ctx, draft, exc)
    ctx.session.pending_booking = None
    audit.booked(ticket, "booked")
    return _booked(ctx, ticket)


def _refused(ctx: Ctx, draft: BookingDraft, exc: APIStatusError) -> Outcome:
    """Say why Skiplino refused the booking (a rule, a slot taken); re-raise anything else."""
    service_id = draft.service_id or ""
    if isinstance(exc, BadRequestError):
        audit.record("booking", "refused", ticket_id="", service_id=service_id)
        return ctx.show(
            Msg("booking.refused", {"reason": _error_text(exc.error) or exc.message}),
            buttons=[ctx.nav_row()],
        )
    if (
        isinstance(exc, UnprocessableEntityError)
        and draft.mode == "appointment"
        and exc.has_error("time")
    ):
        audit.record("booking", "slot_taken", ticket_id="", service_id=service_id)
        # Taken meanwhile: back to the day's fresh slot list.
        ctx.go_back()
        ctx.notice(Msg("booking.slot_taken"))
        return None
    raise exc


async def book_command(ctx: Ctx, arg: str) -> Outcome:
    """Start a booking from anywhere (/book)."""
    ctx.reset()
    ctx.goto(BookingStep.BRANCH, Paging())
    return None


BOOKING = Flow(
    name="booking",
    states={
        state.name: state
        for state in (
            BranchState(),
            GroupState(),
            ServiceState(),
            ModeState(),
            DateState(),
            SlotState(),
            ConfirmState(),
        )
    },
    commands={"book": book_command},
)
