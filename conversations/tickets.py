"""Own "my tickets": the list, the ticket card, its refresh and cancel; ownership of every ticket.

A ticket id reaches us through buttons, deep links and /ticket, all of which can be forged:
only tickets of the user's own linked customer are shown or acted on, and any other ticket
gets exactly the answer a missing ticket gets. Acting (cancel, reschedule) always uses the
ticket id kept in the session and fetches the ticket again to re-check ownership at that
moment; an id in the callback data is only compared with it. Rescheduling lives in
``conversations.reschedule``. Must not import Telegram.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from bot.i18n import LocalDate, LocalTime, Ltr, Msg
from bot.skiplino import (
    ConflictError,
    NotFoundError,
    Ticket,
    TicketStatus,
    UnprocessableEntityError,
)
from conversations.callback import CallbackData
from conversations.context import Ctx
from conversations.customers import customer_tickets, linked_customer
from conversations.registry import State, register, register_action
from conversations.replies import Button

log = logging.getLogger(__name__)

CARD = "ticket"
LIST = "tickets.list"
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
PAGE_SIZE = 10  # the API's cap for a customer's tickets
NUMBER_SEARCH_PAGES = 5  # /ticket A042 looks through the newest 50 tickets
_ID = re.compile(r"^[A-Za-z0-9]{10}$")


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
    rows: list[list[Button]] = [[ctx.button(Msg("common.refresh"), "tkr", ticket.id)]]
    back = ctx.button(Msg("common.back"), "tkb")
    if ticket.status not in KNOWN_STATUSES:
        # We cannot tell what the API allows in a status we do not know: offer nothing risky.
        rows.append([back])
        return rows
    rows.append(ticket_action_buttons(ctx, ticket))
    rows.append([back, ctx.button(Msg("common.main_menu"), "menu")])
    return rows


def ticket_action_buttons(ctx: Ctx, ticket: Ticket) -> list[Button]:
    """Return Cancel / Change time where the ticket allows them."""
    buttons = []
    if ticket.can_cancel:
        buttons.append(ctx.button(Msg("tickets.cancel_button"), "cnl", ticket.id))
    if can_reschedule(ticket):
        buttons.append(ctx.button(Msg("tickets.reschedule_button"), "rs", ticket.id))
    return buttons


def remember_ticket(ctx: Ctx, ticket: Ticket) -> None:
    """Make ``ticket`` the card's ticket in the session, fetched now."""
    ctx.session.state = CARD
    ctx.session.data = {
        "ticket": ticket.model_dump(mode="json", by_alias=True),
        "checked_at": ctx.now().isoformat(),
    }


def show_ticket(ctx: Ctx, ticket: Ticket) -> None:
    """Make ``ticket`` the current card and show it."""
    remember_ticket(ctx, ticket)
    ctx.show(*ticket_lines(ctx, ticket), buttons=ticket_buttons(ctx, ticket))


def back_to_card(ctx: Ctx, ticket: Ticket) -> None:
    """Leave a step opened from a card (cancel, reschedule) and show the card with ``ticket``."""
    while ctx.state != CARD and ctx.go_back():
        pass
    if ctx.state != CARD:
        ctx.reset("menu")
        ctx.goto(CARD)
    show_ticket(ctx, ticket)


def stored_ticket(ctx: Ctx) -> Ticket | None:
    """Return the ticket kept in the current step's session data."""
    raw = ctx.data.get("ticket")
    return Ticket.model_validate(raw) if isinstance(raw, dict) else None


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
    if not ticket_id or not _ID.match(ticket_id):
        return None
    if await linked_customer(ctx) is None:
        return None
    try:
        ticket = await ctx.api.get_ticket(ticket_id, locale=ctx.locale)
    except (NotFoundError, UnprocessableEntityError):
        return None
    return ticket if owns(ctx, ticket) else None


def show_not_found(ctx: Ctx) -> None:
    """Say the ticket was not found (also for tickets of other users)."""
    ctx.goto(MissingState.name, push=False)
    ctx.show(Msg("tickets.not_found"), buttons=_missing_buttons(ctx))


def _missing_buttons(ctx: Ctx) -> list[list[Button]]:
    """Return the ways on from a ticket that was not found."""
    return [[ctx.button(Msg("menu.tickets"), "mine"), ctx.button(Msg("common.main_menu"), "menu")]]


# --- opening a ticket -----------------------------------------------------------------------


async def open_ticket(ctx: Ctx, ticket_id: str) -> None:
    """Show the card of one of the user's tickets."""
    ticket = await fetch_owned(ctx, ticket_id)
    if ticket is None:
        show_not_found(ctx)
        return
    ctx.goto(CARD, push=True)
    show_ticket(ctx, ticket)


async def open_ticket_by_reference(ctx: Ctx, reference: str) -> None:
    """Show a ticket named by its id or its number (``/ticket A042``)."""
    reference = reference.strip()
    if not reference:
        ctx.prefix.append(Msg("tickets.ticket_usage"))
        ctx.goto(LIST)
        return
    if _ID.match(reference):
        ticket = await fetch_owned(ctx, reference)
        if ticket is not None:
            ctx.goto(CARD)
            show_ticket(ctx, ticket)
            return
    found = await _find_by_number(ctx, reference)
    if found is None:
        show_not_found(ctx)
        return
    ctx.goto(CARD)
    show_ticket(ctx, found)


async def _find_by_number(ctx: Ctx, number: str) -> Ticket | None:
    """Return the user's newest ticket with this number (numbers repeat across branches)."""
    wanted = number.upper()
    for page_number in range(1, NUMBER_SEARCH_PAGES + 1):
        found = await customer_tickets(ctx, page=page_number, limit=PAGE_SIZE, create=False)
        if found is None:
            return None
        page = found[1]
        # The list is the customer's own, but ownership is checked like everywhere else.
        match = next(
            (t for t in page.items if t.ticket_number.upper() == wanted and owns(ctx, t)), None
        )
        if match is not None or not page.has_next_page:
            return match
    return None


async def _open(ctx: Ctx, data: CallbackData) -> None:
    """Open a ticket card from a list button."""
    await open_ticket(ctx, data.arg(0))


async def _refresh(ctx: Ctx, data: CallbackData) -> None:
    """Fetch the ticket again and show it; say so when nothing changed."""
    ticket = await fetch_owned(ctx, data.arg(0))
    if ticket is None:
        show_not_found(ctx)
        return
    before = stored_ticket(ctx) if ctx.state == CARD else None
    if before is not None and before.model_dump(mode="json") == ticket.model_dump(mode="json"):
        # The line also makes the text differ from the card being edited, so Telegram does not
        # answer "message is not modified" when the minute of "Updated at" is the same.
        ctx.toast("tickets.up_to_date")
    elif ctx.state != CARD:
        # A Refresh on an older card: that card becomes the current step again.
        ctx.goto(CARD)
    show_ticket(ctx, ticket)


async def _mine(ctx: Ctx, data: CallbackData) -> None:
    """Open the ticket list."""
    ctx.reset("menu")
    ctx.goto(LIST)


register_action("tk", _open)
register_action("tkr", _refresh)
register_action("mine", _mine)


class TicketState(State):
    """A ticket card."""

    name = CARD

    async def render(self, ctx: Ctx) -> None:
        """Show the stored ticket as of its last fetch (fresh data comes with Refresh)."""
        ticket = stored_ticket(ctx)
        if ticket is None:
            show_not_found(ctx)
            return
        raw_checked = ctx.data.get("checked_at")
        checked_at = datetime.fromisoformat(raw_checked) if isinstance(raw_checked, str) else None
        ctx.show(*ticket_lines(ctx, ticket, checked_at), buttons=ticket_buttons(ctx, ticket))

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> None:
        """Ask to cancel the ticket, or go back to the list."""
        if data.action == "tkb":
            _back_to_list(ctx)
        elif data.action == "cnl":
            await ask_cancel(ctx, session_ticket_id(ctx, data))
        else:
            await super().on_tap(ctx, data)


def _back_to_list(ctx: Ctx) -> None:
    """Return to the ticket list (the page the card was opened from, when it was)."""
    top = ctx.session.back[-1] if ctx.session.back else None
    if top is not None and top.get("state") == LIST:
        ctx.go_back()
    else:
        ctx.reset("menu")
        ctx.goto(LIST)


# --- cancel -------------------------------------------------------------------------------


async def ask_cancel(ctx: Ctx, ticket_id: str | None) -> None:
    """Open the confirmation for cancelling the card's ticket, as it is now."""
    ticket = await fetch_owned(ctx, ticket_id)
    if ticket is None:
        show_not_found(ctx)
        return
    if not ticket.can_cancel:
        ctx.prefix.append(_cancel_refusal(ticket))
        show_ticket(ctx, ticket)
        return
    remember_ticket(ctx, ticket)
    ctx.goto(CancelState.name, {"ticket": ctx.data["ticket"]})


def _cancel_refusal(ticket: Ticket) -> Msg:
    """Explain why a ticket cannot be cancelled in its current status."""
    number = Ltr(ticket.ticket_number)
    if ticket.status == TicketStatus.CANCELLED:
        return Msg("tickets.already_cancelled", {"number": number})
    return Msg("tickets.cancel_conflict", {"number": number, "status": status_text(ticket.status)})


async def cancel(ctx: Ctx, ticket_id: str | None) -> None:
    """Cancel the session's ticket after checking, at this moment, that it is the user's."""
    ticket = await fetch_owned(ctx, ticket_id)
    if ticket is None:
        show_not_found(ctx)
        return
    try:
        cancelled = await ctx.api.cancel_ticket(ticket.id, locale=ctx.locale)
    except ConflictError:
        # Served, cancelled or called meanwhile: say so and show what the ticket is now.
        current = await fetch_owned(ctx, ticket.id)
        if current is None:
            show_not_found(ctx)
            return
        ctx.prefix.append(_cancel_refusal(current))
        back_to_card(ctx, current)
        return
    except (NotFoundError, UnprocessableEntityError):
        show_not_found(ctx)
        return
    ctx.prefix.append(Msg("tickets.cancelled_done", {"number": Ltr(cancelled.ticket_number)}))
    back_to_card(ctx, cancelled)


class CancelState(State):
    """Confirm cancelling a ticket: Yes cancels, No returns to the card."""

    name = "ticket.cancel"

    async def render(self, ctx: Ctx) -> None:
        """Name the ticket and ask."""
        ticket = stored_ticket(ctx)
        if ticket is None:
            show_not_found(ctx)
            return
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
        ctx.show(
            question,
            buttons=[
                [
                    ctx.button(Msg("tickets.cancel_yes"), "cny", ticket.id),
                    ctx.button(Msg("tickets.cancel_no"), "cnn"),
                ]
            ],
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> None:
        """Cancel on Yes; back to the card on No."""
        if data.action == "cny":
            await cancel(ctx, session_ticket_id(ctx, data))
        elif data.action == "cnn":
            if not ctx.go_back():
                ticket = stored_ticket(ctx)
                if ticket is None:
                    show_not_found(ctx)
                    return
                back_to_card(ctx, ticket)
        else:
            await super().on_tap(ctx, data)


class MissingState(State):
    """The answer to a ticket that is not the user's or does not exist."""

    name = "tickets.missing"

    async def render(self, ctx: Ctx) -> None:
        """Say the ticket was not found."""
        ctx.show(Msg("tickets.not_found"), buttons=_missing_buttons(ctx))


# --- the list -----------------------------------------------------------------------------


class TicketListState(State):
    """The user's tickets, newest first, ten a page; active ones marked apart from past ones."""

    name = LIST

    async def render(self, ctx: Ctx) -> None:
        """List one page of tickets."""
        page_number = max(1, int(ctx.data.get("page", 1)))
        found = await customer_tickets(ctx, page=page_number, limit=PAGE_SIZE, create=False)
        page = found[1] if found is not None else None
        if page is not None and not page.items and page_number > 1 and page.total_pages >= 1:
            # Tickets went away since the page was drawn: show the last page there is.
            page_number = page.total_pages
            ctx.data["page"] = page_number
            found = await customer_tickets(ctx, page=page_number, limit=PAGE_SIZE, create=False)
            page = found[1] if found is not None else None
        if page is None or not page.items:
            ctx.show(
                Msg("tickets.none"),
                buttons=[[ctx.button(Msg("menu.book"), "book")], ctx.nav_row()],
            )
            return
        rows = [[ctx.button(_list_label(ticket), "tk", ticket.id)] for ticket in page.items]
        paging = []
        if page.has_prev_page:
            paging.append(ctx.button(Msg("common.prev"), "pg", str(page_number - 1)))
        if page.has_next_page:
            paging.append(ctx.button(Msg("common.next"), "pg", str(page_number + 1)))
        lines = [Msg("tickets.list_title", {"count": page.total}, count=page.total)]
        if page.total_pages > 1:
            lines.append(Msg("tickets.list_page", {"page": page_number, "pages": page.total_pages}))
        lines.append(Msg("tickets.list_legend"))
        ctx.show(*lines, buttons=[*rows, paging, ctx.nav_row()])

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> None:
        """Turn the page, or start a booking from the empty list."""
        if data.action == "pg" and data.arg(0).isdigit():
            ctx.data["page"] = max(1, int(data.arg(0)))
        elif data.action == "book":
            ctx.goto("book.branch")
        else:
            await super().on_tap(ctx, data)


def _list_label(ticket: Ticket) -> Msg:
    """Return a list button: active (waiting, upcoming, serving) and past tickets look apart."""
    key = "tickets.item_active" if ticket.is_active else "tickets.item_past"
    return Msg(
        key,
        {
            "number": Ltr(ticket.ticket_number),
            "service": ticket.service.name,
            "status": status_text(ticket.status),
        },
    )


register(TicketState())
register(CancelState())
register(MissingState())
register(TicketListState())
