"""The metrics helpers, the ops endpoints, the counting hooks and the JSON log lines, alone."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable

import httpx
import pytest
from prometheus_client import REGISTRY
from telegram.error import NetworkError
from telegram.request import BaseRequest, RequestData

from bot import metrics
from bot.app import CountingRequest
from bot.logs import (
    CHAT_HASH_HEX,
    RedactingJsonFormatter,
    Redactor,
    UpdateFields,
    chat_hash,
    configure_handler,
    update_context,
)
from bot.settings import SettingsError, load_settings
from bot.skiplino import SkiplinoClient

TOKEN = "123456:SECRET-TOKEN-abcdef"


def value(name: str, **labels: str) -> float:
    """Return one sample's value (0 when it does not exist yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class ScriptedRequest(BaseRequest):
    """A request class that answers with a fixed status or raises."""

    def __init__(self, status: int = 200, error: Exception | None = None) -> None:
        """Answer ``status``, or raise ``error``."""
        self.status = status
        self.error = error

    @property
    def read_timeout(self) -> float | None:
        """Return a fixed read timeout."""
        return 3.0

    async def initialize(self) -> None:
        """Do nothing."""

    async def shutdown(self) -> None:
        """Do nothing."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Answer as scripted."""
        if self.error is not None:
            raise self.error
        return self.status, b'{"ok": true, "result": true}'


def test_the_method_label_is_the_method_and_never_the_token() -> None:
    assert metrics.method_label(f"https://api.telegram.org/bot{TOKEN}/sendMessage") == "sendMessage"
    assert metrics.method_label(f"https://api.telegram.org/bot{TOKEN}") == "other"
    assert metrics.method_label("https://api.telegram.org/bot1:a/" + "x" * 60) == "other"


async def test_the_counting_request_counts_calls_and_failures_by_method() -> None:
    url = f"https://api.telegram.org/bot{TOKEN}/editMessageText"
    calls = value("skiplino_bot_telegram_calls_total", method="editMessageText")
    refused = value("skiplino_bot_telegram_errors_total", method="editMessageText", reason="400")
    broken = value(
        "skiplino_bot_telegram_errors_total", method="editMessageText", reason="NetworkError"
    )

    assert (await CountingRequest(ScriptedRequest(200)).do_request(url, "POST"))[0] == 200
    assert (await CountingRequest(ScriptedRequest(400)).do_request(url, "POST"))[0] == 400
    with pytest.raises(NetworkError):
        await CountingRequest(ScriptedRequest(error=NetworkError("down"))).do_request(url, "POST")

    assert value("skiplino_bot_telegram_calls_total", method="editMessageText") == calls + 3
    assert (
        value("skiplino_bot_telegram_errors_total", method="editMessageText", reason="400")
        == refused + 1
    )
    assert (
        value("skiplino_bot_telegram_errors_total", method="editMessageText", reason="NetworkError")
        == broken + 1
    )
    assert CountingRequest(ScriptedRequest()).read_timeout == 3.0


async def test_the_skiplino_client_tells_its_hook_each_attempt() -> None:
    heard: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/branches"):
            return httpx.Response(503, json={"success": False})
        raise httpx.ConnectError("refused", request=request)

    api = SkiplinoClient(
        base_url="http://skiplino.test/external/v1",
        api_key="sk_test_x",
        transport=httpx.MockTransport(answer),
        max_retries=1,
        backoff_base=0.0,
        on_call=lambda operation, status, seconds: heard.append((operation, status)),
    )
    async with api:
        with pytest.raises(Exception):  # noqa: B017, PT011 - the error tree is not the point
            await api.list_branches()
        with pytest.raises(Exception):  # noqa: B017, PT011
            await api.cancel_ticket("t1")

    assert heard == [
        ("list_branches", "503"),
        ("list_branches", "503"),
        ("cancel_ticket", "connection_error"),
    ]


def test_the_updates_watch_is_fresh_only_after_a_recent_answer() -> None:
    now = [100.0]
    watch = metrics.UpdatesWatch(clock=lambda: now[0])
    assert not watch.fresh()
    watch.answered()
    now[0] += metrics.UPDATES_STALE_SECONDS - 1
    assert watch.fresh()
    now[0] += 2
    assert not watch.fresh()


async def _get(app: object, path: str) -> httpx.Response:
    """GET ``path`` of an ASGI app in-process."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://ops") as http:
        return await http.get(path)


def _ping(ok: bool) -> Callable[[], object]:
    """Return a store ping that answers or fails."""

    async def ping() -> None:
        if not ok:
            raise ConnectionError("redis down")

    return ping


async def test_the_ops_app_is_live_and_ready_only_when_store_and_telegram_answer() -> None:
    watch = metrics.UpdatesWatch()
    up = metrics.create_ops_app(_ping(True), watch)  # type: ignore[arg-type]
    down = metrics.create_ops_app(_ping(False), watch)  # type: ignore[arg-type]

    assert (await _get(up, "/healthz")).status_code == 200
    never_polled = await _get(up, "/readyz")
    assert never_polled.status_code == 503
    assert never_polled.json()["telegram"] == "down"
    watch.answered()
    assert (await _get(up, "/readyz")).status_code == 200
    store_down = await _get(down, "/readyz")
    assert store_down.status_code == 503
    assert store_down.json()["store"] == "down"
    scrape = await _get(up, "/metrics")
    assert scrape.status_code == 200
    assert "skiplino_bot_last_get_updates_timestamp_seconds" in scrape.text


def test_recorders_move_their_counters() -> None:
    booked = value("skiplino_bot_bookings_total", kind="appointment")
    cancelled = value("skiplino_bot_cancellations_total")
    moved = value("skiplino_bot_moves_total")
    store = value("skiplino_bot_store_errors_total", where="turn")

    metrics.record_booking("appointment")
    metrics.record_cancellation()
    metrics.record_move()
    metrics.record_store_error("turn")
    metrics.set_circuit_open("skiplino", True)

    assert value("skiplino_bot_bookings_total", kind="appointment") == booked + 1
    assert value("skiplino_bot_cancellations_total") == cancelled + 1
    assert value("skiplino_bot_moves_total") == moved + 1
    assert value("skiplino_bot_store_errors_total", where="turn") == store + 1
    assert value("skiplino_bot_circuit_open", service="skiplino") == 1
    metrics.set_circuit_open("skiplino", False)
    assert value("skiplino_bot_circuit_open", service="skiplino") == 0


def _logger_with(stream: io.StringIO, log_format: str) -> logging.Logger:
    """Return a private logger writing to ``stream`` like the process's handlers."""
    handler = logging.StreamHandler(stream)
    configure_handler(handler, log_format)  # type: ignore[arg-type]
    logger = logging.getLogger(f"tests.metrics.{log_format}.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return logger


def test_json_lines_are_redacted_and_tagged_inside_an_update() -> None:
    stream = io.StringIO()
    logger = _logger_with(stream, "json")
    handler = logger.handlers[0]
    assert isinstance(handler.formatter, RedactingJsonFormatter)
    handler.formatter.redact = Redactor([TOKEN])

    with update_context(77, 5550123):
        logger.warning("calling https://api.telegram.org/bot%s/getMe", TOKEN)
        try:
            raise ValueError(f"boom {TOKEN}")
        except ValueError:
            logger.exception("failed")
    logger.info("outside")

    lines = stream.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    assert records[0]["message"] == "calling https://api.telegram.org/bot***/getMe"
    assert records[0]["update_id"] == 77
    assert records[0]["chat"] == chat_hash(5550123)
    assert len(records[0]["chat"]) == CHAT_HASH_HEX
    assert "boom ***" in records[1]["exc_info"]
    assert "update_id" not in records[2]
    assert all(TOKEN not in line and "5550123" not in line for line in lines)


def test_text_lines_carry_the_update_context_too() -> None:
    stream = io.StringIO()
    logger = _logger_with(stream, "text")
    with update_context(9, 42):
        logger.warning("hello")
    assert stream.getvalue().rstrip().endswith(f"hello [update_id=9 chat={chat_hash(42)}]")


def test_the_update_fields_filter_adds_nothing_outside_an_update() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    assert UpdateFields().filter(record)
    assert not hasattr(record, "update_id")


def test_log_format_and_metrics_port_are_settings() -> None:
    settings = load_settings(_env_file=None, LOG_FORMAT="json", METRICS_PORT="9100")
    assert settings.log_format == "json"
    assert settings.metrics_port == 9100
    defaults = load_settings(_env_file=None)
    assert defaults.log_format == "text"
    assert defaults.metrics_port is None
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        load_settings(_env_file=None, LOG_FORMAT="xml")
