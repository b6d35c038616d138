"""Own the chat store interface: per-chat lock, session and profile documents, a short cache.

One update does: ``acquire`` the chat's lock -> ``load`` session + profile -> run the
transition -> ``commit`` (compare-and-set, TTL, optional profile, lock release). Backends:
``RedisChatStore`` (production) and ``MemoryChatStore`` (console demo, no Redis).

Must not import Telegram, conversations or the Skiplino client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from bot.sessions.models import Profile, Session

log = logging.getLogger(__name__)

# Poll the lock this often: short enough that a waiting update starts soon after the
# holder finishes, jittered so that waiters of one chat do not retry in lockstep.
POLL_MIN_SECONDS = 0.02
POLL_MAX_SECONDS = 0.05


class ChatBusy(Exception):
    """The chat's lock was not obtained within the wait time."""


class StoreUnavailable(Exception):
    """The store could not be reached (Redis down, connection refused, timeout)."""


@dataclass
class Loaded:
    """What ``load`` found for one update."""

    session: Session | None  # None when no session is stored (or it expired, or was corrupt)
    profile: Profile | None


class ChatStore(Protocol):
    """Keep sessions (with TTL) and profiles (without), and serialise updates of one chat."""

    async def acquire(self, chat_id: int, *, wait: float = 5.0, hold_ms: int = 30_000) -> str:
        """Lock the chat for ``hold_ms`` and return the token; raise ChatBusy after ``wait``."""
        ...

    async def extend(self, chat_id: int, token: str, hold_ms: int) -> bool:
        """Keep holding the chat's lock for another ``hold_ms``; False if it is no longer ours."""
        ...

    async def load(self, chat_id: int, user_id: int) -> Loaded:
        """Return the chat's session and the user's profile (one round trip)."""
        ...

    async def commit(
        self,
        chat_id: int,
        token: str,
        session: Session,
        *,
        profile: tuple[int, Profile] | None = None,
        release: bool = True,
    ) -> bool:
        """Save ``session`` if its version is current, write ``profile``, release the lock.

        ``release=False`` keeps the lock (the caller releases it after sending the replies).

        On success the stored version is ``session.version + 1`` and ``session.version`` is
        set to it. On a version mismatch nothing is written, the lock is still released and
        False is returned. The lock is released only if ``token`` still holds it.
        """
        ...

    async def release(self, chat_id: int, token: str) -> None:
        """Release the chat's lock if ``token`` still holds it."""
        ...

    async def get_profile(self, user_id: int) -> Profile | None:
        """Return the user's profile, or None."""
        ...

    async def put_profile(self, user_id: int, profile: Profile) -> None:
        """Store the user's profile without expiry."""
        ...

    async def cache_get(self, key: str) -> str | None:
        """Return the cached value of ``key``, or None when absent or expired."""
        ...

    async def cache_get_many(self, keys: Sequence[str]) -> list[str | None]:
        """Return the cached values of ``keys`` in one round trip (None where absent)."""
        ...

    async def cache_set(self, key: str, value: str, ttl_seconds: int) -> None:
        """Cache ``value`` under ``key`` for ``ttl_seconds`` (at least 1)."""
        ...

    async def ping(self) -> None:
        """Check that the store answers; raise StoreUnavailable when it does not."""
        ...

    async def close(self) -> None:
        """Release the store's resources."""
        ...


async def poll_for_lock(try_once: Callable[[], Awaitable[bool]], wait: float) -> None:
    """Call ``try_once`` until it returns True; raise ChatBusy when ``wait`` seconds pass."""
    deadline = time.monotonic() + max(wait, 0.0)
    while not await try_once():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ChatBusy
        await asyncio.sleep(min(random.uniform(POLL_MIN_SECONDS, POLL_MAX_SECONDS), remaining))


def parse_session(raw: str | bytes | None, chat_id: int) -> Session | None:
    """Return the session stored in ``raw``; None when missing or unreadable."""
    if raw is None:
        return None
    try:
        return Session.model_validate_json(raw)
    except ValidationError:
        # A half-written or old-format document must not wedge the chat: start over.
        log.warning("stored session of chat %s is unreadable; starting a new one", chat_id)
        return None


def parse_profile(raw: str | bytes | None, user_id: int) -> Profile | None:
    """Return the profile stored in ``raw``; None when missing or unreadable."""
    if raw is None:
        return None
    try:
        return Profile.model_validate_json(raw)
    except ValidationError:
        log.warning("stored profile of user %s is unreadable; ignoring it", user_id)
        return None


def stored_version(raw: str | bytes | None) -> int:
    """Return the CAS version of a stored session document; 0 when missing or unreadable.

    Mirrors the Lua commit script of the Redis store, so both stores agree on what a
    corrupt document counts as.
    """
    if raw is None:
        return 0
    try:
        doc = json.loads(raw)
    except ValueError:
        return 0
    version = doc.get("version") if isinstance(doc, dict) else None
    return version if isinstance(version, int) and not isinstance(version, bool) else 0


def check_ttl(ttl_seconds: int) -> None:
    """Refuse a TTL below one second (Redis rejects it, and 0 would mean "forever")."""
    if ttl_seconds < 1:
        raise ValueError(f"ttl_seconds must be at least 1, got {ttl_seconds}")
