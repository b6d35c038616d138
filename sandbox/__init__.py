"""Own the Skiplino sandbox: an in-memory stand-in of the external v1 API (DESIGN.md section 6).

Must not import bot.skiplino, telegram or conversations; it only speaks HTTP (Starlette).
"""

from sandbox.app import OPERATIONS, RecordedRequest, Sandbox, locale_of
from sandbox.data import SampleIds
from sandbox.faults import Faults, FaultSpecError
from sandbox.state import Branch, Customer, Group, Service, Ticket

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
