"""``MoxnSpanExporter``: the assembled chain, at the SDK boundary."""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

from moxtrace import Settings
from moxtrace.exporters import ExportStats, MoxnSpanExporter, RetryPolicy
from tests.unit.exporters.factories import readable_span

FAST = RetryPolicy(initial_backoff=0.001, max_backoff=0.002)


class Server:
    """A scripted ingest API behind an httpx MockTransport."""

    def __init__(self) -> None:
        self.answers: list[Callable[[httpx.Request], httpx.Response]] = []
        self.requests: list[httpx.Request] = []
        self.stored: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        with self.lock:
            self.requests.append(request)
            answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            return answer(request)
        body = json.loads(gzip.decompress(request.content))
        for event in body["events"]:
            self.stored[event["id"]] = event
        n = len(body["events"])
        return httpx.Response(200, json={"success": True, "data": {"accepted": n}})

    def exporter(self, **kwargs: Any) -> MoxnSpanExporter:
        kwargs.setdefault("retry_policy", FAST)
        return MoxnSpanExporter(
            "moxn_t.s", "http://moxn.test", transport=httpx.MockTransport(self), **kwargs
        )


def status(
    code: int, headers: dict[str, str] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(code, headers=headers, json={"success": False})


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def test_exports_spans_as_events_and_counts_them() -> None:
    server = Server()
    exporter = server.exporter()
    spans = [readable_span(i) for i in range(5)]

    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert len(server.stored) == 15
    assert {e["span_id"] for e in server.stored.values()} == {
        format(s.context.span_id, "016x") for s in spans
    }
    assert exporter.stats == ExportStats(exported=5)
    exporter.shutdown()


def test_every_attempt_of_a_batch_carries_the_same_idempotency_key() -> None:
    server = Server()
    server.answers = [status(503), refused, status(429, {"Retry-After": "0"})]
    exporter = server.exporter()

    assert exporter.export([readable_span(0), readable_span(1)]) is SpanExportResult.SUCCESS
    keys = {r.headers["x-moxn-idempotency-key"] for r in server.requests}
    assert len(server.requests) == 4
    assert len(keys) == 1
    assert exporter.stats == ExportStats(exported=2, retried=6)
    exporter.shutdown()


def test_a_new_batch_gets_a_new_key() -> None:
    server = Server()
    exporter = server.exporter()
    exporter.export([readable_span(0)])
    exporter.export([readable_span(1)])
    keys = [r.headers["x-moxn-idempotency-key"] for r in server.requests]
    assert len(set(keys)) == 2
    exporter.shutdown()


def test_refused_batches_fail_and_count_as_dropped(caplog: pytest.LogCaptureFixture) -> None:
    server = Server()
    server.answers = [status(400)]
    exporter = server.exporter()
    with caplog.at_level(logging.ERROR, "moxtrace.exporters"):
        assert exporter.export([readable_span(0), readable_span(1)]) is SpanExportResult.FAILURE
    assert exporter.stats == ExportStats(dropped=2)
    assert "dropped 2 spans" in caplog.text
    exporter.shutdown()


def test_without_spool_an_unreachable_server_drops_after_the_deadline() -> None:
    server = Server()
    server.answers = [refused] * 1000
    exporter = server.exporter(deadline=0.2)
    started = time.monotonic()
    assert exporter.export([readable_span(0)]) is SpanExportResult.FAILURE
    assert time.monotonic() - started < 2.0
    stats = exporter.stats
    assert stats.dropped == 1
    assert stats.retried >= 1
    exporter.shutdown()


def test_internal_failures_never_escape() -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("bug in a transport")

    server = Server()
    server.answers = [explode]
    exporter = server.exporter()
    assert exporter.export([readable_span(0)]) is SpanExportResult.FAILURE
    assert exporter.stats.dropped == 1
    exporter.shutdown()


def test_a_span_that_cannot_be_mapped_is_dropped_alone() -> None:
    from opentelemetry.sdk.trace import ReadableSpan

    server = Server()
    exporter = server.exporter()
    broken = ReadableSpan(name="no-context")
    assert exporter.export([broken, readable_span(1)]) is SpanExportResult.FAILURE
    assert exporter.stats == ExportStats(exported=1, dropped=1)
    assert len(server.stored) == 3
    exporter.shutdown()


def test_include_content_false_sends_no_content() -> None:
    server = Server()
    exporter = server.exporter(include_content=False)
    exporter.export([readable_span(0, content='[{"role":"user","parts":[]}]')])
    assert all(e["content"] is None for e in server.stored.values())
    exporter.shutdown()


def test_with_spool_an_outage_is_spooled_and_delivered_later(tmp_path: Path) -> None:
    server = Server()
    server.answers = [refused] * 1000
    exporter = server.exporter(deadline=0.1, spool_dir=tmp_path, spool_replay_interval=3600)

    assert exporter.export([readable_span(i) for i in range(3)]) is SpanExportResult.SUCCESS
    assert exporter.export([readable_span(i) for i in range(3, 5)]) is SpanExportResult.SUCCESS
    stats = exporter.stats
    assert (stats.exported, stats.spooled, stats.dropped, stats.in_spool) == (0, 5, 0, 5)

    server.answers.clear()  # the server is back
    assert exporter.force_flush(5000)
    assert exporter.stats.exported == 5
    assert exporter.stats.in_spool == 0
    assert len(server.stored) == 15
    exporter.shutdown()


def test_spooled_batches_survive_a_restart(tmp_path: Path) -> None:
    down = Server()
    down.answers = [refused] * 1000
    first = down.exporter(deadline=0.1, spool_dir=tmp_path)
    first.export([readable_span(i) for i in range(4)])
    first.shutdown()
    assert first.stats.spooled == 4

    up = Server()
    second = up.exporter(spool_dir=tmp_path)  # replays at start, no timer needed
    deadline = time.monotonic() + 10
    while second.stats.exported < 4:
        assert time.monotonic() < deadline, "spool not replayed at start"
        time.sleep(0.01)
    assert len(up.stored) == 12
    keys = {r.headers["x-moxn-idempotency-key"] for r in up.requests}
    assert keys == {down.requests[0].headers["x-moxn-idempotency-key"]}
    second.shutdown()


def test_shutdown_is_idempotent_and_later_exports_fail() -> None:
    server = Server()
    exporter = server.exporter()
    exporter.shutdown()
    exporter.shutdown()
    assert exporter.export([readable_span(0)]) is SpanExportResult.FAILURE
    assert exporter.stats.dropped == 1
    assert server.requests == []


def test_shutdown_interrupts_a_long_retry_wait(tmp_path: Path) -> None:
    server = Server()
    server.answers = [status(429, {"Retry-After": "20"})] * 10
    exporter = server.exporter(deadline=60, spool_dir=tmp_path)
    results: list[SpanExportResult] = []
    worker = threading.Thread(target=lambda: results.append(exporter.export([readable_span(0)])))
    worker.start()
    deadline = time.monotonic() + 5
    while not server.requests:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    started = time.monotonic()
    exporter.shutdown()
    worker.join(5)
    assert time.monotonic() - started < 3
    assert results == [SpanExportResult.SUCCESS]  # kept in the spool for next time
    assert exporter.stats.spooled == 1


def test_options_come_from_settings(tmp_path: Path) -> None:
    settings = Settings(
        api_key="moxn_x.y",
        base_url="http://example.test:9/",
        export_deadline=7,
        spool_dir=tmp_path / "spool",
        spool_max_bytes=12345,
    )
    exporter = MoxnSpanExporter(settings=settings)
    assert exporter.base_url == "http://example.test:9"
    assert exporter.deadline == 7
    assert exporter.spool is not None
    assert exporter.spool.directory == tmp_path / "spool"
    assert exporter.spool.max_bytes == 12345
    exporter.shutdown()


def test_environment_configures_the_exporter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MOXN_API_KEY", "moxn_env.key")
    monkeypatch.setenv("MOXN_BASE_URL", "http://env.test:1234")
    monkeypatch.setenv("MOXN_SPOOL_DIR", str(tmp_path))
    monkeypatch.setenv("MOXN_SPOOL_MAX_BYTES", "4096")
    monkeypatch.setenv("MOXN_EXPORT_COMPRESSION", "none")
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        captured.append(request)
        return httpx.Response(200, json={"success": True})

    exporter = MoxnSpanExporter(transport=httpx.MockTransport(handler))
    exporter.export([readable_span(0)])
    exporter.shutdown()
    (request,) = captured
    assert str(request.url) == "http://env.test:1234/telemetry/log-events"
    assert request.headers["x-api-key"] == "moxn_env.key"
    assert "content-encoding" not in request.headers
    assert exporter.spool is not None
    assert exporter.spool.max_bytes == 4096


@pytest.mark.parametrize(
    ("base_url", "setting", "compress", "gzipped"),
    [
        ("http://moxn.test", None, None, True),
        ("http://127.0.0.1:8700", None, None, False),
        ("http://localhost:8700", None, None, False),
        ("http://[::1]:8700", None, None, False),
        ("http://127.0.0.1:8700", "gzip", None, True),
        ("http://moxn.test", "none", None, False),
        ("http://127.0.0.1:8700", "auto", True, True),
        ("http://moxn.test", "gzip", False, False),
    ],
)
def test_bodies_are_gzipped_except_to_a_loopback_address_by_default(
    base_url: str, setting: str | None, compress: bool | None, gzipped: bool
) -> None:
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        captured.append(request)
        return httpx.Response(200, json={"success": True})

    settings = Settings() if setting is None else Settings(export_compression=setting)
    exporter = MoxnSpanExporter(
        "moxn_t.s",
        base_url,
        settings=settings,
        compress=compress,
        transport=httpx.MockTransport(handler),
    )
    assert exporter.export([readable_span(0)]) is SpanExportResult.SUCCESS
    exporter.shutdown()
    (request,) = captured
    assert (request.headers.get("content-encoding") == "gzip") is gzipped
    raw = gzip.decompress(request.content) if gzipped else request.content
    assert json.loads(raw)["events"][0]["event_type"] == "span_start"


def test_an_unknown_compression_setting_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="export_compression"):
        Settings(export_compression="brotli")  # type: ignore[arg-type]


def test_an_unusable_spool_directory_means_no_spool_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    server = Server()
    exporter = server.exporter(spool_dir=blocker / "spool")
    assert exporter.spool is None
    assert "cannot use the spool directory" in caplog.text
    assert exporter.export([readable_span(0)]) is SpanExportResult.SUCCESS
    exporter.shutdown()
