"""moxtrace.kafka without a broker: headers in, spans out, bad input contained."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from moxtrace import PromptSession, SyncMoxnClient
from moxtrace.kafka import TracedConsumer, carrier_from_record, inject_headers
from moxtrace.kafka import _warn as kafka_warn


@pytest.fixture(autouse=True)
def _reset_warnings() -> None:
    kafka_warn.reset()


def record(headers: list[tuple[str, bytes]], offset: int = 7, key: Any = b"k1") -> Any:
    return ConsumerRecord(
        topic="orders",
        partition=2,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=b"{}",
        checksum=None,
        serialized_key_size=2,
        serialized_value_size=2,
        headers=tuple(headers),
    )


def test_inject_keeps_user_headers_and_replaces_stale_trace_headers(
    client: SyncMoxnClient, make_session: Callable[..., PromptSession]
) -> None:
    user = [("app", b"1"), ("traceparent", b"stale"), ("app", b"2")]
    assert inject_headers(user) == [("app", b"1"), ("app", b"2")]  # no span: nothing added
    with client.span(make_session()) as span:
        headers = inject_headers(user)
    keys = [k for k, _ in headers]
    assert keys[:2] == ["app", "app"]
    assert keys.count("traceparent") == 1
    traceparent = dict(headers)["traceparent"].decode()
    assert format(span.get_span_context().span_id, "016x") in traceparent


def test_record_span_continues_the_trace_with_messaging_attributes(
    client: SyncMoxnClient,
    exporter: InMemorySpanExporter,
    make_session: Callable[..., PromptSession],
) -> None:
    session = make_session()
    with client.span(session, name="producer") as producer:
        headers = inject_headers([])
    traced = TracedConsumer(object(), client, group_id="g1")
    with traced.record(record(headers)) as rec:
        assert rec.offset == 7
        carrier = client.extract_context()
    (process,) = [s for s in exporter.get_finished_spans() if s.name == "process orders"]
    assert process.kind is SpanKind.CONSUMER
    assert process.parent is not None
    assert process.parent.span_id == producer.get_span_context().span_id
    attrs = process.attributes or {}
    assert attrs["messaging.kafka.offset"] == 7
    assert attrs["messaging.destination.partition.id"] == "2"
    assert attrs["messaging.consumer.group.name"] == "g1"
    assert attrs["messaging.kafka.message.key"] == "k1"
    assert attrs["moxn.prompt.id"] == str(session.prompt.id)
    assert carrier is not None and carrier.prompt_id == str(session.prompt.id)


def test_handler_exception_is_recorded_and_reraised(
    client: SyncMoxnClient, exporter: InMemorySpanExporter
) -> None:
    traced = TracedConsumer(object(), client)
    with pytest.raises(ValueError, match="bad order"), traced.record(record([])):
        raise ValueError("bad order")
    (process,) = exporter.get_finished_spans()
    assert process.status.status_code is StatusCode.ERROR
    assert process.events[0].name == "exception"


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("traceparent", b"garbage")],
        [("traceparent", b"\xff\xfe")],
        [("traceparent", b"00-" + b"a" * 32 + b"-" + b"b" * 16 + b"-01" + b"x" * 10_000)],
        [("tracestate", b"x" * 100_000)],
        [(None, None), (1, 2)],  # not even (str, bytes)
    ],
)
def test_bad_headers_start_a_new_trace_with_one_warning(
    client: SyncMoxnClient,
    exporter: InMemorySpanExporter,
    make_session: Callable[..., PromptSession],
    caplog: pytest.LogCaptureFixture,
    headers: list[tuple[Any, Any]],
) -> None:
    caplog.set_level(logging.WARNING, logger="moxtrace")
    traced = TracedConsumer(object(), client)
    with client.span(make_session(), name="poll-loop"):  # the caller's span is not adopted
        for offset in range(3):
            with traced.record(record(headers, offset=offset)):
                pass
    processes = [s for s in exporter.get_finished_spans() if s.name == "process orders"]
    assert len(processes) == 3
    assert all(p.parent is None for p in processes)
    assert len({p.context.trace_id for p in processes}) == 3
    warnings = [r for r in caplog.records if r.name == "moxtrace.kafka"]
    assert len(warnings) == 1


def test_carrier_from_record_reads_what_inject_wrote(
    client: SyncMoxnClient, make_session: Callable[..., PromptSession]
) -> None:
    with client.span(make_session()):
        headers = inject_headers([("other", b"x")])
    carrier = carrier_from_record(record(headers))
    assert carrier is not None and carrier.valid


def test_disabled_sdk_passes_records_through(
    monkeypatch: pytest.MonkeyPatch, exporter: InMemorySpanExporter
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    client = SyncMoxnClient()
    with TracedConsumer(object(), client).record(record([])) as rec:
        assert rec.offset == 7
    client.close()
