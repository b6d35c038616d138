"""Own the short-lived, per-locale cache of the company's branches and service trees.

The branch list and service trees change rarely, so one Redis entry per locale answers
every user for ``ctx.cache_seconds``. Open/closed flags may lag by that much; booking
itself is always checked by the API. Must not import Telegram.
"""

from __future__ import annotations

import json
import logging

from pydantic import TypeAdapter, ValidationError

from bot.sessions.store import StoreUnavailable
from bot.skiplino import Branch, ServiceGroup
from conversations.context import Ctx

log = logging.getLogger(__name__)

_BRANCHES = TypeAdapter(list[Branch])
_TREE = TypeAdapter(list[ServiceGroup])


async def _cached(ctx: Ctx, key: str) -> str | None:
    """Read a cache entry; a cache outage only costs an API call."""
    try:
        return await ctx.store.cache_get(key)
    except StoreUnavailable:
        return None


async def _remember(ctx: Ctx, key: str, value: str) -> None:
    """Write a cache entry, ignoring a cache outage."""
    try:
        await ctx.store.cache_set(key, value, ctx.cache_seconds)
    except StoreUnavailable:
        log.info("cache unavailable; continuing without it")


async def branches(ctx: Ctx) -> list[Branch]:
    """Return the active branches in the user's locale."""
    key = f"branches:{ctx.locale}"
    raw = await _cached(ctx, key)
    if raw is not None:
        try:
            return _BRANCHES.validate_json(raw)
        except ValidationError:
            log.warning("ignoring a corrupt cache entry %s", key)
    result = await ctx.api.list_branches(locale=ctx.locale)
    await _remember(ctx, key, json.dumps(_BRANCHES.dump_python(result, mode="json", by_alias=True)))
    return result


async def tree(ctx: Ctx, branch_id: str) -> list[ServiceGroup]:
    """Return a branch's service groups in the user's locale."""
    key = f"tree:{branch_id}:{ctx.locale}"
    raw = await _cached(ctx, key)
    if raw is not None:
        try:
            return _TREE.validate_json(raw)
        except ValidationError:
            log.warning("ignoring a corrupt cache entry %s", key)
    result = await ctx.api.get_branch_tree(branch_id, locale=ctx.locale)
    await _remember(ctx, key, json.dumps(_TREE.dump_python(result, mode="json", by_alias=True)))
    return result
