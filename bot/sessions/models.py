"""Own what storage needs of the documents kept per chat (session) and per user (profile).

The session's content belongs to the conversation layer, which subclasses ``StoredSession``;
the store only reads ``chat_id`` and the compare-and-set ``version``.
Must not import Telegram, conversations or the Skiplino client.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ConfigDict


class StoredSession(BaseModel):
    """The part of a chat's session document the store reads: whose it is and its version."""

    model_config = ConfigDict(extra="ignore")

    chat_id: int
    # Compare-and-set version of the stored document (managed by the store).
    version: int = 0


SessionT = TypeVar("SessionT", bound=StoredSession)


class Profile(BaseModel):
    """What we know of a Telegram user across conversations; expires after long disuse."""

    model_config = ConfigDict(extra="ignore")

    locale: str | None = None  # chosen with /language; None -> Telegram's language_code
    customer_id: str | None = None  # the linked Skiplino customer's _id
    name: str | None = None
    mobile: str | None = None
