"""Delivery guarantees of ``moxtrace collector`` with real processes on the real broker:
a sink that is down holds the offsets back and pauses consumption; SIGTERM commits what
was delivered; the OTLP/HTTP receiver answers only once spans are stored."""

from __future__ import annotations

import gzip
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.collector import CollectorProcess, create_topics, make_spans, produce
from tests.support.ports import LOOPBACK
from tests.support.server import MoxtraceServer, poll

pytestmark = pytest.mark.integration

EVENTS_OF_100 = 2 * 100 + len(range(1, 100, 3))
"""Events of ``make_spans(100)``: a start and an end each, an LLM call every third."""


def store_url(server: MoxtraceServer) -> str:
    return server.database_url or f"sqlite+aiosqlite:///{server.data_dir / 'moxtrace.db'}"


def stored(server: MoxtraceServer) -> dict[str, int]:
    with server.client() as client:
        response = client.get("/stats")
    response.raise_for_status()
    counts: dict[str, int] = response.json()["data"]["stored"]
    return counts


class OtlpBackend:
    """An OTLP/HTTP endpoint on loopback that answers 503 while ``down``."""

    def __init__(self) -> None:
        self.down = True
        self.span_ids: set[bytes] = set()
        self.refused = 0
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if backend.down:
                    backend.refused += 1
                    self.send_response(503)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                for rs in request.resource_spans:
                    for ss in rs.scope_spans:
                        backend.span_ids.update(s.span_id for s in ss.spans)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}/v1/traces"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backend() -> Iterator[OtlpBackend]:
    b = OtlpBackend()
    yield b
    b.close()


@pytest.fixture
def collectors() -> Iterator[list[CollectorProcess]]:
    started: list[CollectorProcess] = []
    yield started
    for collector in started:
        collector.stop()


def committed(collector: CollectorProcess) -> int:
    partitions = collector.stats()["kafka"]["partitions"]
    return sum(p["committed"] or 0 for p in partitions.values())


def test_a_sink_that_is_down_holds_offsets_back_and_pauses_consumption(
    kafka_broker: str,
    moxtrace_server_factory: Any,
    tmp_path: Path,
    collectors: list[CollectorProcess],
    backend: OtlpBackend,
) -> None:
    topic = create_topics(kafka_broker, 1)
    server = moxtrace_server_factory("sqlite")
    collector = CollectorProcess(
        tmp_path / "c1",
        kafka=f"kafka://{kafka_broker}/{topic}",
        sinks=[f"store:{store_url(server)}", f"otlp:{backend.url}"],
        group=f"g-{uuid.uuid4().hex[:8]}",
        options={"max_poll_records": 5, "max_inflight_batches": 1, "sink_retry_max": 0.5},
        env={"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "1"},
    ).start()
    collectors.append(collector)
    spans = make_spans(100)
    produce(
        kafka_broker,
        topic,
        [(None, encode_spans(spans[i : i + 5]).SerializeToString(), []) for i in range(0, 100, 5)],
    )
    # The store has the first batch, the OTLP backend refuses it: nothing is committed,
    # and the collector stops fetching instead of reading the topic into memory.
    poll(lambda: stored(server)["events"] >= 10, timeout=30, what="the first batch stored")
    poll(
        lambda: collector.stats()["sinks"][f"otlp:{backend.url}"]["failures"] >= 2,
        timeout=30,
        what="the OTLP sink retried",
    )
    stats = collector.stats()
    assert stats["kafka"]["paused"] >= 1
    assert stats["kafka"]["records"] <= 10
    assert committed(collector) == 0
    assert stored(server)["events"] < EVENTS_OF_100
    backend.down = False
    poll(lambda: len(backend.span_ids) == 100, timeout=60, what="every span in the backend")
    poll(lambda: committed(collector) == 20, timeout=30, what="all 20 records committed")
    assert stored(server)["events"] == EVENTS_OF_100


def test_sigterm_commits_what_was_delivered_and_a_restart_reads_only_new_records(
    kafka_broker: str, moxtrace_server_factory: Any, tmp_path: Path
) -> None:
    topic = create_topics(kafka_broker, 2)
    server = moxtrace_server_factory("sqlite")
    kafka = f"kafka://{kafka_broker}/{topic}"
    group = f"g-{uuid.uuid4().hex[:8]}"
    sinks = [f"store:{store_url(server)}"]
    first = CollectorProcess(tmp_path / "c1", kafka=kafka, sinks=sinks, group=group).start()
    try:
        spans = make_spans(60)
        produce(
            kafka_broker,
            topic,
            [
                (str(i).encode(), encode_spans(spans[i : i + 3]).SerializeToString(), [])
                for i in range(0, 60, 3)
            ],
        )
        poll(lambda: stored(server)["events"] == 120 + 20, timeout=30, what="60 spans stored")
    finally:
        code = first.stop()
    assert code == 0
    final = first.final_stats()
    assert sum(p["committed"] or 0 for p in final["kafka"]["partitions"].values()) == 20
    second = CollectorProcess(tmp_path / "c2", kafka=kafka, sinks=sinks, group=group).start()
    try:
        produce(
            kafka_broker,
            topic,
            [(b"new", encode_spans(make_spans(1, seed=9)).SerializeToString(), [])],
        )
        poll(lambda: stored(server)["events"] == 142, timeout=30, what="the new span stored")
        assert second.stats()["kafka"]["records"] == 1
    finally:
        assert second.stop() == 0


def test_the_otlp_receiver_answers_once_spans_are_stored(
    moxtrace_server_factory: Any, tmp_path: Path, collectors: list[CollectorProcess]
) -> None:
    server = moxtrace_server_factory("sqlite")
    collector = CollectorProcess(
        tmp_path / "c1", kafka=None, sinks=[f"store:{store_url(server)}"]
    ).start()
    collectors.append(collector)
    body = encode_spans(make_spans(10)).SerializeToString()
    url = f"{collector.base_url}/v1/traces"
    response = httpx.post(
        url,
        content=gzip.compress(body),
        headers={
            "content-type": "application/x-protobuf",
            "content-encoding": "gzip",
            "moxtrace-tenant": "dev",
        },
    )
    assert response.status_code == 200
    # Acknowledged means stored: the events are there at once.
    assert stored(server)["events"] == 2 * 10 + 3
    bad = httpx.post(
        url, content=b"\x00garbage", headers={"content-type": "application/x-protobuf"}
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/x-protobuf"
    wrong = httpx.post(url, content=b"x", headers={"content-type": "text/plain"})
    assert wrong.status_code == 415
    assert collector.stats()["http"] == {"requests": 2, "rejected": 1}


def test_sigterm_with_a_sink_down_leaves_undelivered_records_uncommitted(
    kafka_broker: str, tmp_path: Path, backend: OtlpBackend
) -> None:
    topic = create_topics(kafka_broker, 1)
    collector = CollectorProcess(
        tmp_path / "c1",
        kafka=f"kafka://{kafka_broker}/{topic}",
        sinks=[f"otlp:{backend.url}"],
        group=f"g-{uuid.uuid4().hex[:8]}",
        options={"max_inflight_batches": 1, "shutdown_timeout": 2, "sink_retry_max": 0.5},
        env={"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "1"},
    ).start()
    try:
        produce(kafka_broker, topic, [(None, encode_spans(make_spans(5)).SerializeToString(), [])])
        poll(lambda: backend.refused >= 2, timeout=30, what="the backend refused a batch")
    finally:
        started = time.monotonic()
        code = collector.stop(timeout=30)
    assert code == 0
    assert time.monotonic() - started < 15
    final = collector.final_stats()
    assert final["abandoned_batches"] == 1
    assert final["kafka"]["partitions"][f"{topic}/0"]["committed"] is None
