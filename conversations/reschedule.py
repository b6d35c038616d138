"""Own moving an appointment: card -> day (buttons or typed) -> free slot -> confirm -> change-time.

The day and slot steps are the booking flow's, pointed at this flow's next steps. The ticket
to move is the one kept in the session; it is fetched again (ownership and current time)
when the flow starts and at the moment of moving it. A refused move leaves the appointment
as it was, and the card shown afterwards says so. Must not import Telegram.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.i18n import Ltr, Msg
from bot.skiplino import (
    APIConnectionError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    Ticket,
    UnprocessableEntityError,
)
from conversations.booking import DateState, SlotState
from conversations.callback import CallbackData
from conversations.context import Ctx
from conversations.registry import State, register, register_action
from conversations.tickets import (
    CARD,
    back_to_card,
    can_reschedule,
    fetch_owned,
    remember_ticket,
    session_ticket_id,
    show_not_found,
    show_ticket,
    stored_ticket,
    when_params,
)

log = logging.getLogger(__name__)

DATE = "resched.date"
SLOT = "resched.slot"
CONFIRM = "resched.confirm"


async def start(ctx: Ctx, data: CallbackData) -> None:
    """Begin moving the card's appointment, if it is the user's and can still move."""
    if ctx.state != CARD:
        ctx.toast("errors.stale_button")
        return
    ticket = await fetch_owned(ctx, session_ticket_id(ctx, data))
    if ticket is None:
        show_not_found(ctx)
        return
    if not can_reschedule(ticket) or ticket.time is None:
        ctx.prefix.append(Msg("reschedule.not_movable"))
        show_ticket(ctx, ticket)
        return
    remember_ticket(ctx, ticket)
    # The service's name is read from the kept ticket when shown, so only its id is kept here.
    ctx.goto(DATE, {"ticket": ctx.data["ticket"], "service_id": ticket.service.id})


register_action("rs", start)


def _moving_line(ctx: Ctx, ticket: Ticket) -> Msg:
    """Say which appointment is being moved and when it is now."""
    assert ticket.time is not None
    return Msg(
        "reschedule.moving",
        {"number": Ltr(ticket.ticket_number), **when_params(ctx, ticket.time)},
    )


class RescheduleDateState(DateState):
    """Choose the new day."""

    name = DATE
    next_state = SLOT

    async def render(self, ctx: Ctx) -> None:
        """Offer the next days, under a line naming the appointment."""
        ticket = stored_ticket(ctx)
        if ticket is None or ticket.time is None:
            show_not_found(ctx)
            return
        ctx.prefix.insert(0, _moving_line(ctx, ticket))
        await super().render(ctx)

    async def service_name(self, ctx: Ctx) -> str | None:
        """Return the appointment's service name, from the ticket kept in the session."""
        ticket = stored_ticket(ctx)
        if ticket is None:
            show_not_found(ctx)
            return None
        return ticket.service.name


class RescheduleSlotState(SlotState):
    """Choose the new time among the service's free slots of that day."""

    name = SLOT
    next_state = CONFIRM
    confirm_mode = "reschedule"

    async def choose_slot(self, ctx: Ctx, moment: datetime) -> None:
        """Go on to the confirmation of the move, keeping the ticket in the draft."""
        ctx.goto(
            self.next_state, {**ctx.data, "mode": self.confirm_mode, "time": moment.isoformat()}
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> None:
        """Take a slot; the appointment's own time is not a move."""
        await super().on_tap(ctx, data)
        ticket = stored_ticket(ctx)
        if ctx.state == CONFIRM and ticket is not None and _new_time(ctx) == ticket.time:
            ctx.go_back()
            ctx.prefix.append(Msg("reschedule.same_time"))


def _new_time(ctx: Ctx) -> datetime | None:
    """Return the chosen new time kept in the session."""
    raw = ctx.data.get("time")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


class RescheduleConfirmState(State):
    """Show the old and the new time; move on Confirm."""

    name = CONFIRM

    async def render(self, ctx: Ctx) -> None:
        """Summarise the move."""
        ticket = stored_ticket(ctx)
        new_time = _new_time(ctx)
        if ticket is None or ticket.time is None or new_time is None:
            show_not_found(ctx)
            return
        ctx.show(
            Msg(
                "reschedule.confirm_title",
                {
                    "number": Ltr(ticket.ticket_number),
                    "service": ticket.service.name,
                    "branch": ticket.branch.name,
                },
            ),
            Msg("reschedule.from", when_params(ctx, ticket.time)),
            Msg("reschedule.to", when_params(ctx, new_time)),
            buttons=[
                [ctx.button(Msg("reschedule.confirm"), "rsok", ticket.id)],
                ctx.nav_row(),
            ],
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> None:
        """Move the appointment."""
        if data.action != "rsok":
            await super().on_tap(ctx, data)
            return
        await move(ctx, session_ticket_id(ctx, data))


async def move(ctx: Ctx, ticket_id: str | None) -> None:
    """Move the session's appointment to the chosen time, once, if it is still the user's."""
    new_time = _new_time(ctx)
    ticket = await fetch_owned(ctx, ticket_id)
    if ticket is None or new_time is None:
        show_not_found(ctx)
        return
    if ticket.time == new_time:
        # An earlier attempt whose answer was lost went through already.
        _moved(ctx, ticket)
        return
    try:
        moved = await ctx.api.change_ticket_time(
            ticket.id, time=new_time, customer_id=ctx.profile.customer_id, locale=ctx.locale
        )
    except UnprocessableEntityError as exc:
        if exc.has_error("time"):
            reason = Msg("reschedule.slot_taken")
        elif exc.has_error("id"):
            reason = Msg("reschedule.not_movable")
        else:
            log.warning("change-time refused: %s", exc.field_errors)
            reason = Msg("reschedule.refused")
        await _refused(ctx, ticket.id, new_time, reason)
        return
    except BadRequestError as exc:
        # The API localizes the reason of its business-rule refusals (400).
        text = exc.error if isinstance(exc.error, str) else ""
        refusal = Msg("reschedule.refused_reason", {"reason": text}) if text else None
        await _refused(ctx, ticket.id, new_time, refusal or Msg("reschedule.refused"))
        return
    except ConflictError:
        await _refused(ctx, ticket.id, new_time, Msg("reschedule.not_movable"))
        return
    except NotFoundError:
        # 404 means the ticket could not be resolved after the change; look at what it is now.
        await _refused(ctx, ticket.id, new_time, Msg("reschedule.refused"))
        return
    except (APIConnectionError, InternalServerError):
        # The request may have reached Skiplino: look before offering to try again.
        log.warning("change-time outcome unknown; fetching the ticket again")
        try:
            current = await fetch_owned(ctx, ticket.id)
        except (APIConnectionError, InternalServerError):
            current = None
        if current is not None and current.time == new_time:
            _moved(ctx, current)
            return
        ctx.show(
            Msg("reschedule.not_confirmed"),
            buttons=[[ctx.button(Msg("common.try_again"), "rsok", ticket.id)], ctx.nav_row()],
        )
        return
    _moved(ctx, moved)


def _moved(ctx: Ctx, ticket: Ticket) -> None:
    """Show the card at the new time."""
    if ticket.time is not None:
        ctx.prefix.append(
            Msg(
                "reschedule.done",
                {"number": Ltr(ticket.ticket_number), **when_params(ctx, ticket.time)},
            )
        )
    back_to_card(ctx, ticket)


async def _refused(ctx: Ctx, ticket_id: str, new_time: datetime, reason: Msg) -> None:
    """Explain a refused move and show the appointment as it really is now."""
    current = await fetch_owned(ctx, ticket_id)
    if current is None:
        show_not_found(ctx)
        return
    if current.time == new_time:
        # Refused in words but done in fact (a 404 after the change): the ticket tells the truth.
        _moved(ctx, current)
        return
    ctx.prefix.append(reason)
    if current.time is not None:
        ctx.prefix.append(Msg("reschedule.kept", when_params(ctx, current.time)))
    back_to_card(ctx, current)


for _state in (RescheduleDateState(), RescheduleSlotState(), RescheduleConfirmState()):
    register(_state)
