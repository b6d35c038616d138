"""Own the booking flow: branch -> group -> service -> walk-in or date -> slot -> confirm -> ticket.

A booking is never made twice: before every booking request, and after one whose outcome is
unknown (timeout, 5xx), the customer's newest tickets are checked for the booking in question.
Must not import Telegram.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.dates import parse_user_date
from bot.i18n import LocalDate, LocalTime, Ltr, Msg
from bot.skiplino import (
    APIConnectionError,
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
from conversations import catalog
from conversations.callback import CallbackData
from conversations.context import Ctx
from conversations.customers import customer_tickets
from conversations.registry import State, register
from conversations.tickets import show_ticket

log = logging.getLogger(__name__)

PAGE_SIZE = 8
DAY_BUTTONS = 7
MAX_DAYS_AHEAD = 90
NEXT_DAYS_SEARCHED = 14
_DAY = re.compile(r"^\d{8}$")
_SLOT = re.compile(r"^\d{12}$")


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


def _flow(ctx: Ctx, **more: Any) -> dict[str, Any]:
    """Carry the choices made so far into the next step's data."""
    # Ids only: names and open/appointment flags are looked up in the user's locale when shown,
    # so a language change needs no renaming and a flag is never older than the catalog cache.
    keep = ("branch_id", "group_id", "service_id")
    data = {k: ctx.data[k] for k in keep if k in ctx.data}
    data.update(more)
    return data


async def _gone(ctx: Ctx) -> None:
    """Say the drafted choice is no longer offered and show the branch list again."""
    while ctx.state != BranchState.name and ctx.go_back():
        pass
    if ctx.state != BranchState.name:
        ctx.reset("menu")
        ctx.goto(BranchState.name)
    ctx.toast("booking.gone")
    await BranchState().render(ctx)


async def _with_group(ctx: Ctx) -> tuple[Branch, ServiceGroup] | None:
    """Resolve the draft's branch and group; on a vanished choice show the branch list."""
    chosen = await catalog.choice(ctx, ctx.data)
    if chosen is None or chosen.group is None:
        await _gone(ctx)
        return None
    return chosen.branch, chosen.group


async def _with_service(ctx: Ctx) -> tuple[Branch, Service] | None:
    """Resolve the draft's branch and service; on a vanished choice show the branch list."""
    chosen = await catalog.choice(ctx, ctx.data)
    if chosen is None or chosen.service is None:
        await _gone(ctx)
        return None
    return chosen.branch, chosen.service


class BranchState(State):
    """Choose a branch (paged past eight)."""

    name = "book.branch"

    async def render(self, ctx: Ctx) -> None:
        """List the active branches with their open/closed state."""
        branches = await catalog.branches(ctx)
        if not branches:
            ctx.show(Msg("booking.no_branches"), buttons=[ctx.nav_row()])
            return
        pages = max(1, -(-len(branches) // PAGE_SIZE))
        page = min(max(int(ctx.data.get("page", 0)), 0), pages - 1)
        rows = [
            [
                ctx.button(
                    Msg(
                        "booking.branch_open" if branch.is_open else "booking.branch_closed",
                        {"name": branch.name},
                    ),
                    "br",
                    branch.id,
                )
            ]
            for branch in branches[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
        ]
        paging = []
        if page > 0:
            paging.append(ctx.button(Msg("common.prev"), "pg", str(page - 1)))
        if page < pages - 1:
            paging.append(ctx.button(Msg("common.next"), "pg", str(page + 1)))
        ctx.show(Msg("booking.choose_branch"), buttons=[*rows, paging, ctx.nav_row()])

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> None:
        """Open a page or a branch."""
        if data.action == "pg" and data.arg(0).isdigit():
            ctx.data["page"] = int(data.arg(0))
            return
        # No format check on the id: only a branch of the current list is accepted, and the
        # branch id format is not documented (NOTES: inferred from examples).
        if data.action != "br" or not data.arg(0):
            await super().on_tap(ctx, data)
            return
        branch = next((b for b in await catalog.branches(ctx) if b.id == data.arg(0)), None)
        if branch is None:
            ctx.toast("booking.gone")
            return
        groups = await catalog.tree(ctx, branch.id)
        if len(groups) == 1:
            # One group only: asking for it would be a step without a choice.
            ctx.goto("book.service", {"branch_id": branch.id, "group_id": groups[0].id})
        else:
            ctx.goto("book.group", {"branch_id": branch.id})


class GroupState(State):
    """Choose a service group."""

    name = "book.group"

    async def render(self, ctx: Ctx) -> None:
        """List the branch's service groups."""
        chosen = await catalog.choice(ctx, ctx.data)
        if chosen is None:
            await _gone(ctx)
            return
        groups = await catalog.tree(ctx, chosen.branch.id)
        rows = [[ctx.button(group.name, "gr", group.id)] for group in groups]
        ctx.show(
            Msg("booking.choose_group", {"branch": chosen.branch.name}),
            *([Msg("booking.no_services")] if not groups else []),
            buttons=[*rows, ctx.nav_row()],
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> None:
        """Open a group."""
        chosen = await catalog.choice(ctx, ctx.data)
        if chosen is None:
            await _gone(ctx)
            return
        groups = await catalog.tree(ctx, chosen.branch.id)
        group = next((g for g in groups if g.id == data.arg(0)), None)
        if data.action != "gr" or group is None:
            await super().on_tap(ctx, data)
            return
        ctx.goto("book.service", _flow(ctx, group_id=group.id))


class ServiceState(State):
    """Choose a service of the group."""

    name = "book.service"

    async def render(self, ctx: Ctx) -> None:
        """List the group's services, open/closed and walk-in/appointment."""
        found = await _with_group(ctx)
        if found is None:
            return
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
            rows.append([ctx.button(Msg(key, {"name": service.name}), "sv", service.id)])
        ctx.show(
            Msg("booking.choose_service", {"branch": branch.name}),
            *([Msg("booking.no_services")] if not services else []),
            buttons=[*rows, ctx.nav_row()],
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> None:
        """Open a service."""
        found = await _with_group(ctx)
        if found is None:
            return
        service = next((s for s in found[1].services if s.id == data.arg(0)), None)
        if data.action != "sv" or service is None:
            await super().on_tap(ctx, data)
            return
        ctx.goto("book.mode", _flow(ctx, service_id=service.id))


class ModeState(State):
    """Join the queue now, or book a time."""

    name = "book.mode"

    async def render(self, ctx: Ctx) -> None:
        """Offer what the service allows."""
        found = await _with_service(ctx)
        if found is None:
            return
        _, service = found
        lines = [Msg("booking.service_title", {"service": service.name})]
        rows = []
        if service.is_open:
            rows.append([ctx.button(Msg("booking.join_queue"), "walk")])
        else:
            lines.append(Msg("booking.service_closed_now"))
        if service.is_appointment:
            rows.append([ctx.button(Msg("booking.book_time"), "appt")])
        elif not service.is_open:
            lines.append(Msg("booking.come_back_later"))
        ctx.show(*lines, buttons=[*rows, ctx.nav_row()])

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> None:
        """Go on with a walk-in or an appointment."""
        if data.action not in ("walk", "appt"):
            await super().on_tap(ctx, data)
            return
        found = await _with_service(ctx)
        if found is None:
            return
        _, service = found
        if data.action == "walk" and service.is_open:
            await enter_confirm(ctx, mode="walkin")
        elif data.action == "appt" and service.is_appointment:
            ctx.goto("book.date", _flow(ctx))
        else:
            await super().on_tap(ctx, data)


def day_buttons(ctx: Ctx, days: list[date], action: str = "dt") -> list[list[Any]]:
    """Lay out day buttons two per row."""
    buttons = [ctx.button(LocalDateLabel(day), action, _day_arg(day)) for day in days]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def LocalDateLabel(day: date) -> Msg:
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


async def choose_day(ctx: Ctx, day: date | None, next_state: str) -> None:
    """Accept a day (from a button or typed) or explain why not."""
    problem = day_problem(ctx, day)
    if problem is not None or day is None:
        ctx.prefix.append(problem or Msg("booking.date_not_understood"))
        return
    ctx.goto(next_state, {**ctx.data, "day": day.isoformat()})


class DateState(State):
    """Choose a day: buttons for the coming week, or a typed date."""

    name = "book.date"
    next_state = "book.slot"

    async def service_name(self, ctx: Ctx) -> str | None:
        """Return the drafted service's name; None once another card says it is gone."""
        found = await _with_service(ctx)
        return found[1].name if found is not None else None

    async def render(self, ctx: Ctx) -> None:
        """Offer the next days."""
        service = await self.service_name(ctx)
        if service is None:
            return
        today = ctx.today()
        days = [today + timedelta(days=n) for n in range(DAY_BUTTONS)]
        ctx.show(
            Msg("booking.choose_date", {"service": service}),
            buttons=[*day_buttons(ctx, days), ctx.nav_row()],
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> None:
        """Take a day button."""
        if data.action != "dt":
            await super().on_tap(ctx, data)
            return
        await choose_day(ctx, _parse_day(data.arg(0)), self.next_state)

    async def on_text(self, ctx: Ctx, text: str) -> None:
        """Take a typed date."""
        day = parse_user_date(text, locale=ctx.locale, now=ctx.now(), timezone=ctx.timezone)
        await choose_day(ctx, day, self.next_state)


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

    name = "book.slot"
    next_state = "book.confirm"
    confirm_mode = "appointment"

    async def render(self, ctx: Ctx) -> None:
        """List the day's free slots, or offer the next days that have some."""
        day = date.fromisoformat(str(ctx.data.get("day")))
        service_id = str(ctx.data.get("service_id", ""))
        try:
            slots = await free_slots(ctx, service_id, day)
        except UnprocessableEntityError as exc:
            ctx.show(
                Msg("booking.slots_refused", {"reason": _error_text(exc.error)}),
                buttons=[ctx.nav_row()],
            )
            return
        title = Msg("booking.choose_slot", {"day": LocalDate(day, "long")})
        if not slots:
            days = await days_with_slots(ctx, service_id, day)
            ctx.show(
                title,
                Msg("booking.no_slots_that_day"),
                *(
                    [Msg("booking.next_days_with_slots")]
                    if days
                    else [Msg("booking.no_slots_soon")]
                ),
                buttons=[*day_buttons(ctx, days), ctx.nav_row()],
            )
            return
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
                "sl",
                _slot_arg(slot.time),
            )
            for slot in slots
        ]
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
        ctx.show(title, buttons=[*rows, ctx.nav_row()])

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> None:
        """Take a slot that is still free, or switch to another suggested day."""
        if data.action == "dt":
            day = _parse_day(data.arg(0))
            # Day buttons only offer bookable days: anything else is forged or stale.
            if len(data.args) != 1 or day is None or day_problem(ctx, day) is not None:
                await super().on_tap(ctx, data)
                return
            ctx.data["day"] = day.isoformat()
            return
        moment = _parse_slot(data.arg(0))
        day = date.fromisoformat(str(ctx.data.get("day")))
        if (
            data.action != "sl"
            or len(data.args) != 1
            or moment is None
            or moment.astimezone(ctx.timezone).date() != day
        ):
            await super().on_tap(ctx, data)
            return
        # Callback data is never trusted: the time must be one of the day's free slots now.
        # This also catches a slot taken since the list was shown, before Confirm.
        free = await free_slots(ctx, str(ctx.data.get("service_id", "")), day)
        if moment not in {slot.time for slot in free}:
            ctx.toast("booking.slot_taken")
            return
        await self.choose_slot(ctx, moment)

    async def choose_slot(self, ctx: Ctx, moment: datetime) -> None:
        """Go on to the confirmation of ``moment``."""
        await enter_confirm(ctx, mode=self.confirm_mode, time=moment.isoformat())

    async def on_text(self, ctx: Ctx, text: str) -> None:
        """A typed date here picks another day."""
        day = parse_user_date(text, locale=ctx.locale, now=ctx.now(), timezone=ctx.timezone)
        problem = day_problem(ctx, day)
        if problem is not None or day is None:
            ctx.prefix.append(problem or Msg("booking.date_not_understood"))
            return
        ctx.data["day"] = day.isoformat()


class ConfirmState(State):
    """Show what will be booked; book on Confirm."""

    name = "book.confirm"

    async def render(self, ctx: Ctx) -> None:
        """Summarise the booking."""
        found = await _with_service(ctx)
        if found is None:
            return
        branch, service = found
        lines = [
            Msg("booking.confirm_title"),
            Msg("booking.summary_branch", {"branch": branch.name}),
            Msg("booking.summary_service", {"service": service.name}),
        ]
        if ctx.data.get("mode") == "appointment":
            moment = datetime.fromisoformat(str(ctx.data["time"]))
            lines.append(
                Msg(
                    "booking.summary_time",
                    {
                        "day": LocalDate(moment.astimezone(ctx.timezone).date(), "long"),
                        "time": LocalTime(moment),
                    },
                )
            )
        else:
            lines.append(Msg("booking.summary_walkin"))
        numbers = [str(n) for n in ctx.data.get("held_numbers", [])]
        if numbers:
            # Booking again is allowed (a second ticket can be wanted), but never by surprise.
            lines.append(Msg("booking.already_holding", {"numbers": Ltr(", ".join(numbers))}))
        ctx.show(*lines, buttons=[[ctx.button(Msg("booking.confirm"), "ok")], ctx.nav_row()])

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> None:
        """Book."""
        if data.action != "ok":
            await super().on_tap(ctx, data)
            return
        await book(ctx)


async def enter_confirm(ctx: Ctx, **draft: str) -> None:
    """Open the confirmation, noting the active tickets the user holds for this service now.

    A ticket of this service that is active and not among these, seen after a booking request,
    is that booking: the note is saved with the step before Confirm can be tapped, so even a
    crash between Skiplino's answer and our save cannot make a retry book twice, and a second
    ticket booked on purpose is never mistaken for the first.
    """
    found = await customer_tickets(ctx, create=True)
    page = found[1].items if found is not None else []
    service_id = ctx.data.get("service_id")
    held = [t for t in page if t.is_active and t.service.id == service_id]
    ctx.goto(
        "book.confirm",
        _flow(
            ctx,
            **({"day": ctx.data["day"]} if "day" in ctx.data else {}),
            **draft,
            held=[t.id for t in held],
            held_numbers=[t.ticket_number for t in held],
        ),
    )


def _matches(ctx: Ctx, ticket: Ticket) -> bool:
    """Tell whether ``ticket`` is the booking this confirm step asks for."""
    if ticket.service.id != ctx.data.get("service_id") or not ticket.is_active:
        return False
    if ticket.id in ctx.data.get("held", []):
        return False
    if ctx.data.get("mode") == "appointment":
        wanted = datetime.fromisoformat(str(ctx.data["time"]))
        return ticket.type == TicketType.APPOINTMENT and ticket.time == wanted
    return ticket.type != TicketType.APPOINTMENT


async def find_booked(ctx: Ctx) -> tuple[str, Ticket | None]:
    """Return the user's customer id and the ticket this step already booked, if any."""
    found = await customer_tickets(ctx, create=True)
    if found is None:  # pragma: no cover - create=True always yields a customer
        raise AssertionError("no customer")
    customer_id, page = found
    return customer_id, next((t for t in page.items if _matches(ctx, t)), None)


async def book(ctx: Ctx) -> None:
    """Book the drafted ticket exactly once."""
    customer_id, existing = await find_booked(ctx)
    if existing is not None:
        ctx.reset("ticket")
        ctx.prefix.append(Msg("booking.done"))
        show_ticket(ctx, existing)
        return
    appointment = ctx.data.get("mode") == "appointment"
    try:
        ticket = await ctx.api.book_ticket(
            service_id=str(ctx.data["service_id"]),
            group_of_service_id=str(ctx.data["group_id"]),
            time=datetime.fromisoformat(str(ctx.data["time"])) if appointment else None,
            customer_id=customer_id,
            locale=ctx.locale,
        )
    except BadRequestError as exc:
        ctx.show(
            Msg("booking.refused", {"reason": _error_text(exc.error) or exc.message}),
            buttons=[ctx.nav_row()],
        )
        return
    except UnprocessableEntityError as exc:
        if appointment and exc.has_error("time"):
            # Taken meanwhile: back to the day's fresh slot list.
            ctx.go_back()
            ctx.prefix.append(Msg("booking.slot_taken"))
            return
        raise
    except (APIConnectionError, InternalServerError):
        # The request may have reached Skiplino: look before offering to try again.
        log.warning("booking outcome unknown; checking the customer's tickets")
        checked = True
        try:
            _, booked = await find_booked(ctx)
        except (APIConnectionError, InternalServerError, RateLimitError):
            booked, checked = None, False
        if booked is None:
            # Only a completed check may say "no ticket was made"; Try again looks first.
            ctx.show(
                Msg("booking.not_confirmed" if checked else "booking.outcome_unknown"),
                buttons=[[ctx.button(Msg("common.try_again"), "ok")], ctx.nav_row()],
            )
            return
        ticket = booked
    ctx.reset("ticket")
    ctx.prefix.append(Msg("booking.done"))
    show_ticket(ctx, ticket)


for _state in (
    BranchState(),
    GroupState(),
    ServiceState(),
    ModeState(),
    DateState(),
    SlotState(),
    ConfirmState(),
):
    register(_state)

__all__ = ["DateState", "SlotState", "choose_day", "day_buttons", "free_slots"]
