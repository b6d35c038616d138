"""Own the chat store: per-chat lock, session (with TTL) and profile (without), short cache.

Must not import Telegram, conversations or the Skiplino client.
"""

from __future__ import annotations

from bot.sessions.models import Profile, StoredSession
from bot.sessions.redis_store import RedisChatStore
from bot.sessions.store import ChatBusy, ChatStore, Loaded, StoreUnavailable, Turn, UpdateClaim

__all__ = [
    "ChatBusy",
    "ChatStore",
    "Loaded",
    "Profile",
    "RedisChatStore",
    "StoreUnavailable",
    "StoredSession",
    "Turn",
    "UpdateClaim",
]
