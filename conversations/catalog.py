"""Own the short-lived, per-locale cache of the company's branches and service trees.

The branch list and service trees change rarely, so one Redis entry per locale answers
every user for ``ctx.cache_seconds``. Open/closed flags may lag by that much; booking
itself is always checked by the API. A booking draft keeps only ids; ``choice`` turns them
back into names and flags in the user's current locale. Must not import Telegram.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from pydantic import TypeAdapter, ValidationError

from bot.sessions.store import StoreUnavailable
from bot.skiplino import Branch, Service, ServiceGroup
from conversations.context import Ctx

log = logging.getLogger(__name__)

T = TypeVar("T")

_BRANCHES = TypeAdapter(list[Branch])
_TREE = TypeAdapter(list[ServiceGroup])


def _branches_key(ctx: Ctx) -> str:
    """Return the cache key of the branch list in the user's locale."""
    return f"branches:{ctx.locale}"


def _tree_key(ctx: Ctx, branch_id: str) -> str:
    """Return the cache key of a branch's service tree in the user's locale."""
    return f"tree:{branch_id}:{ctx.locale}"


def _parse(key: str, raw: str, adapter: TypeAdapter[list[T]]) -> list[T] | None:
    """Read a cache entry; a corrupt one counts as missing."""
    try:
        return adapter.validate_json(raw)
    except ValidationError:
        log.warning("ignoring a corrupt cache entry %s", key)
        return None


async def _through_cache(
    ctx: Ctx, key: str, adapter: TypeAdapter[list[T]], fetch: Callable[[], Awaitable[list[T]]]
) -> list[T]:
    """Answer from this update's memo, the cache entry ``key``, or fetch and remember."""
    if key in ctx.memo:
        return cast(list[T], ctx.memo[key])
    try:
        raw = await ctx.store.cache_get(key)
    except StoreUnavailable:
        raw = None
    result = _parse(key, raw, adapter) if raw is not None else None
    if result is None:
        result = await fetch()
        try:
            await ctx.store.cache_set(
                key, adapter.dump_json(result, by_alias=True).decode(), ctx.cache_seconds
            )
        except StoreUnavailable:
            log.info("cache unavailable; continuing without it")
    ctx.memo[key] = result
    return result


async def branches(ctx: Ctx) -> list[Branch]:
    """Return the active branches in the user's locale."""
    return await _through_cache(
        ctx, _branches_key(ctx), _BRANCHES, lambda: ctx.api.list_branches(locale=ctx.locale)
    )


async def tree(ctx: Ctx, branch_id: str) -> list[ServiceGroup]:
    """Return a branch's service groups in the user's locale."""
    return await _through_cache(
        ctx,
        _tree_key(ctx, branch_id),
        _TREE,
        lambda: ctx.api.get_branch_tree(branch_id, locale=ctx.locale),
    )


async def _prefetch(ctx: Ctx, branch_id: str) -> None:
    """Read the branch list and the branch's tree from the cache in one round trip."""
    keys = [_branches_key(ctx), _tree_key(ctx, branch_id)]
    if all(key in ctx.memo for key in keys):
        return
    try:
        raws = await ctx.store.cache_get_many(keys)
    except StoreUnavailable:
        return
    adapters: tuple[TypeAdapter[Any], ...] = (_BRANCHES, _TREE)
    for key, raw, adapter in zip(keys, raws, adapters, strict=True):
        parsed = _parse(key, raw, adapter) if raw is not None else None
        if parsed is not None:
            ctx.memo.setdefault(key, parsed)


@dataclass(frozen=True)
class Choice:
    """The branch, group and service a booking draft's ids name, in the user's locale."""

    branch: Branch
    group: ServiceGroup | None = None
    service: Service | None = None


async def choice(ctx: Ctx, data: Mapping[str, Any]) -> Choice | None:
    """Resolve the draft's branch_id, group_id and service_id; None when one of them is gone.

    An id the draft does not hold yet leaves its part None; an id it holds that the
    catalogue no longer lists makes the whole choice None, so a step never shows half a choice.
    """
    branch_id = data.get("branch_id")
    if isinstance(branch_id, str) and data.get("group_id"):
        await _prefetch(ctx, branch_id)
    branch = next((b for b in await branches(ctx) if b.id == branch_id), None)
    if branch is None:
        return None
    group_id, service_id = data.get("group_id"), data.get("service_id")
    if not group_id:
        return None if service_id else Choice(branch)
    group = next((g for g in await tree(ctx, branch.id) if g.id == group_id), None)
    if group is None:
        return None
    if not service_id:
        return Choice(branch, group)
    service = next((s for s in group.services if s.id == service_id), None)
    return Choice(branch, group, service) if service is not None else None
