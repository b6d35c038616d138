"""Own the Skiplino sandbox: an in-memory stand-in of the external v1 API (DESIGN.md section 6).

Must not import bot.skiplino, telegram or conversations; it only speaks HTTP (Starlette).
"""

from bot.sandbox.app import OPERATIONS, RecordedRequest, Sandbox, locale_of
from bot.sandbox.data import SampleIds
from bot.sandbox.faults import Faults, FaultSpecError
from bot.sandbox.state import Branch, Customer, Group, Service, Ticket

__all__ = [
    "OPERATIONS",
    "Branch",
    "Customer",
    "FaultSpecError",
    "Faults",
    "Group",
    "RecordedRequest",
    "SampleIds",
    "Sandbox",
    "Service",
    "Ticket",
    "locale_of",
]
