"""Own "my tickets": the list, the ticket card and its refresh; ownership of every ticket shown.

A ticket id reaches us through buttons, deep links and /ticket, all of which can be forged:
only tickets of the user's own linked customer are shown or acted on, and any other ticket
gets exactly the answer a missing ticket gets. Must not import Telegram.
"""

from __future__ import annotations

import logging
import re

from bot.i18n import LocalDate, LocalTime, Ltr, Msg
from bot.skiplino import NotFoundError, Ticket, TicketStatus, UnprocessableEntityError
from conversations.callback import CallbackData
from conversations.context import Ctx
from conversations.customers import ensure_customer
from conversations.registry import State, register, register_action
from conversations.replies import Button

log = logging.getLogger(__name__)

KNOWN_STATUSES = frozenset(
    {
        TicketStatus.WAITING,
        TicketStatus.UPCOMING,
        TicketStatus.SERVING,
        TicketStatus.SERVED,
        TicketStatus.CANCELLED,
    }
)
_ID = re.compile(r"^[A-Za-z0-9]{10}$")
NUMBER_SEARCH_PAGES = 5


def status_text(status: str) -> Msg | str:
    """Return the status in words; an unknown status is shown as it came."""
    return Msg(f"status.{status}") if status in KNOWN_STATUSES else status


def ticket_lines(ctx: Ctx, ticket: Ticket) -> list[Msg]:
    """Describe a ticket."""
    lines = [
        Msg("tickets.card_title", {"number": Ltr(ticket.ticket_number)}),
        Msg("tickets.status_line", {"status": status_text(ticket.status)}),
        Msg("tickets.branch_line", {"branch": ticket.branch.name}),
        Msg("tickets.service_line", {"service": ticket.service.name}),
    ]
    if ticket.time is not None:
        lines.append(
            Msg(
                "tickets.time_line",
                {
                    "day": LocalDate(ticket.time.astimezone(ctx.timezone).date(), "long"),
                    "time": LocalTime(ticket.time),
                },
            )
        )
    if ticket.status == TicketStatus.WAITING and ticket.queue_size is not None:
        lines.append(
            Msg("queue.people_ahead", {"count": ticket.queue_size}, count=ticket.queue_size)
        )
        if ticket.waiting_time is not None:
            lines.append(
                Msg("queue.wait_minutes", {"count": ticket.waiting_time}, count=ticket.waiting_time)
            )
    lines.append(Msg("tickets.updated", {"time": LocalTime(ctx.now())}))
    return lines


def ticket_buttons(ctx: Ctx, ticket: Ticket) -> list[list[Button]]:
    """Return the actions a ticket card offers."""
    rows: list[list[Button]] = [[ctx.button(Msg("common.refresh"), "tkr", ticket.id)]]
    if ticket.status in KNOWN_STATUSES:
        extra = ticket_action_buttons(ctx, ticket)
        if extra:
            rows.append(extra)
    rows.append(
        [ctx.button(Msg("menu.tickets"), "mine"), ctx.button(Msg("common.main_menu"), "menu")]
    )
    return rows


def ticket_action_buttons(ctx: Ctx, ticket: Ticket) -> list[Button]:
    """Return Cancel / Reschedule buttons where the ticket allows them (tickets issue)."""
    return []


def show_ticket(ctx: Ctx, ticket: Ticket) -> None:
    """Make ``ticket`` the current card."""
    ctx.session.state = "ticket"
    ctx.session.data = {"ticket": ticket.model_dump(mode="json", by_alias=True)}
    ctx.show(*ticket_lines(ctx, ticket), buttons=ticket_buttons(ctx, ticket))


def owns(ctx: Ctx, ticket: Ticket) -> bool:
    """Tell whether the ticket belongs to the user's linked customer."""
    customer_id = ctx.profile.customer_id
    return bool(customer_id) and ticket.customer is not None and ticket.customer.id == customer_id


async def fetch_owned(ctx: Ctx, ticket_id: str) -> Ticket | None:
    """Fetch a ticket if it exists and is the user's; None otherwise (same answer for both)."""
    if not _ID.match(ticket_id):
        return None
    if not ctx.profile.customer_id:
        await ensure_customer(ctx)
    try:
        ticket = await ctx.api.get_ticket(ticket_id, locale=ctx.locale)
    except (NotFoundError, UnprocessableEntityError):
        return None
    return ticket if owns(ctx, ticket) else None


def show_not_found(ctx: Ctx) -> None:
    """Say the ticket was not found (also for tickets of other users)."""
    ctx.show(
        Msg("tickets.not_found"),
        buttons=[
            [ctx.button(Msg("menu.tickets"), "mine"), ctx.button(Msg("common.main_menu"), "menu")]
        ],
    )


async def open_ticket(ctx: Ctx, ticket_id: str) -> None:
    """Show the card of one of the user's tickets."""
    ticket = await fetch_owned(ctx, ticket_id)
    if ticket is None:
        show_not_found(ctx)
        return
    ctx.goto("ticket", push=True)
    show_ticket(ctx, ticket)


async def open_ticket_by_reference(ctx: Ctx, reference: str) -> None:
    """Show a ticket named by its id or its number (``/ticket A042``)."""
    reference = reference.strip()
    if not reference:
        ctx.prefix.append(Msg("tickets.ticket_usage"))
        ctx.goto("tickets.list")
        return
    if _ID.match(reference):
        ticket = await fetch_owned(ctx, reference)
        if ticket is not None:
            ctx.goto("ticket")
            show_ticket(ctx, ticket)
            return
    customer_id = await ensure_customer(ctx)
    wanted = reference.upper()
    async for ticket in ctx.api.iter_customer_tickets(customer_id=customer_id, locale=ctx.locale):
        if ticket.ticket_number.upper() == wanted:
            ctx.goto("ticket")
            show_ticket(ctx, ticket)
            return
    show_not_found(ctx)


async def _open(ctx: Ctx, data: CallbackData) -> None:
    """Open a ticket card from a list button."""
    await open_ticket(ctx, data.arg(0))


async def _refresh(ctx: Ctx, data: CallbackData) -> None:
    """Fetch the ticket again and show it; say so when nothing changed."""
    ticket = await fetch_owned(ctx, data.arg(0))
    if ticket is None:
        show_not_found(ctx)
        return
    before = ctx.data.get("ticket") if ctx.state == "ticket" else None
    after = ticket.model_dump(mode="json", by_alias=True)
    if before == after:
        ctx.toast("tickets.up_to_date")
    show_ticket(ctx, ticket)


register_action("tk", _open)
register_action("tkr", _refresh)


async def _mine(ctx: Ctx, data: CallbackData) -> None:
    """Open the ticket list."""
    ctx.reset("menu")
    ctx.goto("tickets.list")


register_action("mine", _mine)


class TicketState(State):
    """A ticket card."""

    name = "ticket"

    async def render(self, ctx: Ctx) -> None:
        """Show the stored ticket (fresh data comes with Refresh)."""
        raw = ctx.data.get("ticket")
        if not raw:
            show_not_found(ctx)
            return
        ticket = Ticket.model_validate(raw)
        ctx.show(*ticket_lines(ctx, ticket), buttons=ticket_buttons(ctx, ticket))


class TicketListState(State):
    """The user's tickets, newest first, ten a page."""

    name = "tickets.list"

    async def render(self, ctx: Ctx) -> None:
        """List one page of tickets."""
        customer_id = await ensure_customer(ctx)
        page_number = max(1, int(ctx.data.get("page", 1)))
        page = await ctx.api.list_customer_tickets(
            customer_id=customer_id, page=page_number, limit=10, locale=ctx.locale
        )
        if not page.items:
            ctx.show(
                Msg("tickets.none"),
                buttons=[[ctx.button(Msg("menu.book"), "book")], ctx.nav_row()],
            )
            return
        rows = []
        for ticket in page.items:
            key = "tickets.item_active" if ticket.is_active else "tickets.item_past"
            label = Msg(
                key,
                {
                    "number": Ltr(ticket.ticket_number),
                    "service": ticket.service.name,
                    "status": status_text(ticket.status),
                },
            )
            rows.append([ctx.button(label, "tk", ticket.id)])
        paging = []
        if page.has_prev_page:
            paging.append(ctx.button(Msg("common.prev"), "pg", str(page_number - 1)))
        if page.has_next_page:
            paging.append(ctx.button(Msg("common.next"), "pg", str(page_number + 1)))
        ctx.show(
            Msg("tickets.list_title", {"count": page.total}, count=page.total),
            buttons=[*rows, paging, ctx.nav_row()],
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> None:
        """Turn the page, or start a booking from the empty list."""
        if data.action == "pg" and data.arg(0).isdigit():
            ctx.data["page"] = max(1, int(data.arg(0)))
        elif data.action == "book":
            ctx.goto("book.branch")
        else:
            await super().on_tap(ctx, data)


register(TicketState())
register(TicketListState())
