"""The topic contract: ``kafka://`` URLs, records of events, dead-letter headers."""

from __future__ import annotations

import orjson
import pytest

from moxtrace.pipeline.topic import (
    DLQ_REASON_HEADER,
    DLQ_SOURCE_HEADER,
    KafkaTopicUrl,
    RecordTooLarge,
    dead_letter_headers,
    events_records,
)
from moxtrace.server.queue import parse_queue_url

from .factories import span, wire


def test_a_url_with_several_brokers_and_options() -> None:
    url = KafkaTopicUrl.parse(
        "kafka://10.0.0.1:9092,broker-2.local:9093/moxtrace.spans?send_timeout=5",
        allowed_options=["send_timeout"],
    )
    assert url.bootstrap_servers == "10.0.0.1:9092,broker-2.local:9093"
    assert url.topic == "moxtrace.spans"
    assert url.options == {"send_timeout": "5"}
    assert str(url) == "kafka://10.0.0.1:9092,broker-2.local:9093/moxtrace.spans?send_timeout=5"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:9092/t", "expected kafka://"),
        ("kafka:///topic", "no broker"),
        ("kafka://127.0.0.1/topic", "is not HOST:PORT"),
        ("kafka://127.0.0.1:0/topic", "is not HOST:PORT"),
        ("kafka://127.0.0.1:9092", "topic must be"),
        ("kafka://127.0.0.1:9092/bad topic", "topic must be"),
        ("kafka://127.0.0.1:9092/t?acks=1", "unknown option 'acks'"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KafkaTopicUrl.parse(url)


def test_queue_url_options_are_checked() -> None:
    assert parse_queue_url("kafka://h:1/t?linger_ms=0&compression=gzip").options == {
        "linger_ms": "0",
        "compression": "gzip",
    }
    with pytest.raises(ValueError, match="compression"):
        parse_queue_url("kafka://h:1/t?compression=zstd")
    with pytest.raises(ValueError, match="send_timeout"):
        parse_queue_url("kafka://h:1/t?send_timeout=-1")


def test_events_become_one_record_per_trace_keyed_by_trace_id() -> None:
    events = wire(span(0xA, 1)) + wire(span(0xB, 2)) + wire(span(0xA, 3))
    records = events_records("acme", events, 1_000_000)
    assert [r.key for r in records] == [f"{0xA:032x}".encode(), f"{0xB:032x}".encode()]
    first = orjson.loads(records[0].value)["events"]
    assert [(e["span_id"], e["event_type"]) for e in first] == [
        (f"{1:016x}", "span_start"),
        (f"{1:016x}", "span_end"),
        (f"{3:016x}", "span_start"),
        (f"{3:016x}", "span_end"),
    ]
    assert dict(records[0].headers) == {
        "content-type": b"application/vnd.moxn.events+json",
        "moxtrace-tenant": b"acme",
    }


def test_a_large_trace_is_split_into_records_under_the_limit() -> None:
    events = [e for i in range(1, 40) for e in wire(span(0xA, i, llm=True))]
    records = events_records("dev", events, 4096)
    assert len(records) > 1
    assert all(len(r.value) <= 4096 for r in records)
    back = [e for r in records for e in orjson.loads(r.value)["events"]]
    assert back == events


def test_an_event_larger_than_a_record_is_refused() -> None:
    events = wire(span(attributes={"big": "x" * 5000}))
    with pytest.raises(RecordTooLarge, match="signed URL"):
        events_records("dev", events, 2048)


def test_dead_letter_headers_keep_the_record_s_own_and_add_why_and_where() -> None:
    headers = dead_letter_headers(
        [("traceparent", b"00-1"), (DLQ_REASON_HEADER, b"old")], "é" * 800, "spans", 3, 42
    )
    assert headers[0] == ("traceparent", b"00-1")
    reasons = [v for k, v in headers if k == DLQ_REASON_HEADER]
    assert len(reasons) == 1 and len(reasons[0]) <= 1000
    reasons[0].decode()  # cut on a character boundary
    assert (DLQ_SOURCE_HEADER, b"spans/3/42") in headers
