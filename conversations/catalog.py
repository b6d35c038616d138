"""Own the short-lived, per-locale cache of the company's branches and service trees.

The branch list and service trees change rarely, so one Redis entry per locale answers
every user for ``ctx.cache_seconds``. Open/closed flags may lag by that much; booking
itself is always checked by the API. Must not import Telegram.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import TypeAdapter, ValidationError

from bot.sessions.store import StoreUnavailable
from bot.skiplino import Branch, ServiceGroup
from conversations.context import Ctx

log = logging.getLogger(__name__)

T = TypeVar("T")

_BRANCHES = TypeAdapter(list[Branch])
_TREE = TypeAdapter(list[ServiceGroup])


async def _through_cache(
    ctx: Ctx, key: str, adapter: TypeAdapter[list[T]], fetch: Callable[[], Awaitable[list[T]]]
) -> list[T]:
    """Answer from the cache entry ``key``, or fetch and remember; a cache outage costs a call."""
    try:
        raw = await ctx.store.cache_get(key)
    except StoreUnavailable:
        raw = None
    if raw is not None:
        try:
            return adapter.validate_json(raw)
        except ValidationError:
            log.warning("ignoring a corrupt cache entry %s", key)
    result = await fetch()
    try:
        await ctx.store.cache_set(
            key, adapter.dump_json(result, by_alias=True).decode(), ctx.cache_seconds
        )
    except StoreUnavailable:
        log.info("cache unavailable; continuing without it")
    return result


async def branches(ctx: Ctx) -> list[Branch]:
    """Return the active branches in the user's locale."""
    return await _through_cache(
        ctx, f"branches:{ctx.locale}", _BRANCHES, lambda: ctx.api.list_branches(locale=ctx.locale)
    )


async def tree(ctx: Ctx, branch_id: str) -> list[ServiceGroup]:
    """Return a branch's service groups in the user's locale."""
    return await _through_cache(
        ctx,
        f"tree:{branch_id}:{ctx.locale}",
        _TREE,
        lambda: ctx.api.get_branch_tree(branch_id, locale=ctx.locale),
    )
