"""Typed async client of the Skiplino external v1 API (httpx + pydantic).

Public surface: ``SkiplinoClient``, the API models and the ``SkiplinoError`` tree.
Must not import anything of the bot, nor Telegram: it could ship alone as an SDK.
"""

from __future__ import annotations

from bot.skiplino.client import (
    CUSTOMER_TICKETS_PAGE_LIMIT_MAX,
    CUSTOMERS_PAGE_LIMIT_MAX,
    SkiplinoClient,
)
from bot.skiplino.errors import (
    APIConnectionError,
    APINotSentError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ErrorDetail,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    ResponseTooLargeError,
    SkiplinoError,
    UnexpectedResponseError,
    UnprocessableEntityError,
)
from bot.skiplino.models import (
    Branch,
    BranchStatus,
    Customer,
    GeoLocation,
    NamedRef,
    Page,
    Pagination,
    Service,
    ServiceGroup,
    Slot,
    Ticket,
    TicketStatus,
    TicketType,
    UtcDateTime,
    format_utc,
)

__all__ = [
    "CUSTOMERS_PAGE_LIMIT_MAX",
    "CUSTOMER_TICKETS_PAGE_LIMIT_MAX",
    "APIConnectionError",
    "APINotSentError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "Branch",
    "BranchStatus",
    "ConflictError",
    "Customer",
    "ErrorDetail",
    "GeoLocation",
    "InternalServerError",
    "NamedRef",
    "NotFoundError",
    "Page",
    "Pagination",
    "RateLimitError",
    "ResponseTooLargeError",
    "Service",
    "ServiceGroup",
    "SkiplinoClient",
    "SkiplinoError",
    "Slot",
    "Ticket",
    "TicketStatus",
    "TicketType",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
    "UtcDateTime",
    "format_utc",
]
