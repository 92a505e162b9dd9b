"""``moxtrace serve --queue`` and ``moxtrace collector`` on the real broker, real processes."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from moxtrace.exporters import MoxnSpanExporter
from moxtrace.pipeline.topic import DLQ_REASON_HEADER, DLQ_SOURCE_HEADER
from tests.support.collector import CollectorProcess, create_topics, make_spans, produce, read_topic
from tests.support.server import MoxtraceServer, poll

pytestmark = pytest.mark.integration


def sqlite_url(server: MoxtraceServer) -> str:
    return server.database_url or f"sqlite+aiosqlite:///{server.data_dir / 'moxtrace.db'}"


def stored(server: MoxtraceServer) -> dict[str, int]:
    with server.client() as client:
        response = client.get("/stats")
    response.raise_for_status()
    counts: dict[str, int] = response.json()["data"]["stored"]
    return counts


@pytest.fixture
def collectors() -> Any:
    started: list[CollectorProcess] = []
    yield started
    for collector in started:
        collector.stop()


def test_spans_go_from_serve_through_kafka_and_a_collector_into_the_store(
    kafka_broker: str, moxtrace_server_factory: Any, tmp_path: Path, collectors: list[Any]
) -> None:
    topic = create_topics(kafka_broker, 2)
    server = moxtrace_server_factory("sqlite", queue=f"kafka://{kafka_broker}/{topic}")
    collector = CollectorProcess(
        tmp_path / "c1",
        kafka=f"kafka://{kafka_broker}/{topic}",
        sinks=[f"store:{sqlite_url(server)}"],
        group=f"g-{uuid.uuid4().hex[:8]}",
    ).start()
    collectors.append(collector)
    spans = make_spans(300)
    exporter = MoxnSpanExporter(api_key=server.api_key, base_url=server.base_url)
    try:
        assert exporter.export(spans).name == "SUCCESS"
    finally:
        exporter.shutdown()
    counts = poll(
        lambda: (c := stored(server))["spans"] == 300 and c,
        timeout=60,
        what="300 spans stored",
    )
    assert counts["llm_calls"] == 100
    assert counts["events"] == 700
    trace_id = format(spans[0].context.trace_id, "032x")
    with server.client() as client:
        trace = client.get(f"/traces/{trace_id}").json()["data"]
    names = sorted(s["name"] for s in trace["spans"])
    assert names == ["root", *(f"step-{i}" for i in range(1, 5))]
    stats = collector.stats()
    assert stats["processor"]["spans_out"] == 300
    assert stats["kafka"]["dead_letters"] == 0


def test_serve_answers_503_with_retry_after_when_kafka_is_unreachable(
    moxtrace_server_factory: Any,
) -> None:
    from tests.support.ports import free_port

    server = moxtrace_server_factory(
        "sqlite", queue=f"kafka://127.0.0.1:{free_port()}/spans?send_timeout=2"
    )
    from moxtrace.exporters.events import span_to_wire

    events = [e for s in make_spans(3) for e in span_to_wire(s)]
    with server.client() as client:
        response = client.post("/telemetry/log-events", json={"events": events})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "unavailable"


def test_a_corrupt_record_goes_to_the_dead_letter_topic_with_its_reason(
    kafka_broker: str, moxtrace_server_factory: Any, tmp_path: Path, collectors: list[Any]
) -> None:
    topic = create_topics(kafka_broker, 1)
    server = moxtrace_server_factory("sqlite")
    collector = CollectorProcess(
        tmp_path / "c1",
        kafka=f"kafka://{kafka_broker}/{topic}",
        sinks=[f"store:{sqlite_url(server)}"],
        group=f"g-{uuid.uuid4().hex[:8]}",
    ).start()
    collectors.append(collector)
    good = encode_spans(make_spans(5)).SerializeToString()
    produce(
        kafka_broker,
        topic,
        [
            (b"k1", b"\x00\x01 this is not protobuf", []),
            (b"k2", b'{"events": [{"event_type": "span_start"}]}', []),
            (None, good, []),
        ],
    )
    letters = read_topic(kafka_broker, f"{topic}.dlq", 2)
    assert len(letters) == 2
    assert letters[0].value == b"\x00\x01 this is not protobuf"
    assert letters[0].key == b"k1"
    assert b"protobuf" in letters[0].headers[DLQ_REASON_HEADER]
    assert letters[0].headers[DLQ_SOURCE_HEADER] == f"{topic}/0/0".encode()
    assert b"trace_id" in letters[1].headers[DLQ_REASON_HEADER]
    poll(lambda: stored(server)["spans"] == 5, timeout=30, what="the good record stored")
    # The dead letters' offsets were committed with the rest.
    poll(
        lambda: collector.stats()["kafka"]["partitions"][f"{topic}/0"]["committed"] == 3,
        timeout=30,
        what="offset 3 committed",
    )
