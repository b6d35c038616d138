"""Own the link between a Telegram user and their Skiplino customer (externalId ``tg-<id>``).

Must not import Telegram.
"""

from __future__ import annotations

import logging

from bot.skiplino import Customer, Page, SkiplinoError, Ticket, UnprocessableEntityError
from conversations.context import Ctx

log = logging.getLogger(__name__)


async def ensure_customer(ctx: Ctx) -> str:
    """Return the user's customer id, looking it up or creating it on first need."""
    if ctx.profile.customer_id:
        return ctx.profile.customer_id
    found = await _find(ctx)
    customer_id = found.id if found is not None else None
    if found is not None and ctx.profile.mobile and found.mobile != ctx.profile.mobile:
        # A number shared before the link existed: give it to the customer now.
        await _push_mobile(ctx, found.id, ctx.profile.mobile)
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
            again = await _find(ctx)
            if again is None:
                raise
            customer_id = again.id
    ctx.set_profile(customer_id=customer_id)
    return customer_id


async def _find(ctx: Ctx) -> Customer | None:
    """Look the customer up by externalId; None when there is none."""
    try:
        return await ctx.api.get_customer(external_id=ctx.external_id, locale=ctx.locale)
    except UnprocessableEntityError:
        return None


async def _push_mobile(ctx: Ctx, customer_id: str, mobile: str) -> bool:
    """Store ``mobile`` on the customer; False when Skiplino did not take it."""
    try:
        await ctx.api.update_customer(customer_id=customer_id, mobile=mobile, locale=ctx.locale)
    except SkiplinoError:
        log.warning("could not store the phone number on the Skiplino customer")
        return False
    return True


async def save_mobile(ctx: Ctx, mobile: str) -> bool:
    """Keep the user's phone number and store it on their customer; False if Skiplino failed.

    The customer is linked (or created) now if need be, so the number is never only in our
    profile while the user is told it is saved.
    """
    ctx.set_profile(mobile=mobile)
    try:
        customer_id = await ensure_customer(ctx)
    except SkiplinoError:
        log.warning("could not link a customer to store the phone number")
        return False
    return await _push_mobile(ctx, customer_id, mobile)


async def linked_customer(ctx: Ctx) -> str | None:
    """Return the user's customer id, looking it up by externalId but never creating it."""
    if ctx.profile.customer_id:
        return ctx.profile.customer_id
    found = await _find(ctx)
    if found is None:
        return None
    ctx.set_profile(customer_id=found.id)
    return found.id


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
