"""Own the link between a Telegram user and their Skiplino customer (externalId ``tg-<id>``).

Must not import Telegram.
"""

from __future__ import annotations

import logging

from bot.skiplino import UnprocessableEntityError
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
