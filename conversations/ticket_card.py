"""Own a ticket's card, its refresh and cancel, and the ownership check of every ticket.

A ticket id reaches us through buttons, deep links and /ticket, all of which can be forged:
only tickets of the user's own linked customer are shown or acted on, and any other ticket
gets exactly the answer a missing ticket gets. Acting (cancel, reschedule) always uses the
ticket id kept in the session and fetches the ticket again to re-check ownership at that
moment; an id in the callback data is only compared with it. The list of tickets is the
tickets flow's (``conversations.flows.tickets``), moving an appointment the reschedule
flow's; both, and booking, show cards through here. Must not import Telegram or any flow.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.i18n import LocalDate, LocalTime, Ltr, Msg
from bot.skiplino import (
    ConflictError,
    NotFoundError,
    Ticket,
    TicketStatus,
    UnprocessableEntityError,
)
from conversations import audit
from conversations.callback import CallbackData
from conversations.context import Ctx
from conversations.customers import linked_customer
from conversations.flow import EngineAction, Outcome, Shown, State
from conversations.replies import Button
from conversations.session import Paging, TicketCard, ticket_of

log = logging.getLogger(__name__)


class TicketStep(StrEnum):
    """The states of the tickets flow."""

    LIST = "tickets.list"
    CARD = "ticket"
    CANCEL = "ticket.cancel"
    MISSING = "tickets.missing"


class TicketAction(StrEnum):
    """Buttons of the tickets flow; the short codes are what callback data carries."""

    OPEN = "tk"  # open a ticket from the list (any step)
    REFRESH = "tkr"  # fetch a card's ticket again (any step)
    MINE = "mine"  # open the list
    BACK_TO_LIST = "tkb"
    CANCEL = "cnl"
    CANCEL_YES = "cny"
    CANCEL_NO = "cnn"
    RESCHEDULE = "rs"  # handled by the reschedule flow
    PAGE = "pg"
    BOOK = "book"  # from an empty list; the booking flow starts there


KNOWN_STATUSES = frozenset(
    {
        TicketStatus.WAITING,
        TicketStatus.UPCOMING,
        TicketStatus.SERVING,
        TicketStatus.SERVED,
        TicketStatus.CANCELLED,
    }
)
# The API's reschedule page asks for a `waiting` appointment while a booked one is `upcoming`
# (NOTES.md gap 2); the sandbox accepts both, so both are offered and the API has the last word.
RESCHEDULABLE = frozenset({TicketStatus.WAITING, TicketStatus.UPCOMING})
TICKET_ID = re.compile(r"^[A-Za-z0-9]{10}$")


# --- what a ticket allows -----------------------------------------------------------------


def can_reschedule(ticket: Ticket) -> bool:
    """Tell whether the ticket is an appointment that can still move."""
    return ticket.is_appointment and ticket.status in RESCHEDULABLE


def status_text(status: str) -> Msg | str:
    """Return the status in words; an unknown status is shown as it came."""
    return Msg(f"status.{status}") if status in KNOWN_STATUSES else status


def when_params(ctx: Ctx, moment: datetime, style: str = "long") -> dict[str, Any]:
    """Return ``day`` and ``time`` parameters for an instant, in company time."""
    return {
        "day": LocalDate(moment.astimezone(ctx.timezone).date(), style),
        "time": LocalTime(moment),
    }


# --- the card -----------------------------------------------------------------------------


def ticket_lines(ctx: Ctx, ticket: Ticket, checked_at: datetime | None = None) -> list[Msg]:
    """Describe a ticket as fetched at ``checked_at`` (default: now)."""
    lines = [
        Msg("tickets.card_title", {"number": Ltr(ticket.ticket_number)}),
        Msg("tickets.status_line", {"status": status_text(ticket.status)}),
        Msg("tickets.branch_line", {"branch": ticket.branch.name}),
        Msg("tickets.service_line", {"service": ticket.service.name}),
    ]
    if ticket.time is not None:
        lines.append(Msg("tickets.time_line", when_params(ctx, ticket.time)))
    if ticket.status == TicketStatus.WAITING and ticket.queue_size is not None:
        lines.append(
            Msg("queue.people_ahead", {"count": ticket.queue_size}, count=ticket.queue_size)
        )
        if ticket.waiting_time is not None:
            lines.append(
                Msg("queue.wait_minutes", {"count": ticket.waiting_time}, count=ticket.waiting_time)
            )
    lines.append(Msg("tickets.updated", {"time": LocalTime(checked_at or ctx.now())}))
    return lines


def ticket_buttons(ctx: Ctx, ticket: Ticket) -> list[list[Button]]:
    """Return the actions a ticket card offers; an unknown status gets Refresh and Back only."""
    rows: list[list[Button]] = [
        [ctx.button(Msg("common.refresh"), TicketAction.REFRESH, ticket.id)]
    ]
    back = ctx.button(Msg("common.back"), TicketAction.BACK_TO_LIST)
    if ticket.status not in KNOWN_STATUSES:
        # We cannot tell what the API allows in a status we do not know: offer nothing risky.
        rows.append([back])
        return rows
    rows.append(ticket_action_buttons(ctx, ticket))
    rows.append([back, ctx.button(Msg("common.main_menu"), EngineAction.MENU)])
    return rows


def ticket_action_buttons(ctx: Ctx, ticket: Ticket) -> list[Button]:
    """Return Cancel / Change time where the ticket allows them."""
    buttons = []
    if ticket.can_cancel:
        buttons.append(ctx.button(Msg("tickets.cancel_button"), TicketAction.CANCEL, ticket.id))
    if can_reschedule(ticket):
        buttons.append(
            ctx.button(Msg("tickets.reschedule_button"), TicketAction.RESCHEDULE, ticket.id)
        )
    return buttons


def card_of(ctx: Ctx, ticket: Ticket) -> TicketCard:
    """Return the card draft of ``ticket``, fetched now."""
    return TicketCard(ticket=ticket, checked_at=ctx.now())


def remember_ticket(ctx: Ctx, ticket: Ticket) -> None:
    """Make ``ticket`` the card's ticket in the session, fetched now (the step stays)."""
    ctx.session.state = TicketStep.CARD
    ctx.session.draft = card_of(ctx, ticket)


def show_ticket(ctx: Ctx, ticket: Ticket) -> Shown:
    """Make ``ticket`` the current card and show it."""
    remember_ticket(ctx, ticket)
    return ctx.show(*ticket_lines(ctx, ticket), buttons=ticket_buttons(ctx, ticket))


def back_to_card(ctx: Ctx, ticket: Ticket) -> Shown:
    """Leave a step opened from a card (cancel, reschedule) and show the card with ``ticket``."""
    while ctx.state != TicketStep.CARD and ctx.go_back():
        pass
    if ctx.state != TicketStep.CARD:
        ctx.reset()
        ctx.goto(TicketStep.CARD, card_of(ctx, ticket))
    return show_ticket(ctx, ticket)


def stored_ticket(ctx: Ctx) -> Ticket | None:
    """Return the ticket kept in the current step's draft."""
    return ticket_of(ctx.draft)


def session_ticket_id(ctx: Ctx, data: CallbackData) -> str | None:
    """Return the session's ticket id if the button names the same ticket, else None."""
    ticket = stored_ticket(ctx)
    if ticket is None or data.arg(0) != ticket.id:
        return None
    return ticket.id


# --- ownership ----------------------------------------------------------------------------


def owns(ctx: Ctx, ticket: Ticket) -> bool:
    """Tell whether the ticket belongs to the user's linked customer."""
    customer_id = ctx.profile.customer_id
    return bool(customer_id) and ticket.customer is not None and ticket.customer.id == customer_id


async def fetch_owned(ctx: Ctx, ticket_id: str | None) -> Ticket | None:
    """Fetch a ticket if it exists and is the user's; None otherwise (same answer for both)."""
    if not ticket_id or not TICKET_ID.match(ticket_id):
        return None
    if await linked_customer(ctx) is None:
        return None
    try:
        ticket = await ctx.api.get_ticket(ticket_id, locale=ctx.locale)
    except (NotFoundError, UnprocessableEntityError):
        return None
    return ticket if owns(ctx, ticket) else None


def show_not_found(ctx: Ctx) -> Shown:
    """Say the ticket was not found (also for tickets of other users)."""
    ctx.goto(TicketStep.MISSING, push=False)
    return ctx.show(Msg("tickets.not_found"), buttons=_missing_buttons(ctx))


def _missing_buttons(ctx: Ctx) -> list[list[Button]]:
    """Return the ways on from a ticket that was not found."""
    return [
        [
            ctx.button(Msg("menu.tickets"), TicketAction.MINE),
            ctx.button(Msg("common.main_menu"), EngineAction.MENU),
        ]
    ]


# --- opening a ticket -----------------------------------------------------------------------


async def open_ticket(ctx: Ctx, ticket_id: str) -> Shown:
    """Show the card of one of the user's tickets."""
    ticket = await fetch_owned(ctx, ticket_id)
    if ticket is None:
        return show_not_found(ctx)
    ctx.goto(TicketStep.CARD, card_of(ctx, ticket))
    return show_ticket(ctx, ticket)


async def open_from_list(ctx: Ctx, data: CallbackData) -> Outcome:
    """Open a ticket card from a list button."""
    return await open_ticket(ctx, data.arg(0))


async def refresh(ctx: Ctx, data: CallbackData) -> Outcome:
    """Fetch the ticket again and show it; say so when nothing changed."""
    ticket = await fetch_owned(ctx, data.arg(0))
    if ticket is None:
        return show_not_found(ctx)
    before = stored_ticket(ctx) if ctx.state == TicketStep.CARD else None
    if before is not None and before.model_dump(mode="json") == ticket.model_dump(mode="json"):
        # The line also makes the text differ from the card being edited, so Telegram does not
        # answer "message is not modified" when the minute of "Updated at" is the same.
        ctx.notice(Msg("tickets.up_to_date"))
    elif ctx.state != TicketStep.CARD:
        # A Refresh on an older card: that card becomes the current step again.
        ctx.goto(TicketStep.CARD, card_of(ctx, ticket))
    return show_ticket(ctx, ticket)


async def open_list(ctx: Ctx, data: CallbackData) -> Outcome:
    """Open the ticket list."""
    ctx.reset()
    ctx.goto(TicketStep.LIST, Paging(page=1))
    return None


class TicketState(State):
    """A ticket card."""

    name = TicketStep.CARD

    async def render(self, ctx: Ctx) -> Shown:
        """Show the stored ticket as of its last fetch (fresh data comes with Refresh)."""
        card = ctx.draft_as(TicketCard)
        if card is None:
            return show_not_found(ctx)
        return ctx.show(
            *ticket_lines(ctx, card.ticket, card.checked_at),
            buttons=ticket_buttons(ctx, card.ticket),
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> Outcome:
        """Ask to cancel the ticket, or go back to the list."""
        if data.action == TicketAction.BACK_TO_LIST:
            _back_to_list(ctx)
            return None
        if data.action == TicketAction.CANCEL:
            return await ask_cancel(ctx, session_ticket_id(ctx, data))
        return await super().on_tap(ctx, data)


def _back_to_list(ctx: Ctx) -> None:
    """Return to the ticket list (the page the card was opened from, when it was)."""
    top = ctx.session.back[-1] if ctx.session.back else None
    if top is not None and top.state == TicketStep.LIST:
        ctx.go_back()
    else:
        ctx.reset()
        ctx.goto(TicketStep.LIST, Paging(page=1))


# --- cancel -------------------------------------------------------------------------------


async def ask_cancel(ctx: Ctx, ticket_id: str | None) -> Outcome:
    """Open the confirmation for cancelling the card's ticket, as it is now."""
    ticket = await fetch_owned(ctx, ticket_id)
    if ticket is None:
        return show_not_found(ctx)
    if not ticket.can_cancel:
        ctx.notice(_cancel_refusal(ticket))
        return show_ticket(ctx, ticket)
    remember_ticket(ctx, ticket)
    ctx.goto(TicketStep.CANCEL, TicketCard(ticket=ticket))
    return None


def _cancel_refusal(ticket: Ticket) -> Msg:
    """Explain why a ticket cannot be cancelled in its current status."""
    number = Ltr(ticket.ticket_number)
    if ticket.status == TicketStatus.CANCELLED:
        return Msg("tickets.already_cancelled", {"number": number})
    return Msg("tickets.cancel_conflict", {"number": number, "status": status_text(ticket.status)})


async def cancel(ctx: Ctx, ticket_id: str | None) -> Shown:
    """Cancel the session's ticket after checking, at this moment, that it is the user's."""
    ticket = await fetch_owned(ctx, ticket_id)
    if ticket is None:
        return show_not_found(ctx)
    try:
        cancelled = await ctx.api.cancel_ticket(ticket.id, locale=ctx.locale)
    except ConflictError:
        audit.record("cancellation", "refused", ticket_id=ticket.id, service_id=ticket.service.id)
        # Served, cancelled or called meanwhile: say so and show what the ticket is now.
        current = await fetch_owned(ctx, ticket.id)
        if current is None:
            return show_not_found(ctx)
        ctx.notice(_cancel_refusal(current))
        return back_to_card(ctx, current)
    except (NotFoundError, UnprocessableEntityError):
        return show_not_found(ctx)
    audit.cancelled(cancelled)
    ctx.notice(Msg("tickets.cancelled_done", {"number": Ltr(cancelled.ticket_number)}))
    return back_to_card(ctx, cancelled)


class CancelState(State):
    """Confirm cancelling a ticket: Yes cancels, No returns to the card."""

    name = TicketStep.CANCEL

    async def render(self, ctx: Ctx) -> Shown:
        """Name the ticket and ask."""
        ticket = stored_ticket(ctx)
        if ticket is None:
            return show_not_found(ctx)
        params: dict[str, Any] = {
            "number": Ltr(ticket.ticket_number),
            "service": ticket.service.name,
            "branch": ticket.branch.name,
        }
        if ticket.time is not None:
            question = Msg(
                "tickets.cancel_confirm_time",
                {**params, **when_params(ctx, ticket.time, "weekday")},
            )
        else:
            question = Msg("tickets.cancel_confirm", params)
        return ctx.show(
            question,
            buttons=[
                [
                    ctx.button(Msg("tickets.cancel_yes"), TicketAction.CANCEL_YES, ticket.id),
                    ctx.button(Msg("tickets.cancel_no"), TicketAction.CANCEL_NO),
                ]
            ],
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> Outcome:
        """Cancel on Yes; back to the card on No."""
        if data.action == TicketAction.CANCEL_YES:
            return await cancel(ctx, session_ticket_id(ctx, data))
        if data.action == TicketAction.CANCEL_NO:
            if ctx.go_back():
                return None
            ticket = stored_ticket(ctx)
            if ticket is None:
                return show_not_found(ctx)
            return back_to_card(ctx, ticket)
        return await super().on_tap(ctx, data)


class MissingState(State):
    """The answer to a ticket that is not the user's or does not exist."""

    name = TicketStep.MISSING

    async def render(self, ctx: Ctx) -> Shown:
        """Say the ticket was not found."""
        return ctx.show(Msg("tickets.not_found"), buttons=_missing_buttons(ctx))
