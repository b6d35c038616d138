"""Own moving an appointment: card -> day (buttons or typed) -> free slot -> confirm -> change-time.

The day and slot steps are the booking flow's, pointed at this flow's next steps. The ticket
to move is the one kept in the session; it is fetched again (ownership and current time)
when the flow starts and at the moment of moving it. A refused move leaves the appointment
as it was, and the card shown afterwards says so. Must not import Telegram.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum

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
from conversations import audit
from conversations.callback import CallbackData
from conversations.context import Ctx
from conversations.flow import Action, Flow, Outcome, Shown, State
from conversations.flows.booking import DateState, SlotState
from conversations.session import RescheduleDraft
from conversations.ticket_card import (
    TicketAction,
    TicketStep,
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


class RescheduleStep(StrEnum):
    """The states of the reschedule flow."""

    DATE = "resched.date"
    SLOT = "resched.slot"
    CONFIRM = "resched.confirm"


class RescheduleAction(StrEnum):
    """Buttons of the reschedule steps; the short codes are what callback data carries."""

    CONFIRM = "rsok"


async def start(ctx: Ctx, data: CallbackData) -> Outcome:
    """Begin moving the card's appointment, if it is the user's and can still move."""
    if ctx.state != TicketStep.CARD:
        ctx.notice(Msg("errors.stale_button"))
        return None
    ticket = await fetch_owned(ctx, session_ticket_id(ctx, data))
    if ticket is None:
        return show_not_found(ctx)
    if not can_reschedule(ticket) or ticket.time is None:
        ctx.notice(Msg("reschedule.not_movable"))
        return show_ticket(ctx, ticket)
    remember_ticket(ctx, ticket)
    # The service's name is read from the kept ticket when shown, so only its id is kept here.
    ctx.goto(RescheduleStep.DATE, RescheduleDraft(ticket=ticket, service_id=ticket.service.id))
    return None


def _moving_line(ctx: Ctx, ticket: Ticket) -> Msg:
    """Say which appointment is being moved and when it is now."""
    assert ticket.time is not None
    return Msg(
        "reschedule.moving",
        {"number": Ltr(ticket.ticket_number), **when_params(ctx, ticket.time)},
    )


class RescheduleDateState(DateState):
    """Choose the new day."""

    name = RescheduleStep.DATE
    next_state = RescheduleStep.SLOT

    async def render(self, ctx: Ctx) -> Shown:
        """Offer the next days, under a line naming the appointment."""
        ticket = stored_ticket(ctx)
        if ticket is None or ticket.time is None:
            return show_not_found(ctx)
        ctx.notice(_moving_line(ctx, ticket), first=True)
        return await super().render(ctx)

    async def service_name(self, ctx: Ctx) -> str | None:
        """Return the appointment's service name, from the ticket kept in the session."""
        ticket = stored_ticket(ctx)
        return ticket.service.name if ticket is not None else None

    async def when_gone(self, ctx: Ctx) -> Shown:
        """Say the ticket is not found: the step has none."""
        return show_not_found(ctx)


class RescheduleSlotState(SlotState):
    """Choose the new time among the service's free slots of that day."""

    name = RescheduleStep.SLOT

    async def choose_slot(self, ctx: Ctx, moment: datetime) -> Outcome:
        """Go on to the confirmation of the move, keeping the ticket in the draft."""
        draft = ctx.draft_as(RescheduleDraft)
        if draft is None:
            return show_not_found(ctx)
        if moment == draft.ticket.time:
            # The appointment's own time is not a move.
            ctx.notice(Msg("reschedule.same_time"))
            return None
        ctx.goto(RescheduleStep.CONFIRM, draft.model_copy(update={"time": moment}))
        return None


class RescheduleConfirmState(State):
    """Show the old and the new time; move on Confirm."""

    name = RescheduleStep.CONFIRM

    async def render(self, ctx: Ctx) -> Shown:
        """Summarise the move."""
        draft = ctx.draft_as(RescheduleDraft)
        if draft is None or draft.ticket.time is None or draft.time is None:
            return show_not_found(ctx)
        ticket = draft.ticket
        return ctx.show(
            Msg(
                "reschedule.confirm_title",
                {
                    "number": Ltr(ticket.ticket_number),
                    "service": ticket.service.name,
                    "branch": ticket.branch.name,
                },
            ),
            Msg("reschedule.from", when_params(ctx, draft.ticket.time)),
            Msg("reschedule.to", when_params(ctx, draft.time)),
            buttons=[
                [ctx.button(Msg("reschedule.confirm"), RescheduleAction.CONFIRM, ticket.id)],
                ctx.nav_row(),
            ],
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> Outcome:
        """Move the appointment."""
        if data.action != RescheduleAction.CONFIRM:
            return await super().on_tap(ctx, data)
        return await move(ctx, session_ticket_id(ctx, data))


async def move(ctx: Ctx, ticket_id: str | None) -> Shown:
    """Move the session's appointment to the chosen time, once, if it is still the user's."""
    draft = ctx.draft_as(RescheduleDraft)
    new_time = draft.time if draft is not None else None
    ticket = await fetch_owned(ctx, ticket_id)
    if ticket is None or new_time is None:
        return show_not_found(ctx)
    if ticket.time == new_time:
        # An earlier attempt whose answer was lost went through already.
        audit.moved(ticket, "already_moved")
        return _moved(ctx, ticket)
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
        return await _refused(ctx, ticket.id, new_time, reason)
    except BadRequestError as exc:
        # The API localizes the reason of its business-rule refusals (400).
        text = exc.error if isinstance(exc.error, str) else ""
        refusal = Msg("reschedule.refused_reason", {"reason": text}) if text else None
        return await _refused(ctx, ticket.id, new_time, refusal or Msg("reschedule.refused"))
    except ConflictError:
        return await _refused(ctx, ticket.id, new_time, Msg("reschedule.not_movable"))
    except NotFoundError:
        # 404 means the ticket could not be resolved after the change; look at what it is now.
        return await _refused(ctx, ticket.id, new_time, Msg("reschedule.refused"))
    except (APIConnectionError, InternalServerError):
        # The request may have reached Skiplino: look before offering to try again.
        log.warning("change-time outcome unknown; fetching the ticket again")
        try:
            current = await fetch_owned(ctx, ticket.id)
        except (APIConnectionError, InternalServerError):
            current = None
        if current is not None and current.time == new_time:
            audit.moved(current)
            return _moved(ctx, current)
        audit.record("move", "unknown", ticket_id=ticket.id, service_id=ticket.service.id)
        return ctx.show(
            Msg("reschedule.not_confirmed"),
            buttons=[
                [ctx.button(Msg("common.try_again"), RescheduleAction.CONFIRM, ticket.id)],
                ctx.nav_row(),
            ],
        )
    audit.moved(moved)
    return _moved(ctx, moved)


def _moved(ctx: Ctx, ticket: Ticket) -> Shown:
    """Show the card at the new time."""
    if ticket.time is not None:
        ctx.notice(
            Msg(
                "reschedule.done",
                {"number": Ltr(ticket.ticket_number), **when_params(ctx, ticket.time)},
            )
        )
    return back_to_card(ctx, ticket)


async def _refused(ctx: Ctx, ticket_id: str, new_time: datetime, reason: Msg) -> Shown:
    """Explain a refused move and show the appointment as it really is now."""
    current = await fetch_owned(ctx, ticket_id)
    if current is None:
        return show_not_found(ctx)
    if current.time == new_time:
        # Refused in words but done in fact (a 404 after the change): the ticket tells the truth.
        audit.moved(current)
        return _moved(ctx, current)
    audit.record("move", "refused", ticket_id=current.id, service_id=current.service.id)
    ctx.notice(reason)
    if current.time is not None:
        ctx.notice(Msg("reschedule.kept", when_params(ctx, current.time)))
    return back_to_card(ctx, current)


RESCHEDULE = Flow(
    name="reschedule",
    states={
        state.name: state
        for state in (RescheduleDateState(), RescheduleSlotState(), RescheduleConfirmState())
    },
    actions={TicketAction.RESCHEDULE: Action(start)},
)
