"""Own the link between a Telegram user and their Skiplino customer (externalId ``tg-<id>``).

Must not import Telegram.
"""

from __future__ import annotations

import logging

from bot.skiplino import Page, Ticket, UnprocessableEntityError
from conversations.context import Ctx

log = logging.getLogger(__name__)


async def ensure_customer(ctx: Ctx) -> str:
    """Return the user's customer id, looking it up or creating it on first need."""
    if ctx.profile.customer_id:
        return ctx.profile.customer_id
    customer_id = await _find(ctx)
    if customer_id is None:
        try:
            created = await ctx.api.create_customer(
                external_id=ctx.external_id,
                name=ctx.user.full_name or None,
                mobile=ctx.profile.mobile,
                locale=ctx.locale,
            )
            customer_id = created.id
        except UnprocessableEntityError as exc:
            # Another worker (or an earlier, interrupted update) created it meanwhile.
            if not exc.has_error("externalId"):
                raise
            customer_id = await _find(ctx)
            if customer_id is None:
                raise
    ctx.set_profile(customer_id=customer_id)
    return customer_id


async def _find(ctx: Ctx) -> str | None:
    """Look the customer up by externalId; None when there is none."""
    try:
        customer = await ctx.api.get_customer(external_id=ctx.external_id, locale=ctx.locale)
    except UnprocessableEntityError:
        return None
    return customer.id


async def linked_customer(ctx: Ctx) -> str | None:
    """Return the user's customer id, looking it up by externalId but never creating it."""
    if ctx.profile.customer_id:
        return ctx.profile.customer_id
    customer_id = await _find(ctx)
    if customer_id is not None:
        ctx.set_profile(customer_id=customer_id)
    return customer_id


async def customer_tickets(
    ctx: Ctx, *, page: int = 1, limit: int = 10, create: bool
) -> tuple[str, Page[Ticket]] | None:
    """Return a page of the user's tickets (newest first) and the customer id it belongs to.

    The profile keeps the customer link for good; if Skiplino says that customer no longer
    exists (deleted in the directory), the user is linked again and the call made once more.
    None when the user has no customer and ``create`` is False.
    """
    for attempt in range(2):
        customer_id = await (ensure_customer(ctx) if create else linked_customer(ctx))
        if customer_id is None:
            return None
        try:
            tickets = await ctx.api.list_customer_tickets(
                customer_id=customer_id, page=page, limit=limit, locale=ctx.locale
            )
        except UnprocessableEntityError as exc:
            if attempt or not exc.has_error("id"):
                raise
            log.info("the linked customer is gone; linking the user again")
            ctx.set_profile(customer_id=None)
            continue
        return customer_id, tickets
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
