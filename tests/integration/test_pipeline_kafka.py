"""``moxtrace serve --queue`` and ``moxtrace collector`` on the real broker, real processes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
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


StartCollector = Callable[..., CollectorProcess]


@pytest.fixture
def start_collector(kafka_broker: str, tmp_path: Path) -> Iterator[StartCollector]:
    """Starts a ``moxtrace collector`` on a topic of the broker (a consumer group of its
    own), with ``CollectorProcess``'s other options; stopped after the test."""
    started: list[CollectorProcess] = []

    def start(topic: str, sinks: list[str], **options: Any) -> CollectorProcess:
        collector = CollectorProcess(
            tmp_path / f"c{len(started) + 1}",
            kafka=f"kafka://{kafka_broker}/{topic}",
            sinks=sinks,
            group=f"g-{uuid.uuid4().hex[:8]}",
            **options,
        ).start()
        started.append(collector)
        return collector

    yield start
    for collector in started:
        collector.stop()


def test_spans_go_from_serve_through_kafka_and_a_collector_into_the_store(
    kafka_broker: str, moxtrace_server_factory: Any, start_collector: StartCollector
) -> None:
    topic = create_topics(kafka_broker, 2)
    server = moxtrace_server_factory("sqlite", queue=f"kafka://{kafka_broker}/{topic}")
    collector = start_collector(topic, [f"store:{sqlite_url(server)}"])
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
    kafka_broker: str, moxtrace_server_factory: Any, start_collector: StartCollector
) -> None:
    topic = create_topics(kafka_broker, 1)
    server = moxtrace_server_factory("sqlite")
    collector = start_collector(topic, [f"store:{sqlite_url(server)}"])
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


def test_otlp_records_written_by_a_plain_otel_sdk_are_consumed_and_stored(
    kafka_broker: str, moxtrace_server_factory: Any, start_collector: StartCollector
) -> None:
    """What an OpenTelemetry Collector's Kafka exporter writes (otlp_proto): the SDK's own
    protobuf encoding of an ExportTraceServiceRequest, no headers."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode

    topic = create_topics(kafka_broker, 2)
    server = moxtrace_server_factory("sqlite")
    start_collector(topic, [f"store:{sqlite_url(server)}"])
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "plain-otel-app"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("plain-app", "2.0")
    with tracer.start_as_current_span("GET /answer", kind=SpanKind.SERVER):
        with tracer.start_as_current_span("chat gpt-5", kind=SpanKind.CLIENT) as llm:
            llm.set_attribute("gen_ai.operation.name", "chat")
            llm.set_attribute("gen_ai.provider.name", "openai")
            llm.set_attribute("gen_ai.usage.input_tokens", 42)
            llm.set_attribute("gen_ai.usage.output_tokens", 7)
        with tracer.start_as_current_span("lookup") as failing:
            failing.set_status(StatusCode.ERROR, "not found")
    provider.shutdown()
    spans = memory.get_finished_spans()
    produce(kafka_broker, topic, [(None, encode_spans(spans).SerializeToString(), [])])
    trace_id = format(spans[0].context.trace_id, "032x")

    def trace() -> dict[str, Any] | None:
        with server.client() as client:
            response = client.get(f"/traces/{trace_id}")
        if response.status_code != 200:
            return None
        data: dict[str, Any] = response.json()["data"]
        return data if len(data["spans"]) == 3 else None

    found = poll(trace, timeout=30, what="the OTLP trace stored")
    by_name = {s["name"]: s for s in found["spans"]}
    root = by_name["GET /answer"]
    assert root["kind"] == "server"
    assert by_name["chat gpt-5"]["parent_span_id"] == root["span_id"]
    assert by_name["lookup"]["status"] == {"code": "ERROR", "message": "not found"}
    assert stored(server)["llm_calls"] == 1


def moxn_record(events: list[dict[str, Any]]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    import orjson

    key = events[0]["trace_id"].encode()
    headers = [("content-type", b"application/vnd.moxn.events+json")]
    return key, orjson.dumps({"events": events}), headers


def test_a_span_split_over_records_is_stored_whole_and_a_span_without_end_partial(
    kafka_broker: str, moxtrace_server_factory: Any, start_collector: StartCollector
) -> None:
    from moxtrace.exporters.events import span_to_wire

    topic = create_topics(kafka_broker, 1)
    server = moxtrace_server_factory("sqlite")
    collector = start_collector(
        topic, [f"store:{sqlite_url(server)}"], options={"reassembly_timeout": 1}
    )
    whole, unfinished = make_spans(3, spans_per_trace=3)[1:]
    start, llm, end = span_to_wire(whole)
    produce(
        kafka_broker,
        topic,
        [
            moxn_record([start]),
            moxn_record([span_to_wire(unfinished)[0]]),
            moxn_record([llm, end]),
        ],
    )
    poll(
        lambda: collector.stats()["reassembly"]["timed_out"] == 1,
        timeout=30,
        what="the unfinished span released",
    )
    counts = poll(
        lambda: (c := stored(server))["events"] == 4 and c, timeout=30, what="4 events stored"
    )
    assert counts["spans"] == 2 and counts["llm_calls"] == 1
    trace_id = format(whole.context.trace_id, "032x")
    with server.client() as client:
        spans = client.get(f"/traces/{trace_id}").json()["data"]["spans"]
    by_name = {s["name"]: s for s in spans}
    assert by_name[whole.name]["end_time"] is not None
    assert by_name[unfinished.name]["end_time"] is None
    # Every record was committed once its spans were stored.
    poll(
        lambda: collector.stats()["kafka"]["partitions"][f"{topic}/0"]["committed"] == 3,
        timeout=30,
        what="offset 3 committed",
    )


def test_the_moxn_sink_delivers_to_a_moxn_api(
    kafka_broker: str, moxtrace_server_factory: Any, start_collector: StartCollector
) -> None:
    """``moxn:URL``: MoxnSpanExporter to the Moxn API (here another moxtrace serve)."""
    topic = create_topics(kafka_broker, 1)
    upstream = moxtrace_server_factory("sqlite")
    collector = start_collector(
        topic, [f"moxn:{upstream.base_url}"], env={"MOXN_API_KEY": upstream.api_key}
    )
    produce(kafka_broker, topic, [(None, encode_spans(make_spans(10)).SerializeToString(), [])])
    counts = poll(
        lambda: (c := stored(upstream))["spans"] == 10 and c, timeout=30, what="10 spans upstream"
    )
    assert counts["llm_calls"] == 3
    assert collector.stats()["sinks"][f"moxn:{upstream.base_url}"]["spans"] == 10


def test_every_ingest_route_of_serve_queue_reaches_the_store_through_plugins(
    kafka_broker: str, moxtrace_server_factory: Any, tmp_path: Path, start_collector: StartCollector
) -> None:
    """OTLP/HTTP, one event, and an event whose content is uploaded through a signed URL:
    the redact plugin rewrites the spans, and the uploaded content's key survives it."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    from tests.support.server import new_span_id, new_trace_id, span_events

    topic = create_topics(kafka_broker, 2)
    server = moxtrace_server_factory("sqlite", queue=f"kafka://{kafka_broker}/{topic}")
    config = tmp_path / "plugins.yaml"
    config.write_text("plugins:\n  - redact\n")
    start_collector(topic, [f"store:{sqlite_url(server)}"], config=config)
    otlp_spans = make_spans(4, attributes={"user.email": "ada@example.com"})
    exporter = OTLPSpanExporter(
        endpoint=f"{server.base_url}/v1/traces", headers={"x-api-key": server.api_key}
    )
    try:
        assert exporter.export(otlp_spans).name == "SUCCESS"
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]

    trace_id, span_id = new_trace_id(), new_span_id()
    llm_meta = {"provider": "anthropic", "operation": "chat", "usage": {"input_tokens": 3}}
    start, llm, end = span_events(
        trace_id, span_id, name="uploaded", llm=llm_meta, attributes={"owner": "bob@example.com"}
    )
    content = {"input_messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]}
    with server.client() as client:
        assert client.post("/telemetry/log-event", json=start).status_code == 200
        signed = client.post("/telemetry/log-event-and-get-signed-url", json=llm)
        assert signed.status_code == 200, signed.text
        assert httpx.put(signed.json()["data"]["signed_url"], json=content).status_code == 200
        assert client.post("/telemetry/log-event", json=end).status_code == 200

    def uploaded_trace() -> dict[str, Any] | None:
        with server.client() as client:
            response = client.get(f"/traces/{trace_id}")
        if response.status_code != 200:
            return None
        data: dict[str, Any] = response.json()["data"]
        spans = data["spans"]
        return data if spans and spans[0]["end_time"] and spans[0]["llm_calls"] else None

    trace = poll(uploaded_trace, timeout=30, what="the uploaded span stored")
    (span,) = trace["spans"]
    assert "bob@example.com" not in json.dumps(span)
    (call,) = span["llm_calls"]
    assert call["content"] == content and call["content_pending"] is False
    otlp_trace = format(otlp_spans[0].context.trace_id, "032x")
    poll(lambda: stored(server)["spans"] == 5, timeout=30, what="the OTLP spans stored")
    with server.client() as client:
        text = client.get(f"/traces/{otlp_trace}").text
    assert "ada@example.com" not in text and "[REDACTED:email]" in text
