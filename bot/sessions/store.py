"""Own the chat store interface: per-chat lock, session and profile documents, a short cache.

One update is one ``turn``, written here once for every backend::

    async with store.turn(chat_id, user_id, wait=..., hold_ms=..., renew_seconds=...) as turn:
        ...                                # turn.session, turn.profile: what was stored
        await turn.save(session, profile)  # compare-and-set, TTL; the lock stays held
        ...                                # send the replies, still under the lock
    # the lock is released here, also on error or cancellation

Entering ``acquire``s the chat's lock (``ChatBusy`` after ``wait``, ``StoreUnavailable``
when the store is down), starts renewing it every ``renew_seconds`` in the background
(``extend``) and ``load``s session + profile. ``save`` is ``commit(release=False)``.
Leaving stops the renewal (waiting a bounded time) and ``release``s the lock if it is
still ours; a store outage at that point is swallowed, the lock then expires on its own.

Backends implement the primitives (``acquire``, ``extend``, ``load``, ``commit``,
``release``, profiles, cache, update claims) and inherit ``turn`` from ``ChatStore``:
``RedisChatStore`` (production) and ``MemoryChatStore`` (console demo and tests, no Redis).

Telegram delivers an update again when its first delivery got no 2xx in time; the update
claims (``claim_update``, ``finish_update``, ``release_update``) let every replica agree
that one update is handled once: a claim expires quickly, so a replica that died holding
it does not keep the redelivery from being handled; "done" is kept for an hour.

Must not import Telegram, conversations or the Skiplino client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Generic, Protocol

from pydantic import ValidationError

from bot.aio import STOP_TIMEOUT_SECONDS, pause, running
from bot.sessions.models import Profile, SessionT

log = logging.getLogger(__name__)

# Poll the lock this often: short enough that a waiting update starts soon after the
# holder finishes, jittered so that waiters of one chat do not retry in lockstep.
POLL_MIN_SECONDS = 0.02
POLL_MAX_SECONDS = 0.05

# A profile (locale, linked customer, name, phone) is personal data: it expires after this
# long without any update from its user (PROFILE_TTL_DAYS), and every update restarts it.
PROFILE_TTL_SECONDS = 365 * 24 * 3600


class ChatBusy(Exception):
    """The chat's lock was not obtained within the wait time."""


class StoreUnavailable(Exception):
    """The store could not be reached or refused to work (down, timeout, OOM, read-only, auth)."""

    def __init__(self, message: str, *, cause: str = "unknown") -> None:
        """Keep ``message`` for tracebacks and ``cause``, a short word for log lines."""
        super().__init__(message)
        self.cause = cause


# The field of a stored session document naming the save that wrote it: a save whose reply
# was lost and that is sent again finds its own nonce and counts as written.
SAVE_NONCE_FIELD = "_save_nonce"

# What an update's key holds once it was handled; claim tokens never take this value.
UPDATE_DONE = "done"


class UpdateClaim(Enum):
    """What ``claim_update`` found: the update is now ours, someone handles it, or it is done."""

    CLAIMED = "claimed"
    IN_PROGRESS = "in_progress"
    DONE = "done"


@dataclass
class Loaded(Generic[SessionT]):
    """What ``load`` found for one update."""

    session: SessionT | None  # None when no session is stored (or it expired, or was corrupt)
    profile: Profile | None


class ChatStore(Protocol[SessionT]):
    """Keep sessions (with TTL) and profiles (without), and serialise updates of one chat.

    Backends subclass it explicitly: they implement the primitives and inherit ``turn``.
    Sessions are documents of the model class a backend is built with (``session_model``).
    """

    def turn(
        self,
        chat_id: int,
        user_id: int,
        *,
        wait: float,
        hold_ms: int,
        renew_seconds: float,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
    ) -> Turn[SessionT]:
        """Return one update of ``chat_id`` by ``user_id``, to run with ``async with``."""
        return Turn(
            self,
            chat_id,
            user_id,
            wait=wait,
            hold_ms=hold_ms,
            renew_seconds=renew_seconds,
            stop_timeout=stop_timeout,
        )

    async def acquire(self, chat_id: int, *, wait: float = 5.0, hold_ms: int = 30_000) -> str:
        """Lock the chat for ``hold_ms`` and return the token; raise ChatBusy after ``wait``."""
        ...

    async def extend(self, chat_id: int, token: str, hold_ms: int) -> bool:
        """Keep holding the chat's lock for another ``hold_ms``; False if it is no longer ours."""
        ...

    async def load(self, chat_id: int, user_id: int) -> Loaded[SessionT]:
        """Return the chat's session and the user's profile (one round trip)."""
        ...

    async def commit(
        self,
        chat_id: int,
        token: str,
        session: SessionT,
        *,
        profile: tuple[int, Profile] | None = None,
        release: bool = True,
        nonce: str | None = None,
    ) -> bool:
        """Save ``session`` if its version is current, write ``profile``, release the lock.

        Each save stamps the document with ``nonce`` (a fresh one when None): a save sent
        again after its reply was lost finds its own stamp and returns True without writing.

        ``release=False`` keeps the lock (``Turn.save`` does so: the lock is released when
        the turn ends, after the replies are sent).

        On success the stored version is ``session.version + 1`` and ``session.version`` is
        set to it. On a version mismatch nothing is written (neither session nor profile)
        and False is returned; the lock is still released when ``release`` is True. The
        lock is released only if ``token`` still holds it.
        """
        ...

    async def release(self, chat_id: int, token: str) -> None:
        """Release the chat's lock if ``token`` still holds it."""
        ...

    async def get_profile(self, user_id: int) -> Profile | None:
        """Return the user's profile, or None."""
        ...

    async def put_profile(self, user_id: int, profile: Profile) -> None:
        """Store the user's profile; it expires after the profile TTL without use."""
        ...

    async def forget_profile(self, user_id: int) -> None:
        """Delete the user's profile (locale, linked customer, name, phone)."""
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

    async def claim_update(self, update_id: int, token: str, *, hold_ms: int) -> UpdateClaim:
        """Claim ``update_id`` for ``hold_ms`` under ``token`` unless it is claimed or done."""
        ...

    async def finish_update(self, update_id: int, *, keep_seconds: int) -> None:
        """Mark ``update_id`` done for ``keep_seconds``, whoever holds its claim."""
        ...

    async def release_update(self, update_id: int, token: str) -> None:
        """Drop the claim on ``update_id`` if ``token`` still holds it, so it can be redone."""
        ...

    async def ping(self) -> None:
        """Check that the store answers; raise StoreUnavailable when it does not."""
        ...

    async def close(self) -> None:
        """Release the store's resources."""
        ...


class Turn(Generic[SessionT]):
    """One update of a chat under its lock: entering locks and loads, leaving releases."""

    def __init__(
        self,
        store: ChatStore[SessionT],
        chat_id: int,
        user_id: int,
        *,
        wait: float,
        hold_ms: int,
        renew_seconds: float,
        stop_timeout: float,
    ) -> None:
        """Remember what to lock and how; nothing happens until the turn is entered."""
        self._store = store
        self.chat_id = chat_id
        self.user_id = user_id
        self._wait = wait
        # The lock is renewed while the turn runs, so a slow Skiplino never lets a second
        # update of the chat in (it would not see this one's booking yet); a crashed
        # process holds it for at most hold_ms.
        self._hold_ms = hold_ms
        self._renew_seconds = renew_seconds
        self._stop_timeout = stop_timeout
        self._token: str | None = None
        self._ended = False
        self._exits = contextlib.AsyncExitStack()
        self.session: SessionT | None = None
        self.profile: Profile | None = None

    async def __aenter__(self) -> Turn[SessionT]:
        """Lock the chat, start renewing the lock, load session and profile."""
        if self._token is not None:
            raise RuntimeError("a turn can be entered only once")
        token = await self._store.acquire(self.chat_id, wait=self._wait, hold_ms=self._hold_ms)
        self._token = token
        try:
            self._exits.push_async_callback(self._release, token)
            await self._exits.enter_async_context(
                running(self._renew, stop_timeout=self._stop_timeout)
            )
            loaded = await self._store.load(self.chat_id, self.user_id)
        except BaseException:
            await self._exits.aclose()
            raise
        self.session = loaded.session
        self.profile = loaded.profile
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop renewing the lock, then release it."""
        self._ended = True
        await self._exits.aclose()

    async def save(self, session: SessionT, profile: Profile | None = None) -> bool:
        """Save ``session`` (and ``profile`` if given) by compare-and-set; keep the lock.

        False when the stored version moved on (our lock expired and another worker wrote
        the chat): nothing is written then. Raises StoreUnavailable when the store is down.
        """
        if self._token is None or self._ended:
            # Saving outside the lock could overwrite an update that has started since.
            raise RuntimeError("save needs a turn that is entered and not yet ended")
        saved = await self._store.commit(
            self.chat_id,
            self._token,
            session,
            profile=(self.user_id, profile) if profile is not None else None,
            release=False,
        )
        if not saved:
            # A lost reply to our own write is recognised by its nonce and counts as saved,
            # so a rejection here always means someone else wrote the chat after our load.
            log.warning(
                "save rejected: another writer moved the session on (our lock was lost or expired)"
            )
        return saved

    async def _renew(self, stop: asyncio.Event) -> None:
        """Keep extending the lock until stopped, or until it is no longer ours."""
        assert self._token is not None
        while not await pause(stop, self._renew_seconds):
            try:
                if not await self._store.extend(self.chat_id, self._token, self._hold_ms):
                    log.warning("lost the chat's lock mid-update")
                    return
            except StoreUnavailable:
                log.warning("could not renew the chat's lock")

    async def _release(self, token: str) -> None:
        """Release the lock if ``token`` still holds it; a store outage is not an error here."""
        # The lock expires on its own if the store is gone; never let that mask the update.
        with contextlib.suppress(StoreUnavailable):
            await self._store.release(self.chat_id, token)


async def poll_for_lock(try_once: Callable[[], Awaitable[bool]], wait: float) -> None:
    """Call ``try_once`` until it returns True; raise ChatBusy when ``wait`` seconds pass."""
    deadline = time.monotonic() + max(wait, 0.0)
    while not await try_once():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ChatBusy
        await asyncio.sleep(min(random.uniform(POLL_MIN_SECONDS, POLL_MAX_SECONDS), remaining))


def parse_session(raw: str | bytes | None, chat_id: int, model: type[SessionT]) -> SessionT | None:
    """Return the ``model`` session stored in ``raw``; None when missing or unreadable."""
    if raw is None:
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError:
        # A half-written or old-format document must not wedge the chat: start over. The
        # chat is named by the hashed id the update's log context adds, never the raw one.
        log.warning("stored session is unreadable; starting a new one")
        return None


def parse_profile(raw: str | bytes | None, user_id: int) -> Profile | None:
    """Return the profile stored in ``raw``; None when missing or unreadable."""
    if raw is None:
        return None
    try:
        return Profile.model_validate_json(raw)
    except ValidationError:
        log.warning("stored profile is unreadable; ignoring it")
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


def new_save_nonce() -> str:
    """Return a fresh nonce that marks one save's document as written by that save."""
    return secrets.token_hex(8)


def stamp_document(document: str, nonce: str) -> str:
    """Return the session JSON ``document`` with ``nonce`` added under ``SAVE_NONCE_FIELD``."""
    # The session model ignores unknown fields, so the stamp never reaches the conversation;
    # splicing keeps the model's own serialisation byte for byte.
    if not document.endswith("}") or document.strip() == "{}":
        raise ValueError("a session document is a non-empty JSON object")
    return f"{document[:-1]},{json.dumps(SAVE_NONCE_FIELD)}:{json.dumps(nonce)}}}"


def stored_nonce(raw: str | bytes | None) -> str | None:
    """Return the save nonce of a stored session document, if it carries one.

    Mirrors the Lua commit script of the Redis store.
    """
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    nonce = doc.get(SAVE_NONCE_FIELD) if isinstance(doc, dict) else None
    return nonce if isinstance(nonce, str) else None


def check_ttl(ttl_seconds: int) -> None:
    """Refuse a TTL below one second (Redis rejects it, and 0 would mean "forever")."""
    if ttl_seconds < 1:
        raise ValueError(f"ttl_seconds must be at least 1, got {ttl_seconds}")


def check_claim_token(token: str) -> None:
    """Refuse an empty claim token or one that would read as "done"."""
    if not token or token == UPDATE_DONE:
        raise ValueError("a claim token must be non-empty and not the done marker")
