"""Own the one exception tree of the Skiplino client and the single status -> class mapping.

Shape (after httpx and openai-python)::

    SkiplinoError                      anything the client raises on purpose
     +-- APIConnectionError            could not talk to the server
     |    +-- APITimeoutError          ...because a timeout expired
     |    +-- APINotSentError          ...because no connection was made: nothing was sent
     +-- APIStatusError                the server answered with a non-2xx status
     |    +-- BadRequestError          400 (booking business rule; localized reason)
     |    +-- AuthenticationError      401
     |    +-- NotFoundError            404
     |    +-- ConflictError            409 (e.g. ticket no longer cancellable)
     |    +-- UnprocessableEntityError 422 (validation; per-field reasons)
     |    +-- RateLimitError           429
     |    +-- InternalServerError      >= 500
     +-- UnexpectedResponseError       a 2xx whose body is not the documented envelope
     +-- ResponseTooLargeError         a body over the client's size cap (refused unread)

Statuses are mapped to classes only in ``_make_status_error``. No message built here ever
contains the API key: a server that echoes the key back gets it replaced by ``[REDACTED]``.

Must not import anything of the bot, nor Telegram (this package ships alone).
"""

from __future__ import annotations

import json
from typing import Any, TypeAlias

import httpx

__all__ = [
    "APIConnectionError",
    "APINotSentError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ErrorDetail",
    "InternalServerError",
    "NotFoundError",
    "RateLimitError",
    "ResponseTooLargeError",
    "SkiplinoError",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
]

# The API's `error` field: a reason string, null, or reasons keyed by input name (422).
ErrorDetail: TypeAlias = str | dict[str, str] | None

_REDACTED = "[REDACTED]"


class SkiplinoError(Exception):
    """Base of every error the Skiplino client raises on purpose."""

    message: str
    error: ErrorDetail

    def __init__(self, message: str, *, error: ErrorDetail = None) -> None:
        super().__init__(message)
        self.message = message
        self.error = error


class APIConnectionError(SkiplinoError):
    """The request did not get an HTTP answer (DNS, refused connection, broken stream)."""

    def __init__(
        self, message: str = "Connection error.", *, request: httpx.Request | None = None
    ) -> None:
        super().__init__(message)
        self.request = request


class APITimeoutError(APIConnectionError):
    """A timeout expired before the answer arrived; a write may or may not have happened."""

    def __init__(
        self, message: str = "Request timed out.", *, request: httpx.Request | None = None
    ) -> None:
        super().__init__(message, request=request)


class APINotSentError(APIConnectionError):
    """No connection was made (refused, DNS failure): the server provably got nothing."""


class APIStatusError(SkiplinoError):
    """The server answered with a non-success status; ``error`` carries its reason."""

    status_code: int
    response: httpx.Response
    # The refused key in a masked form (``sk_t…1234``) on 401/403, for the operator's log.
    key_hint: str | None = None

    def __init__(self, message: str, *, response: httpx.Response, error: ErrorDetail) -> None:
        super().__init__(message, error=error)
        self.response = response
        self.status_code = response.status_code

    def __str__(self) -> str:
        """Describe the failure for logs: status, route and the API's reason (never the key)."""
        text = f"HTTP {self.status_code} from {_route(self.response)}: {self.message}"
        detail = _describe_detail(self.error)
        if detail and detail != self.message:
            text = f"{text} ({detail})"
        return text


class BadRequestError(APIStatusError):
    """400: a business rule checked at booking time failed (reason localized by X-Locale)."""


class AuthenticationError(APIStatusError):
    """401: missing or invalid key, or a public key on a secret-only operation."""


class NotFoundError(APIStatusError):
    """404: the record passed validation but could not be resolved afterwards."""


class ConflictError(APIStatusError):
    """409: the ticket's status does not allow the action (e.g. cancel a served ticket)."""


class UnprocessableEntityError(APIStatusError):
    """422: validation failed; the API also reports unknown ids this way."""

    @property
    def field_errors(self) -> dict[str, str]:
        """Return the reasons keyed by input name, or an empty dict when none were given."""
        return dict(self.error) if isinstance(self.error, dict) else {}

    def has_error(self, field: str, text: str | None = None) -> bool:
        """Tell whether ``field`` was rejected, optionally with exactly the reason ``text``."""
        reason = self.field_errors.get(field)
        if reason is None:
            return False
        return text is None or reason == text


class RateLimitError(APIStatusError):
    """429: too many requests (undocumented by Skiplino, handled like any careful client)."""


class InternalServerError(APIStatusError):
    """A 5xx status: the server (or a proxy in front of it) failed."""


class UnexpectedResponseError(SkiplinoError):
    """A success status whose body is not JSON, not the envelope, or not the documented data."""

    status_code: int
    response: httpx.Response

    def __init__(self, message: str, *, response: httpx.Response) -> None:
        super().__init__(message)
        self.response = response
        self.status_code = response.status_code

    def __str__(self) -> str:
        """Describe the failure for logs: status, route and what was wrong with the body."""
        return f"HTTP {self.status_code} from {_route(self.response)}: {self.message}"


class ResponseTooLargeError(SkiplinoError):
    """The server sent a body larger than the client accepts; it was not read to the end."""

    def __init__(self, message: str, *, operation: str, size: int, limit: int) -> None:
        super().__init__(message)
        self.operation = operation
        self.size = size
        self.limit = limit


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _make_status_error(response: httpx.Response) -> APIStatusError:
    """Build the exception for a non-success response: the one place statuses map to classes."""
    secret = _bearer_key(response)
    message, error = _read_error_body(response)
    message = _redact(message, secret)
    if isinstance(error, str):
        error = _redact(error, secret)
    elif isinstance(error, dict):
        error = {key: _redact(value, secret) for key, value in error.items()}
    status = response.status_code
    cls = _STATUS_CLASSES.get(status)
    if cls is None:
        cls = InternalServerError if status >= 500 else APIStatusError
    exc = cls(message, response=response, error=error)
    if status in (401, 403):
        exc.key_hint = mask_key(secret)
    return exc


def mask_key(key: str | None) -> str:
    """Return a form of ``key`` an operator recognises and a reader cannot use: ``sk_t…1234``."""
    if not key:
        return "(none)"
    # Short keys show nothing: four plus four characters of an eight-character key is all of it.
    if len(key) < 12:
        return "…"
    return f"{key[:4]}…{key[-4:]}"


def _read_error_body(response: httpx.Response) -> tuple[str, ErrorDetail]:
    """Return the (message, error) pair of an error envelope, tolerating any body at all."""
    fallback = f"{response.status_code} {response.reason_phrase}".strip()
    try:
        body: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        # A proxy's HTML page or an empty body: the status is all we know.
        return fallback, None
    if not isinstance(body, dict):
        return fallback, None
    error = _normalize_detail(body.get("error"))
    raw_message = body.get("message")
    if isinstance(raw_message, str) and raw_message.strip():
        return raw_message, error
    if isinstance(error, str) and error.strip():
        return error, error
    return fallback, error


def _normalize_detail(raw: Any) -> ErrorDetail:
    """Coerce the API's ``error`` field into ``str | dict[str, str] | None``."""
    if raw is None or isinstance(raw, str):
        return raw
    if isinstance(raw, dict):
        # The per-field value is documented as one string; lists are joined so a
        # server that sends several reasons per field still reads sensibly.
        return {str(key): _one_reason(value) for key, value in raw.items()}
    return _one_reason(raw)


def _one_reason(value: Any) -> str:
    """Turn one reason of any JSON shape into a string."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return " ".join(value)
    return json.dumps(value, ensure_ascii=False)


def _describe_detail(error: ErrorDetail) -> str:
    """Render the error detail on one line for ``str(exc)``."""
    if isinstance(error, dict):
        return "; ".join(f"{key}: {value}" for key, value in error.items())
    return error or ""


def _route(response: httpx.Response) -> str:
    """Return ``METHOD /path`` of the request behind ``response``; the query may hold ids."""
    try:
        request = response.request
    except RuntimeError:
        return "unknown request"
    return f"{request.method} {request.url.path}"


def _bearer_key(response: httpx.Response) -> str | None:
    """Return the key the request was sent with, so it can be scrubbed from messages."""
    try:
        header = response.request.headers.get("authorization", "")
    except RuntimeError:
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return key.strip() or None


def _redact(text: str, secret: str | None) -> str:
    """Replace every occurrence of ``secret`` in ``text``."""
    return text.replace(secret, _REDACTED) if secret else text
