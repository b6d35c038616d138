"""Own the documents kept per chat (session) and per user (profile).

Must not import Telegram, conversations or the Skiplino client.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Session(BaseModel):
    """The conversation of one chat: everything needed to continue after a restart."""

    model_config = ConfigDict(extra="ignore")

    chat_id: int
    flow: str = "menu"
    state: str = "menu"
    # Draft data of the current flow (chosen branch, service, date, slot, page...).
    data: dict[str, Any] = Field(default_factory=dict)
    # States to return to with Back, newest last: each entry is {"state": ..., "data": {...}}.
    back: list[dict[str, Any]] = Field(default_factory=list)
    # The card message being edited in place, if any.
    card_message_id: int | None = None
    # Increases on every transition; buttons carry it so stale taps are recognised.
    step: int = 0
    # Compare-and-set version of the stored document (managed by the store).
    version: int = 0


class Profile(BaseModel):
    """What we know of a Telegram user across conversations; expires after long disuse."""

    model_config = ConfigDict(extra="ignore")

    locale: str | None = None  # chosen with /language; None -> Telegram's language_code
    customer_id: str | None = None  # the linked Skiplino customer's _id
    name: str | None = None
    mobile: str | None = None
