"""Own the company's branches and service trees as the flows see them: API plus cache.

The branch list and service trees change rarely, so one cache entry per locale answers
every user for ``ttl_seconds``. Open/closed flags may lag by that much; booking itself is
always checked by the API. A booking draft keeps only ids; ``choice`` turns them back into
names and flags in the user's current locale. A ``Catalogue`` lives for one update and
keeps what it read, so a tap and the card shown after it read each list once.
Must not import Telegram or any flow module.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from pydantic import TypeAdapter, ValidationError

from bot.sessions.store import StoreUnavailable
from bot.skiplino import Branch, Service, ServiceGroup
from conversations.ports import Cache, SkiplinoApi
from conversations.session import BookingDraft

log = logging.getLogger(__name__)

T = TypeVar("T")

_BRANCHES = TypeAdapter(list[Branch])
_TREE = TypeAdapter(list[ServiceGroup])


def _branches_key(locale: str) -> str:
    """Return the cache key of the branch list in ``locale``."""
    return f"branches:{locale}"


def _tree_key(branch_id: str, locale: str) -> str:
    """Return the cache key of a branch's service tree in ``locale``."""
    return f"tree:{branch_id}:{locale}"


def _parse(key: str, raw: str, adapter: TypeAdapter[list[T]]) -> list[T] | None:
    """Read a cache entry; a corrupt one counts as missing."""
    try:
        return adapter.validate_json(raw)
    except ValidationError:
        log.warning("ignoring a corrupt cache entry %s", key)
        return None


@dataclass(frozen=True)
class Choice:
    """The branch, group and service a booking draft's ids name, in the user's locale."""

    branch: Branch
    group: ServiceGroup | None = None
    service: Service | None = None


class Catalogue:
    """Branches and service trees of the company, from this update, the cache or the API."""

    def __init__(self, api: SkiplinoApi, cache: Cache, *, ttl_seconds: int) -> None:
        """Read through ``cache`` (entries kept ``ttl_seconds``) to ``api``."""
        self._api = api
        self._cache = cache
        self._ttl_seconds = ttl_seconds
        # What this update read already; gone with the update, so nothing outlives it.
        self._read: dict[str, Any] = {}

    async def _through_cache(
        self, key: str, adapter: TypeAdapter[list[T]], fetch: Callable[[], Awaitable[list[T]]]
    ) -> list[T]:
        """Answer from this update's reads, the cache entry ``key``, or fetch and remember."""
        if key in self._read:
            return cast(list[T], self._read[key])
        try:
            raw = await self._cache.cache_get(key)
        except StoreUnavailable:
            raw = None
        result = _parse(key, raw, adapter) if raw is not None else None
        if result is None:
            result = await fetch()
            try:
                await self._cache.cache_set(
                    key, adapter.dump_json(result, by_alias=True).decode(), self._ttl_seconds
                )
            except StoreUnavailable:
                log.info("cache unavailable; continuing without it")
        self._read[key] = result
        return result

    async def branches(self, locale: str) -> list[Branch]:
        """Return the active branches in ``locale``."""
        return await self._through_cache(
            _branches_key(locale), _BRANCHES, lambda: self._api.list_branches(locale=locale)
        )

    async def tree(self, branch_id: str, locale: str) -> list[ServiceGroup]:
        """Return a branch's service groups in ``locale``."""
        return await self._through_cache(
            _tree_key(branch_id, locale),
            _TREE,
            lambda: self._api.get_branch_tree(branch_id, locale=locale),
        )

    async def _prefetch(self, branch_id: str, locale: str) -> None:
        """Read the branch list and the branch's tree from the cache in one round trip."""
        keys = [_branches_key(locale), _tree_key(branch_id, locale)]
        if all(key in self._read for key in keys):
            return
        try:
            raws = await self._cache.cache_get_many(keys)
        except StoreUnavailable:
            return
        adapters: tuple[TypeAdapter[Any], ...] = (_BRANCHES, _TREE)
        for key, raw, adapter in zip(keys, raws, adapters, strict=True):
            parsed = _parse(key, raw, adapter) if raw is not None else None
            if parsed is not None:
                self._read.setdefault(key, parsed)

    async def choice(self, draft: BookingDraft, locale: str) -> Choice | None:
        """Resolve the draft's branch, group and service ids; None when one of them is gone.

        An id the draft does not hold yet leaves its part None; an id it holds that the
        catalogue no longer lists makes the whole choice None, so a step never shows half
        a choice.
        """
        if draft.branch_id is not None and draft.group_id:
            await self._prefetch(draft.branch_id, locale)
        branch = next((b for b in await self.branches(locale) if b.id == draft.branch_id), None)
        if branch is None:
            return None
        if not draft.group_id:
            return None if draft.service_id else Choice(branch)
        groups = await self.tree(branch.id, locale)
        group = next((g for g in groups if g.id == draft.group_id), None)
        if group is None:
            return None
        if not draft.service_id:
            return Choice(branch, group)
        service = next((s for s in group.services if s.id == draft.service_id), None)
        return Choice(branch, group, service) if service is not None else None
