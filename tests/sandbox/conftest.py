"""Fixtures for the sandbox tests: a fixed clock, the sandbox, and contract-checked clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

import httpx
import pytest

from sandbox import SampleIds, Sandbox
from tests.sandbox.contract import Contract
from tests.sandbox.helpers import BASE_URL, NOW, PUBLIC, SECRET


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: datetime) -> None:
        """Start at ``now``."""
        self.now = now

    def __call__(self) -> datetime:
        """Return the current fake time."""
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock forward by a ``timedelta(**delta)``."""
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def contract() -> Contract:
    """Load docs/skiplino-openapi.yaml once for the whole run."""
    return Contract.load()


@pytest.fixture
def clock() -> FakeClock:
    """Return a clock fixed at NOW."""
    return FakeClock(NOW)


@pytest.fixture
def sandbox(clock: FakeClock) -> Sandbox:
    """Return a sandbox with the default seed on the fake clock."""
    return Sandbox(clock=clock)


@pytest.fixture
def ids(sandbox: Sandbox) -> SampleIds:
    """Return the sample company's ids."""
    return sandbox.sample_ids()


ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def connect(sandbox: Sandbox, contract: Contract) -> AsyncIterator[ClientFactory]:
    """Return a factory of in-process clients whose every response is contract-checked."""
    clients: list[httpx.AsyncClient] = []

    def make(
        key: str | None = SECRET,
        locale: str | None = None,
        target: Sandbox | None = None,
        base_url: str = BASE_URL,
    ) -> httpx.AsyncClient:
        headers = {}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        if locale is not None:
            headers["X-Locale"] = locale
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=(target or sandbox).app),
            base_url=base_url,
            headers=headers,
            event_hooks={"response": [contract.hook]},
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def api(connect: ClientFactory) -> httpx.AsyncClient:
    """Return a client using the secret key."""
    return connect()


@pytest.fixture
def public_api(connect: ClientFactory) -> httpx.AsyncClient:
    """Return a client using the public key."""
    return connect(PUBLIC)


@pytest.fixture
def admin(connect: ClientFactory) -> httpx.AsyncClient:
    """Return a client for the /_sandbox admin routes (no key needed)."""
    return connect(None, base_url="http://sandbox/_sandbox")
