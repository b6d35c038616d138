"""Own the Redis chat store: lock, session, profile and cache keys, and their Lua scripts.

Keys (``prefix`` lets several bots share one Redis)::

    {prefix}:lock:{<chat_id>}      lock token, SET NX PX
    {prefix}:session:{<chat_id>}   session JSON, with TTL
    {prefix}:profile:{<user_id>}   profile JSON, with TTL restarted by every update
    {prefix}:cache:<key>           cached string, with TTL
    {prefix}:update:<update_id>    claim token while handled (short TTL), then "done" (1 h)

The braces around the id are a Redis Cluster hash tag: the lock and session of a chat
always share a slot, as the commit script needs. The profile key shares it only when
``chat_id == user_id`` (private chats, which is how customers talk to this bot). The
commit script writes the profile inside the script, not beside it, so that a rejected
commit writes nothing; on Redis Cluster a group chat's commit with a profile would
therefore fail with CROSSSLOT. The store takes a plain ``redis.asyncio.Redis``, so this
only matters if it is ever ported to ``RedisCluster``: then write the profile in a second
call after a successful CAS.

Cost of one turn (``ChatStore.turn``) in steady state, one round trip each, in this
order: acquire (EVALSHA of ``_ACQUIRE``: SET NX PX), load (EVALSHA of ``_LOAD``), save (EVALSHA of
``_COMMIT`` with release "0"), release (EVALSHA of ``_DELETE_IF_EQUAL`` on the lock);
plus one EVALSHA of ``_EXTEND`` per renewal while the turn runs. A ``commit`` with
release "1" saves and unlocks in one trip. The first call of each script after a Redis
restart costs two more (NOSCRIPT, then SCRIPT LOAD).

Must not import Telegram, conversations or the Skiplino client.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import (
    AuthenticationError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.sessions.models import Profile, SessionT
from bot.sessions.store import (
    PROFILE_TTL_SECONDS,
    UPDATE_DONE,
    ChatStore,
    Loaded,
    StoreUnavailable,
    UpdateClaim,
    check_claim_token,
    check_ttl,
    new_save_nonce,
    parse_profile,
    parse_session,
    poll_for_lock,
    stamp_document,
)

# SET NX PX, but also succeed when the lock already holds our token: if the reply to an
# earlier attempt was lost and redis-py retried, the lock is ours, not someone else's.
# KEYS: lock. ARGV: token, hold ms.
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return 1
end
return 0
"""

# Prolong the lock only while it is still ours. KEYS: lock. ARGV: token, hold ms.
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# Delete KEYS[1] only while it still holds ARGV[1]: releases a lock we still own, and
# removes a corrupt session without clobbering a document written meanwhile.
_DELETE_IF_EQUAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Read the session and the profile, and restart the profile's inactivity clock: a profile
# expires only after PROFILE_TTL_DAYS without any update from its user.
# KEYS: session, profile. ARGV: profile TTL ms.
_LOAD = """
local session = redis.call('GET', KEYS[1])
local profile = redis.call('GET', KEYS[2])
if profile then
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return {session, profile}
"""

# Claim an update unless it is claimed or done; a retried call whose first reply was lost
# finds its own token and counts as claimed. KEYS: update. ARGV: token, hold ms, done mark.
# Returns 1 claimed, 2 done, 0 claimed by someone else.
_CLAIM_UPDATE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then
  return 1
end
if held == ARGV[3] then
  return 2
end
return 0
"""

# KEYS: session, lock[, profile].
# ARGV: token, expected version, session JSON, TTL ms, release ("1"/"0"), save nonce
#       [, profile JSON, profile TTL ms].
# The stored version is read from the JSON itself; a missing or unreadable document counts
# as version 0, like ``store.stored_version``. A stored document that already carries this
# save's nonce was written by this very save (redis-py sent it again after the reply was
# lost): it counts as written, and nothing is written twice.
_COMMIT = """
local current = 0
local mine = false
local stored = redis.call('GET', KEYS[1])
if stored then
  local ok, doc = pcall(cjson.decode, stored)
  if ok and type(doc) == 'table' then
    if type(doc['version']) == 'number' then
      current = doc['version']
    end
    mine = doc['_save_nonce'] == ARGV[6]
  end
end
local written = 0
if mine then
  written = 1
elseif current == tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  if #KEYS >= 3 then
    redis.call('SET', KEYS[3], ARGV[7], 'PX', ARGV[8])
  end
  written = 1
end
if ARGV[5] == '1' and redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
return written
"""


def _cause(exc: RedisError) -> str:
    """Name why Redis failed in a few words, from the exception's class and the server's reply."""
    # Server refusals arrive as ResponseError subclasses or as their reply's first word;
    # the reply text is never echoed (it may name keys), only matched.
    text = str(exc).upper()
    if isinstance(exc, AuthenticationError) or text.startswith(("NOAUTH", "WRONGPASS")):
        return "authentication refused (NOAUTH/WRONGPASS)"
    if isinstance(exc, ReadOnlyError) or text.startswith("READONLY"):
        return "read-only replica (READONLY)"
    if isinstance(exc, OutOfMemoryError) or text.startswith("OOM"):
        return "out of memory (OOM)"
    if isinstance(exc, RedisTimeoutError):
        return "timeout"
    if isinstance(exc, RedisConnectionError):
        return "connection refused" if _refused(exc) else "connection failed"
    return type(exc).__name__


@asynccontextmanager
async def _redis_errors(operation: str) -> AsyncIterator[None]:
    """Turn any Redis failure into StoreUnavailable, without echoing the server's URL."""
    try:
        yield
    except RedisError as exc:
        # Includes ConnectionError/TimeoutError and server refusals (READONLY, OOM, ...):
        # either way the update cannot be stored, and the caller apologises to the user.
        cause = _cause(exc)
        raise StoreUnavailable(
            f"Redis failed during {operation}: {type(exc).__name__}, {cause}", cause=cause
        ) from exc


def _refused(exc: BaseException) -> bool:
    """Tell whether a connection error was, underneath, the server refusing the connection."""
    seen: BaseException | None = exc
    for _ in range(5):  # the chain is short; the bound only guards against a cycle
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _text(raw: bytes | str | None) -> str | None:
    """Return a Redis reply as text, whatever the client's ``decode_responses``."""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    return raw


class RedisChatStore(ChatStore[SessionT]):
    """Chat store on one Redis server; safe to share between worker processes."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        session_model: type[SessionT],
        session_ttl_seconds: int = 86400,
        profile_ttl_seconds: int = PROFILE_TTL_SECONDS,
        owns_client: bool = False,
    ) -> None:
        """Wrap ``redis`` to keep ``session_model`` documents; close it only if ``owns_client``."""
        if not prefix or "{" in prefix or "}" in prefix:
            # A brace in the prefix would become the Cluster hash tag instead of the id.
            raise ValueError("prefix must be non-empty and contain no braces")
        check_ttl(session_ttl_seconds)
        check_ttl(profile_ttl_seconds)
        self._redis = redis
        self._prefix = prefix
        self._session_model = session_model
        self._session_ttl_ms = session_ttl_seconds * 1000
        self._profile_ttl_ms = profile_ttl_seconds * 1000
        self._owns_client = owns_client
        self._acquire = redis.register_script(_ACQUIRE)
        self._load = redis.register_script(_LOAD)
        self._extend = redis.register_script(_EXTEND)
        self._delete_if_equal = redis.register_script(_DELETE_IF_EQUAL)
        self._commit = redis.register_script(_COMMIT)
        self._claim_update = redis.register_script(_CLAIM_UPDATE)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str,
        session_model: type[SessionT],
        session_ttl_seconds: int = 86400,
        profile_ttl_seconds: int = PROFILE_TTL_SECONDS,
    ) -> RedisChatStore[SessionT]:
        """Connect to the Redis at ``url``; ``close`` closes the connection."""
        # Short timeouts and few retries (redis-py's default is 10): an update must fail
        # within seconds with an apology, not hang on a dead Redis. Retrying is safe: the
        # scripts tolerate a command that ran but whose reply was lost.
        client = aioredis.Redis.from_url(
            url,
            decode_responses=False,
            socket_connect_timeout=2,
            socket_timeout=2,
            retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.2), retries=2),
        )
        return cls(
            client,
            prefix=prefix,
            session_model=session_model,
            session_ttl_seconds=session_ttl_seconds,
            profile_ttl_seconds=profile_ttl_seconds,
            owns_client=True,
        )

    def _lock_key(self, chat_id: int) -> str:
        """Return the key of the chat's lock."""
        return f"{self._prefix}:lock:{{{chat_id}}}"

    def _session_key(self, chat_id: int) -> str:
        """Return the key of the chat's session."""
        return f"{self._prefix}:session:{{{chat_id}}}"

    def _profile_key(self, user_id: int) -> str:
        """Return the key of the user's profile."""
        return f"{self._prefix}:profile:{{{user_id}}}"

    def _cache_key(self, key: str) -> str:
        """Return the Redis key of cache entry ``key``."""
        return f"{self._prefix}:cache:{key}"

    def _update_key(self, update_id: int) -> str:
        """Return the key of an update's claim."""
        return f"{self._prefix}:update:{update_id}"

    async def acquire(self, chat_id: int, *, wait: float = 5.0, hold_ms: int = 30_000) -> str:
        """Lock the chat for ``hold_ms`` and return the token; raise ChatBusy after ``wait``."""
        token = secrets.token_hex(16)
        key = self._lock_key(chat_id)

        async def try_once() -> bool:
            """Try SET NX PX once."""
            async with _redis_errors("acquire"):
                return bool(await self._acquire(keys=[key], args=[token, hold_ms]))

        await poll_for_lock(try_once, wait)
        return token

    async def extend(self, chat_id: int, token: str, hold_ms: int) -> bool:
        """Keep holding the chat's lock for another ``hold_ms``; False if it is no longer ours."""
        async with _redis_errors("extend"):
            extended = await self._extend(keys=[self._lock_key(chat_id)], args=[token, hold_ms])
        return bool(extended)

    async def load(self, chat_id: int, user_id: int) -> Loaded[SessionT]:
        """Return the chat's session and the user's profile (one script call)."""
        session_key = self._session_key(chat_id)
        async with _redis_errors("load"):
            raw_session, raw_profile = await self._load(
                keys=[session_key, self._profile_key(user_id)], args=[self._profile_ttl_ms]
            )
        session = parse_session(raw_session, chat_id, self._session_model)
        if session is None and raw_session is not None:
            # Forget the unreadable document, or its version would reject every commit
            # of the fresh session (version 0) until the TTL ends. Rare: one extra trip.
            async with _redis_errors("load"):
                await self._delete_if_equal(keys=[session_key], args=[raw_session])
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
        new_version = session.version + 1
        document = stamp_document(
            session.model_copy(update={"version": new_version}).model_dump_json(), nonce
        )
        keys = [self._session_key(chat_id), self._lock_key(chat_id)]
        args: list[str | int] = [
            token,
            session.version,
            document,
            self._session_ttl_ms,
            "1" if release else "0",
            nonce,
        ]
        if profile is not None:
            user_id, user_profile = profile
            keys.append(self._profile_key(user_id))
            args.extend([user_profile.model_dump_json(), self._profile_ttl_ms])
        async with _redis_errors("commit"):
            written = await self._commit(keys=keys, args=args)
        if written != 1:
            return False
        session.version = new_version
        return True

    async def release(self, chat_id: int, token: str) -> None:
        """Release the chat's lock if ``token`` still holds it."""
        async with _redis_errors("release"):
            await self._delete_if_equal(keys=[self._lock_key(chat_id)], args=[token])

    async def get_profile(self, user_id: int) -> Profile | None:
        """Return the user's profile, or None."""
        async with _redis_errors("get_profile"):
            raw = await self._redis.get(self._profile_key(user_id))
        return parse_profile(raw, user_id)

    async def put_profile(self, user_id: int, profile: Profile) -> None:
        """Store the user's profile; it expires after the profile TTL without use."""
        async with _redis_errors("put_profile"):
            await self._redis.set(
                self._profile_key(user_id), profile.model_dump_json(), px=self._profile_ttl_ms
            )

    async def forget_profile(self, user_id: int) -> None:
        """Delete the user's profile (locale, linked customer, name, phone)."""
        async with _redis_errors("forget_profile"):
            await self._redis.delete(self._profile_key(user_id))

    async def cache_get(self, key: str) -> str | None:
        """Return the cached value of ``key``, or None when absent or expired."""
        async with _redis_errors("cache_get"):
            raw = await self._redis.get(self._cache_key(key))
        return _text(raw)

    async def cache_get_many(self, keys: Sequence[str]) -> list[str | None]:
        """Return the cached values of ``keys`` in one round trip (None where absent)."""
        if not keys:
            return []
        # One MGET: fine on a single Redis; on Redis Cluster these keys would need a shared
        # hash tag (they are per-locale catalogue entries, so one tag per locale would do).
        async with _redis_errors("cache_get_many"):
            raw = await self._redis.mget([self._cache_key(key) for key in keys])
        return [_text(value) for value in raw]

    async def cache_set(self, key: str, value: str, ttl_seconds: int) -> None:
        """Cache ``value`` under ``key`` for ``ttl_seconds`` (at least 1)."""
        check_ttl(ttl_seconds)
        async with _redis_errors("cache_set"):
            await self._redis.set(self._cache_key(key), value, ex=ttl_seconds)

    async def claim_update(self, update_id: int, token: str, *, hold_ms: int) -> UpdateClaim:
        """Claim ``update_id`` for ``hold_ms`` under ``token`` unless it is claimed or done."""
        check_claim_token(token)
        async with _redis_errors("claim_update"):
            found = await self._claim_update(
                keys=[self._update_key(update_id)], args=[token, hold_ms, UPDATE_DONE]
            )
        return {1: UpdateClaim.CLAIMED, 2: UpdateClaim.DONE}.get(
            int(found), UpdateClaim.IN_PROGRESS
        )

    async def finish_update(self, update_id: int, *, keep_seconds: int) -> None:
        """Mark ``update_id`` done for ``keep_seconds``, whoever holds its claim."""
        check_ttl(keep_seconds)
        async with _redis_errors("finish_update"):
            await self._redis.set(self._update_key(update_id), UPDATE_DONE, ex=keep_seconds)

    async def release_update(self, update_id: int, token: str) -> None:
        """Drop the claim on ``update_id`` if ``token`` still holds it, so it can be redone."""
        async with _redis_errors("release_update"):
            await self._delete_if_equal(keys=[self._update_key(update_id)], args=[token])

    async def ping(self) -> None:
        """Send PING; raise StoreUnavailable when Redis does not answer."""
        async with _redis_errors("ping"):
            await self._redis.ping()

    async def close(self) -> None:
        """Close the Redis connection if this store opened it."""
        if self._owns_client:
            await self._redis.aclose()
