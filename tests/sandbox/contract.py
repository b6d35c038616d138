"""Check API responses against docs/skiplino-openapi.yaml (OpenAPI 3.1 = JSON Schema 2020-12).

``Contract.check`` validates one response against the schema of its operation and status;
``Contract.hook`` is an httpx response event hook that checks every response a client sees,
so a test fails as soon as the sandbox answers outside the contract. ``x-*`` keys are ignored
by the validator and ``format`` is not asserted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "skiplino-openapi.yaml"
SPEC_URI = "urn:skiplino:openapi"
API_PREFIX = "/external/v1"
METHODS = ("get", "post", "put", "delete", "patch")
# Statuses no operation documents (forced faults, unknown routes) must still be an error envelope.
FALLBACK_POINTER = "/components/schemas/ErrorEnvelope"


class ContractViolation(AssertionError):
    """A response does not match the OpenAPI contract."""


def _escape(token: str) -> str:
    """Escape one JSON-pointer token."""
    return token.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class _Operation:
    method: str
    template: str
    regex: re.Pattern[str]


@dataclass
class Contract:
    """The loaded spec plus a log of every (method, template, status) checked."""

    spec: dict[str, Any]
    checked: list[tuple[str, str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Index the operations and register the spec for $ref resolution."""
        resource = Resource.from_contents(self.spec, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        operations = []
        for template, item in self.spec["paths"].items():
            pattern = "^" + re.sub(r"\{[^}/]+\}", "[^/]+", template) + "$"
            for method in METHODS:
                if method in item:
                    operations.append(_Operation(method.upper(), template, re.compile(pattern)))
        # Literal paths win over templated ones (/tickets/book before /tickets/{id}).
        operations.sort(key=lambda op: op.template.count("{"))
        self._operations = operations
        self._validators: dict[str, Draft202012Validator] = {}

    @classmethod
    def load(cls, path: Path = SPEC_PATH) -> Contract:
        """Read the spec from ``path``."""
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")))

    def operation(self, method: str, api_path: str) -> _Operation | None:
        """Return the documented operation serving ``method`` + path (relative to the base)."""
        for op in self._operations:
            if op.method == method.upper() and op.regex.match(api_path):
                return op
        return None

    @property
    def operation_count(self) -> int:
        """Return how many operations the spec documents."""
        return len(self._operations)

    def _pointer(self, op: _Operation | None, status: int) -> str:
        """Return the JSON pointer of the response schema for ``op`` + ``status``."""
        if op is None:
            if status < 400:
                raise ContractViolation(f"undocumented route answered {status}")
            return FALLBACK_POINTER
        base = f"/paths/{_escape(op.template)}/{op.method.lower()}/responses"
        responses = self.spec["paths"][op.template][op.method.lower()]["responses"]
        response = responses.get(str(status))
        if response is None:
            if status < 400:
                raise ContractViolation(
                    f"{op.method} {op.template} answered {status}, not a documented status"
                )
            return FALLBACK_POINTER
        # Shared responses (401, 500) are $refs to components/responses.
        ref = response.get("$ref")
        base = ref.removeprefix("#") if ref else f"{base}/{status}"
        return f"{base}/content/{_escape('application/json')}/schema"

    def _validator(self, pointer: str) -> Draft202012Validator:
        """Return a cached validator for the schema at ``pointer``."""
        if pointer not in self._validators:
            schema = {"$ref": f"{SPEC_URI}#{pointer}"}
            self._validators[pointer] = Draft202012Validator(schema, registry=self._registry)
        return self._validators[pointer]

    def check(self, method: str, api_path: str, status: int, body: Any) -> None:
        """Raise ContractViolation unless ``body`` matches the documented response schema."""
        op = self.operation(method, api_path)
        pointer = self._pointer(op, status)
        try:
            self._validator(pointer).validate(body)
        except ValidationError as exc:
            where = "/".join(str(part) for part in exc.absolute_path) or "(root)"
            raise ContractViolation(
                f"{method} {api_path} -> {status} breaks the contract at {where}: {exc.message}"
            ) from None
        self.checked.append((method.upper(), op.template if op else api_path, status))

    async def hook(self, response: httpx.Response) -> None:
        """Validate every API response an httpx client receives."""
        path = response.request.url.path
        if not path.startswith(API_PREFIX):
            return
        await response.aread()
        try:
            body = response.json()
        except json.JSONDecodeError:
            raise ContractViolation(f"{path} answered a non-JSON body") from None
        self.check(
            response.request.method, path.removeprefix(API_PREFIX), response.status_code, body
        )
