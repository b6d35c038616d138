"""Own what the conversations ask of the outside: the Skiplino calls and a short-lived cache.

``bot.skiplino.SkiplinoClient`` satisfies ``SkiplinoApi`` and every ``ChatStore`` satisfies
``Cache``; tests may pass anything else that does. Must not import Telegram or the stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from bot.skiplino import Branch, Customer, Page, ServiceGroup, Slot, Ticket


class SkiplinoApi(Protocol):
    """The Skiplino calls the flows make."""

    async def list_branches(self, *, locale: str | None = None) -> list[Branch]:
        """Return the active branches."""
        ...

    async def get_branch_tree(
        self, branch_id: str, *, locale: str | None = None
    ) -> list[ServiceGroup]:
        """Return a branch's service groups and their services."""
        ...

    async def get_service_slots(
        self, service_id: str, *, date: date | None = None, locale: str | None = None
    ) -> list[Slot]:
        """Return a service's appointment slots of one day."""
        ...

    async def book_ticket(
        self,
        *,
        service_id: str,
        group_of_service_id: str,
        time: datetime | None = None,
        customer_id: str | None = None,
        locale: str | None = None,
    ) -> Ticket:
        """Book a walk-in (no ``time``) or an appointment."""
        ...

    async def get_ticket(self, ticket_id: str, *, locale: str | None = None) -> Ticket:
        """Return one ticket."""
        ...

    async def cancel_ticket(self, ticket_id: str, *, locale: str | None = None) -> Ticket:
        """Cancel a ticket and return it as it is now."""
        ...

    async def change_ticket_time(
        self,
        ticket_id: str,
        *,
        time: datetime,
        customer_id: str | None = None,
        locale: str | None = None,
    ) -> Ticket:
        """Move an appointment and return it as it is now."""
        ...

    async def create_customer(
        self,
        *,
        external_id: str | None = None,
        name: str | None = None,
        mobile: str | None = None,
        locale: str | None = None,
    ) -> Customer:
        """Create a customer of the company directory."""
        ...

    async def get_customer(
        self, *, external_id: str | None = None, locale: str | None = None
    ) -> Customer:
        """Look a customer up by externalId."""
        ...

    async def update_customer(
        self,
        *,
        customer_id: str | None = None,
        mobile: str | None = None,
        locale: str | None = None,
    ) -> Customer:
        """Change a customer's fields."""
        ...

    async def list_customer_tickets(
        self,
        *,
        customer_id: str | None = None,
        page: int = 1,
        limit: int = 10,
        locale: str | None = None,
    ) -> Page[Ticket]:
        """Return a page of a customer's tickets, newest first."""
        ...


class Cache(Protocol):
    """A shared, short-lived string cache (raises the store's own error when it is down)."""

    async def cache_get(self, key: str) -> str | None:
        """Return the cached value of ``key``, or None."""
        ...

    async def cache_get_many(self, keys: Sequence[str]) -> list[str | None]:
        """Return the cached values of ``keys`` in one round trip."""
        ...

    async def cache_set(self, key: str, value: str, ttl_seconds: int) -> None:
        """Cache ``value`` under ``key`` for ``ttl_seconds``."""
        ...
