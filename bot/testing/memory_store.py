"""Own the in-process chat store used by the console demo when no Redis is configured.

Behaves like ``RedisChatStore`` (token locks that expire, JSON documents, version CAS,
TTLs on sessions and cache entries, none on profiles); the turn itself is inherited from
``ChatStore``, so the demo runs the same update code. Everything is lost when the process
ends; never use it with more than one worker.

Must not import Telegram, conversations or the Skiplino client.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.sessions.models import Profile, SessionT
from bot.sessions.store import (
    PROFILE_TTL_SECONDS,
    UPDATE_DONE,
    ChatStore,
    Loaded,
    UpdateClaim,
    check_claim_token,
    check_ttl,
    new_save_nonce,
    parse_profile,
    parse_session,
    poll_for_lock,
    stamp_document,
    stored_nonce,
    stored_version,
)


@dataclass
class _Entry:
    """One stored value and the monotonic instant it expires at (None: never)."""

    value: str
    expires_at: float | None


class MemoryKeyValue:
    """A tiny dict with Redis-like expiry, keyed like the Redis store."""

    def __init__(self) -> None:
        """Start empty."""
        self._entries: dict[str, _Entry] = {}

    def get(self, key: str) -> str | None:
        """Return the live value of ``key``, dropping it if expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= time.monotonic():
            del self._entries[key]
            return None
        return entry.value

    def set(self, key: str, value: str, *, ttl_ms: int | None = None) -> None:
        """Store ``value``; expire it after ``ttl_ms`` if given (like SET PX, else plain SET)."""
        expires_at = None if ttl_ms is None else time.monotonic() + ttl_ms / 1000
        self._entries[key] = _Entry(value, expires_at)

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        self._entries.pop(key, None)

    def pttl(self, key: str) -> int:
        """Return milliseconds left like Redis PTTL: -2 when missing, -1 when without expiry."""
        if self.get(key) is None:
            return -2
        expires_at = self._entries[key].expires_at
        if expires_at is None:
            return -1
        return max(0, int((expires_at - time.monotonic()) * 1000))


class MemoryChatStore(ChatStore[SessionT]):
    """Chat store in this process's memory, for the console demo."""

    def __init__(
        self,
        *,
        session_model: type[SessionT],
        session_ttl_seconds: int = 86400,
        profile_ttl_seconds: int = PROFILE_TTL_SECONDS,
    ) -> None:
        """Start with no sessions, profiles or locks; sessions are ``session_model`` documents."""
        check_ttl(session_ttl_seconds)
        check_ttl(profile_ttl_seconds)
        self._session_model = session_model
        self._session_ttl_ms = session_ttl_seconds * 1000
        self._profile_ttl_ms = profile_ttl_seconds * 1000
        # Public for tests that need to plant a corrupt document or read a TTL.
        self.kv = MemoryKeyValue()

    @staticmethod
    def _lock_key(chat_id: int) -> str:
        """Return the key of the chat's lock."""
        return f"lock:{chat_id}"

    @staticmethod
    def _session_key(chat_id: int) -> str:
        """Return the key of the chat's session."""
        return f"session:{chat_id}"

    @staticmethod
    def _profile_key(user_id: int) -> str:
        """Return the key of the user's profile."""
        return f"profile:{user_id}"

    async def acquire(self, chat_id: int, *, wait: float = 5.0, hold_ms: int = 30_000) -> str:
        """Lock the chat for ``hold_ms`` and return the token; raise ChatBusy after ``wait``."""
        token = secrets.token_hex(16)
        key = self._lock_key(chat_id)

        async def try_once() -> bool:
            """Take the lock if nobody holds it (no await inside: atomic on the event loop)."""
            if self.kv.get(key) is not None:
                return False
            self.kv.set(key, token, ttl_ms=hold_ms)
            return True

        await poll_for_lock(try_once, wait)
        return token

    async def extend(self, chat_id: int, token: str, hold_ms: int) -> bool:
        """Keep holding the chat's lock for another ``hold_ms``; False if it is no longer ours."""
        key = self._lock_key(chat_id)
        if self.kv.get(key) != token:
            return False
        self.kv.set(key, token, ttl_ms=hold_ms)
        return True

    async def load(self, chat_id: int, user_id: int) -> Loaded[SessionT]:
        """Return the chat's session and the user's profile."""
        key = self._session_key(chat_id)
        raw_session = self.kv.get(key)
        session = parse_session(raw_session, chat_id, self._session_model)
        if session is None and raw_session is not None:
            # Like the Redis store: forget the unreadable document so a fresh session saves.
            self.kv.delete(key)
        profile_key = self._profile_key(user_id)
        raw_profile = self.kv.get(profile_key)
        if raw_profile is not None:
            # Like the Redis store: any update restarts the profile's inactivity clock.
            self.kv.set(profile_key, raw_profile, ttl_ms=self._profile_ttl_ms)
        return Loaded(session=session, profile=parse_profile(raw_profile, user_id))

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
        """Save ``session`` if its version is current, write ``profile``, release the lock."""
        nonce = nonce or new_save_nonce()
        key = self._session_key(chat_id)
        stored = self.kv.get(key)
        new_version = session.version + 1
        # Like the Redis script: a document stamped with this nonce is this save's own write.
        already = stored_nonce(stored) == nonce
        written = already or stored_version(stored) == session.version
        if written and not already:
            document = stamp_document(
                session.model_copy(update={"version": new_version}).model_dump_json(), nonce
            )
            self.kv.set(key, document, ttl_ms=self._session_ttl_ms)
            if profile is not None:
                user_id, user_profile = profile
                self.kv.set(
                    self._profile_key(user_id),
                    user_profile.model_dump_json(),
                    ttl_ms=self._profile_ttl_ms,
                )
        if written:
            session.version = new_version
        if release:
            await self.release(chat_id, token)
        return written

    async def release(self, chat_id: int, token: str) -> None:
        """Release the chat's lock if ``token`` still holds it."""
        key = self._lock_key(chat_id)
        if self.kv.get(key) == token:
            self.kv.delete(key)

    async def get_profile(self, user_id: int) -> Profile | None:
        """Return the user's profile, or None."""
        return parse_profile(self.kv.get(self._profile_key(user_id)), user_id)

    async def put_profile(self, user_id: int, profile: Profile) -> None:
        """Store the user's profile; it expires after the profile TTL without use."""
        self.kv.set(
            self._profile_key(user_id), profile.model_dump_json(), ttl_ms=self._profile_ttl_ms
        )

    async def forget_profile(self, user_id: int) -> None:
        """Delete the user's profile (locale, linked customer, name, phone)."""
        self.kv.delete(self._profile_key(user_id))

    async def cache_get(self, key: str) -> str | None:
        """Return the cached value of ``key``, or None when absent or expired."""
        return self.kv.get(f"cache:{key}")

    async def cache_get_many(self, keys: Sequence[str]) -> list[str | None]:
        """Return the cached values of ``keys`` (None where absent or expired)."""
        return [self.kv.get(f"cache:{key}") for key in keys]

    async def cache_set(self, key: str, value: str, ttl_seconds: int) -> None:
        """Cache ``value`` under ``key`` for ``ttl_seconds`` (at least 1)."""
        check_ttl(ttl_seconds)
        self.kv.set(f"cache:{key}", value, ttl_ms=ttl_seconds * 1000)

    async def claim_update(self, update_id: int, token: str, *, hold_ms: int) -> UpdateClaim:
        """Claim ``update_id`` for ``hold_ms`` under ``token`` unless it is claimed or done."""
        check_claim_token(token)
        key = f"update:{update_id}"
        held = self.kv.get(key)
        if held is None:
            self.kv.set(key, token, ttl_ms=hold_ms)
            return UpdateClaim.CLAIMED
        if held == token:
            return UpdateClaim.CLAIMED
        return UpdateClaim.DONE if held == UPDATE_DONE else UpdateClaim.IN_PROGRESS

    async def finish_update(self, update_id: int, *, keep_seconds: int) -> None:
        """Mark ``update_id`` done for ``keep_seconds``, whoever holds its claim."""
        check_ttl(keep_seconds)
        self.kv.set(f"update:{update_id}", UPDATE_DONE, ttl_ms=keep_seconds * 1000)

    async def release_update(self, update_id: int, token: str) -> None:
        """Drop the claim on ``update_id`` if ``token`` still holds it, so it can be redone."""
        key = f"update:{update_id}"
        if self.kv.get(key) == token:
            self.kv.delete(key)

    async def ping(self) -> None:
        """Do nothing: memory always answers."""

    async def close(self) -> None:
        """Do nothing: there is no connection to close."""
