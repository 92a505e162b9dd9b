"""OTLP decoding: protobuf and JSON to the same events ``span_to_events`` makes."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from moxtrace.exporters.events import span_to_events
from moxtrace.server.errors import ApiError
from moxtrace.server.otlp import decode_json, decode_protobuf, export_response, request_to_events


def sdk_spans() -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc", "n": 3}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("scope", "9.9")
    with tracer.start_as_current_span("outer", kind=SpanKind.CONSUMER) as outer:
        outer.set_attributes({"moxn.metadata.user": "u1", "list": (1, 2), "flag": True})
        with tracer.start_as_current_span(
            "inner", links=[Link(outer.get_span_context(), {"why": "because"})]
        ) as inner:
            inner.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.usage.input_tokens": 5,
                    "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": []}]),
                }
            )
            inner.add_event("retry", {"attempt": 2})
            inner.set_status(Status(StatusCode.ERROR, "bad"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def comparable(events: list[Any]) -> list[dict[str, Any]]:
    return sorted(
        (e.model_dump(mode="json") for e in events),
        key=lambda e: (e["span_id"], e["sequence_number"]),
    )


def test_protobuf_round_trip_matches_span_to_events() -> None:
    spans = sdk_spans()
    body = encode_spans(spans).SerializeToString()

    events = [event for event, _ in request_to_events(decode_protobuf(body))]

    expected = [e for span in spans for e in span_to_events(span)]
    assert comparable(events) == comparable(expected)
    assert {e.event_type.value for e in events} == {
        "span_start",
        "llm_call",
        "span_end",
        "span_error",
    }


def otlp_json(spans: list[ReadableSpan]) -> dict[str, Any]:
    doc = json_format.MessageToDict(encode_spans(spans))
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for owner in [span, *span.get("links", [])]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in owner:
                            owner[key] = base64.b64decode(owner[key]).hex()
    return doc


def test_otlp_json_gives_the_same_events() -> None:
    spans = sdk_spans()
    from_json = request_to_events(decode_json(json.dumps(otlp_json(spans)).encode()))
    from_proto = request_to_events(decode_protobuf(encode_spans(spans).SerializeToString()))
    assert comparable([e for e, _ in from_json]) == comparable([e for e, _ in from_proto])


def test_snake_case_and_enum_names_are_accepted() -> None:
    trace, span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    doc = {
        "resource_spans": [
            {
                "scope_spans": [
                    {
                        "spans": [
                            {
                                "trace_id": trace,
                                "span_id": span,
                                "name": "x",
                                "kind": "SPAN_KIND_SERVER",
                                "start_time_unix_nano": "1700000000000000000",
                                "end_time_unix_nano": 1700000000500000000,
                                "unknown": {"ignored": True},
                            }
                        ]
                    }
                ]
            }
        ]
    }
    (start, end) = [e for e, _ in request_to_events(decode_json(json.dumps(doc).encode()))]
    assert start.system_metadata["span_kind"] == "server"
    assert end.system_metadata["duration_ms"] == 500.0


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (b"nope", "body: malformed JSON"),
        (b"[]", "body: expected a JSON object"),
        (b'{"resourceSpans": {}}', "resourceSpans: expected a JSON array"),
        (b'{"resourceSpans": [3]}', "resourceSpans[0]: expected a JSON object"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 5}]}]}]}',
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected a hex string",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab"}]}]}]}',
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 32 hex digits",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": {"x": 1}}]}]}]}',
            "body: invalid OTLP/JSON",
        ),
    ],
)
def test_bad_json_names_the_field(doc: bytes, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        request_to_events(decode_json(doc))
    assert caught.value.status_code == 400
    assert caught.value.message.startswith(message)


def test_a_span_without_ids_is_400_naming_it() -> None:
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "no ids"}]}]}]}
    with pytest.raises(ApiError) as caught:
        request_to_events(decode_json(json.dumps(doc).encode()))
    assert caught.value.message == (
        "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 16 bytes, got 0"
    )


def test_garbage_protobuf_is_400() -> None:
    with pytest.raises(ApiError) as caught:
        decode_protobuf(b"\xff\xff\xff")
    assert caught.value.status_code == 400


def test_export_responses() -> None:
    assert export_response(True) == (b"{}", "application/json")
    assert export_response(False) == (b"", "application/x-protobuf")
