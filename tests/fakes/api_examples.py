"""Bodies from the Skiplino documentation, shared by the client and sandbox tests."""

from __future__ import annotations

from typing import Any

# The documented waiting walk-in ticket (GET /tickets/{id} example).
DOC_TICKET: dict[str, Any] = {
    "id": "k7m2p9x4q1",
    "ticketNumber": "Q017",
    "status": "waiting",
    "statusAt": "2026-06-23T11:10:00.000Z",
    "type": "sequential",
    "time": None,
    "branch": {"id": "802b33af66", "name": "Seef Mall Branch"},
    "service": {"id": "6fe8fb8b12", "name": "Cash Withdrawal"},
    "groupOfService": {"id": "7c1f9a3b2d", "name": "Teller Services"},
    "customer": None,
    "bookedAt": "2026-06-23T11:08:41.000Z",
    "queueSize": 6,
    "waitingTime": 18,
}
