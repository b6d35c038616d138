"""Own the Skiplino sandbox: an in-memory stand-in of the external v1 API (docs/architecture.md).

Must not import the bot (bot, conversations) or telegram; it only speaks HTTP (Starlette), so
its stored records are its own (``BranchRecord``...), not the client's models.
"""

from sandbox.app import (
    DEFAULT_PUBLIC_KEY,
    DEFAULT_SECRET_KEY,
    IN_PROCESS_API_URL,
    OPERATIONS,
    RecordedRequest,
    Sandbox,
    locale_of,
)
from sandbox.data import SampleIds
from sandbox.faults import Faults, FaultSpecError
from sandbox.state import BranchRecord, CustomerRecord, GroupRecord, ServiceRecord, TicketRecord

__all__ = [
    "DEFAULT_PUBLIC_KEY",
    "DEFAULT_SECRET_KEY",
    "IN_PROCESS_API_URL",
    "OPERATIONS",
    "BranchRecord",
    "CustomerRecord",
    "FaultSpecError",
    "Faults",
    "GroupRecord",
    "RecordedRequest",
    "SampleIds",
    "Sandbox",
    "ServiceRecord",
    "TicketRecord",
    "locale_of",
]
