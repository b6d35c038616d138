"""Own "my tickets": the list, /tickets and /ticket, and the flow value ``TICKETS``.

The card, its refresh and cancel, and the ownership checks are ``conversations.ticket_card``'s;
this flow puts them together with the list. Must not import Telegram.
"""

from __future__ import annotations

from bot.i18n import Ltr, Msg
from bot.skiplino import Ticket
from conversations.callback import CallbackData
from conversations.context import Ctx
from conversations.customers import customer_tickets
from conversations.flow import Action, Flow, Outcome, Shown, State
from conversations.flows.booking import BookingStep
from conversations.session import Paging
from conversations.ticket_card import (
    TICKET_ID,
    CancelState,
    MissingState,
    TicketAction,
    TicketState,
    TicketStep,
    card_of,
    fetch_owned,
    open_from_list,
    open_list,
    owns,
    refresh,
    show_not_found,
    show_ticket,
    status_text,
)

PAGE_SIZE = 10  # the API's cap for a customer's tickets
NUMBER_SEARCH_PAGES = 5  # /ticket A042 looks through the newest 50 tickets


class TicketListState(State):
    """The user's tickets, newest first, ten a page; active ones marked apart from past ones."""

    name = TicketStep.LIST

    async def render(self, ctx: Ctx) -> Shown:
        """List one page of tickets."""
        paging = ctx.draft_as(Paging) or Paging()
        page_number = max(1, paging.page)
        found = await customer_tickets(ctx, page=page_number, limit=PAGE_SIZE, create=False)
        page = found[1] if found is not None else None
        if page is not None and not page.items and page_number > 1 and page.total_pages >= 1:
            # Tickets went away since the page was drawn: show the last page there is.
            page_number = page.total_pages
            ctx.session.draft = Paging(page=page_number)
            found = await customer_tickets(ctx, page=page_number, limit=PAGE_SIZE, create=False)
            page = found[1] if found is not None else None
        if page is None or not page.items:
            return ctx.show(
                Msg("tickets.none"),
                buttons=[[ctx.button(Msg("menu.book"), TicketAction.BOOK)], ctx.nav_row()],
            )
        rows = [
            [ctx.button(_list_label(ticket), TicketAction.OPEN, ticket.id)] for ticket in page.items
        ]
        paging_row = []
        if page.has_prev_page:
            paging_row.append(
                ctx.button(Msg("common.prev"), TicketAction.PAGE, str(page_number - 1))
            )
        if page.has_next_page:
            paging_row.append(
                ctx.button(Msg("common.next"), TicketAction.PAGE, str(page_number + 1))
            )
        lines = [Msg("tickets.list_title", {"count": page.total}, count=page.total)]
        if page.total_pages > 1:
            lines.append(Msg("tickets.list_page", {"page": page_number, "pages": page.total_pages}))
        lines.append(Msg("tickets.list_legend"))
        return ctx.show(*lines, buttons=[*rows, paging_row, ctx.nav_row()])

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> Outcome:
        """Turn the page, or start a booking from the empty list."""
        if data.action == TicketAction.PAGE and data.arg(0).isdigit():
            ctx.session.draft = Paging(page=max(1, int(data.arg(0))))
            return None
        if data.action == TicketAction.BOOK:
            ctx.goto(BookingStep.BRANCH, Paging())
            return None
        return await super().on_tap(ctx, data)


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


async def open_ticket_by_reference(ctx: Ctx, reference: str) -> Outcome:
    """Show a ticket named by its id or its number (``/ticket A042``)."""
    reference = reference.strip()
    if not reference:
        ctx.notice(Msg("tickets.ticket_usage"))
        ctx.goto(TicketStep.LIST, Paging(page=1))
        return None
    if TICKET_ID.match(reference):
        ticket = await fetch_owned(ctx, reference)
        if ticket is not None:
            ctx.goto(TicketStep.CARD, card_of(ctx, ticket))
            return show_ticket(ctx, ticket)
    found = await _find_by_number(ctx, reference)
    if found is None:
        return show_not_found(ctx)
    ctx.goto(TicketStep.CARD, card_of(ctx, found))
    return show_ticket(ctx, found)


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


async def tickets_command(ctx: Ctx, arg: str) -> Outcome:
    """Open the ticket list from anywhere (/tickets)."""
    ctx.reset()
    ctx.goto(TicketStep.LIST, Paging(page=1))
    return None


async def ticket_command(ctx: Ctx, arg: str) -> Outcome:
    """Open one ticket by id or number from anywhere (/ticket A042)."""
    ctx.reset()
    return await open_ticket_by_reference(ctx, arg)


TICKETS = Flow(
    name="tickets",
    states={
        state.name: state
        for state in (TicketListState(), TicketState(), CancelState(), MissingState())
    },
    actions={
        TicketAction.OPEN: Action(open_from_list, stateless=True),
        TicketAction.REFRESH: Action(refresh, stateless=True),
        TicketAction.MINE: Action(open_list),
    },
    commands={"tickets": tickets_command, "ticket": ticket_command},
)
