"""Own the audit trail of what customers did: one INFO line per booking, cancellation and move.

Each line names the ticket id, the service id and the outcome, never a name or a phone
number; the JSON log format carries the same facts as fields. The matching counters are
kept in ``bot.metrics``. Must not import Telegram.
"""

from __future__ import annotations

import logging
from typing import Literal

from bot import metrics
from bot.skiplino import Ticket

log = logging.getLogger("skiplino_bot.audit")

Action = Literal["booking", "cancellation", "move"]


def record(action: Action, outcome: str, *, ticket_id: str, service_id: str) -> None:
    """Write one audit line; count the action when it took effect."""
    log.info(
        "audit %s ticket=%s service=%s outcome=%s",
        action,
        ticket_id or "-",
        service_id or "-",
        outcome,
        extra={
            "audit": action,
            "ticket_id": ticket_id,
            "service_id": service_id,
            "outcome": outcome,
        },
    )


def booked(ticket: Ticket, outcome: str) -> None:
    """Record a booking that exists now (made, or found already made)."""
    record("booking", outcome, ticket_id=ticket.id, service_id=ticket.service.id)
    if outcome == "booked":
        metrics.record_booking("appointment" if ticket.is_appointment else "walk_in")


def cancelled(ticket: Ticket) -> None:
    """Record a cancellation Skiplino accepted."""
    record("cancellation", "cancelled", ticket_id=ticket.id, service_id=ticket.service.id)
    metrics.record_cancellation()


def moved(ticket: Ticket, outcome: str = "moved") -> None:
    """Record an appointment that is at its new time now."""
    record("move", outcome, ticket_id=ticket.id, service_id=ticket.service.id)
    if outcome == "moved":
        metrics.record_move()
