"""Decoding records: Moxn events or OTLP, by header or by sniffing; reasons for the rest."""

from __future__ import annotations

import json
import re

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from moxtrace.pipeline.records import UndecodableRecord, decode_record

from .factories import events_value, span, wire

MOXN = [("content-type", b"application/vnd.moxn.events+json")]
PROTOBUF = [("content-type", b"application/x-protobuf")]


def test_moxn_events_by_header() -> None:
    decoded = decode_record(events_value(wire(span(llm=True))), MOXN, "dev")
    assert decoded.tenant == "dev"
    assert decoded.spans is None
    assert [e.event_type.value for e, _ in decoded.events or []] == [
        "span_start",
        "llm_call",
        "span_end",
    ]


def test_one_event_and_sniffed_json() -> None:
    (event, _, _) = wire(span(llm=True))
    decoded = decode_record(orjson.dumps(event), [], "dev")
    assert decoded.events is not None and len(decoded.events) == 1


def test_otlp_protobuf_with_and_without_header() -> None:
    value = encode_spans([span(1, 1), span(1, 2)]).SerializeToString()
    for headers in (PROTOBUF, []):
        decoded = decode_record(value, headers, "dev")
        assert [s.context.span_id for s in decoded.spans or []] == [1, 2]


def test_otlp_json_as_the_collector_s_otlp_json_encoding_writes_it() -> None:
    doc = json_format.MessageToDict(encode_spans([span(0xAB, 7)]))
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                s["traceId"] = f"{0xAB:032x}"
                s["spanId"] = f"{7:016x}"
    decoded = decode_record(json.dumps(doc).encode(), [("content-type", b"application/json")], "x")
    (only,) = decoded.spans or []
    assert only.context.trace_id == 0xAB


def test_the_tenant_header_wins_over_the_default() -> None:
    headers = [*MOXN, ("moxtrace-tenant", b"acme")]
    assert decode_record(events_value(wire(span())), headers, "dev").tenant == "acme"


@pytest.mark.parametrize(
    ("value", "headers", "reason"),
    [
        (b"", [], "empty record"),
        (None, [], "empty record"),
        (b"\x00\x01 not protobuf", [], "malformed ExportTraceServiceRequest"),
        (b"{not json", [], "malformed JSON"),
        (b"[1, 2]", [], "not an object"),
        (b'{"hello": 1}', [], "neither Moxn events"),
        (b'{"events": {}}', [], "events: expected a JSON array"),
        (b'{"events": [{"event_type": "span_start"}]}', [], "events[0].trace_id"),
        (b"x", [("content-type", b"text/plain")], "unsupported content-type 'text/plain'"),
        (b"x", [("moxtrace-tenant", b"no spaces")], "moxtrace-tenant header"),
    ],
)
def test_what_cannot_be_decoded_says_why(
    value: bytes | None, headers: list[tuple[str, bytes]], reason: str
) -> None:
    with pytest.raises(UndecodableRecord, match=re.escape(reason)):
        decode_record(value, headers, "dev")


def test_otlp_spans_with_bad_ids_are_undecodable() -> None:
    request = encode_spans([span(1, 1)])
    request.resource_spans[0].scope_spans[0].spans[0].trace_id = b"\x01\x02"
    with pytest.raises(UndecodableRecord, match=r"spans\[0\]\.traceId"):
        decode_record(request.SerializeToString(), PROTOBUF, "dev")
