"""OTLP/HTTP into a real ``moxtrace serve`` from a plain OpenTelemetry SDK (no moxtrace).

The stock ``OTLPSpanExporter`` (protobuf; plain, gzip and deflate) and OTLP/JSON, on SQLite
and PostgreSQL: spans are stored as the same spans and events the Moxn exporter would
send, queryable with their parentage, attributes, status and LLM calls.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.support.server import MoxtraceServer

pytestmark = pytest.mark.integration


@pytest.fixture
def server(shared_moxtrace_server: MoxtraceServer) -> MoxtraceServer:
    return shared_moxtrace_server


def make_spans(service: str) -> list[ReadableSpan]:
    """A request span with an LLM child and a failing tool child, from the bare SDK."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("plain-otel", "1.2.3")
    with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.route", "/chat")
        root.set_attribute("moxn.metadata.customer_id", "cust_42")
        with tracer.start_as_current_span("chat claude", kind=SpanKind.CLIENT) as llm:
            llm.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "anthropic",
                    "gen_ai.request.model": "claude-sonnet-4",
                    "gen_ai.response.model": "claude-sonnet-4-20250514",
                    "gen_ai.usage.input_tokens": 57,
                    "gen_ai.usage.output_tokens": 9,
                    "gen_ai.response.finish_reasons": ("stop",),
                    "gen_ai.input.messages": json.dumps(
                        [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
                    ),
                }
            )
            llm.add_event("first_token", {"latency_ms": 120})
        with tracer.start_as_current_span("lookup") as tool:
            tool.set_status(Status(StatusCode.ERROR, "no such order"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def read_trace(server: MoxtraceServer, trace_id: str) -> dict[str, Any]:
    reply = httpx.get(f"{server.base_url}/traces/{trace_id}", headers=server.headers)
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()["data"]
    return data


def check_trace(server: MoxtraceServer, spans: list[ReadableSpan], service: str) -> None:
    by_name = {s.name: s for s in spans}
    root = by_name["POST /chat"]
    trace_id = format(root.context.trace_id, "032x")
    trace = read_trace(server, trace_id)
    stored = {s["name"]: s for s in trace["spans"]}
    assert set(stored) == {"POST /chat", "chat claude", "lookup"}
    root_id = format(root.context.span_id, "016x")
    assert trace["roots"] == [root_id]
    assert trace["service_name"] == service
    assert stored["POST /chat"]["kind"] == "server"
    assert stored["POST /chat"]["attributes"]["http.route"] == "/chat"
    assert stored["POST /chat"]["metadata"] == {"customer_id": "cust_42"}
    assert stored["POST /chat"]["resource"]["service.name"] == service
    assert stored["POST /chat"]["scope"] == {"name": "plain-otel", "version": "1.2.3"}
    for child in ("chat claude", "lookup"):
        assert stored[child]["parent_span_id"] == root_id
        assert stored[child]["span_id"] == format(by_name[child].context.span_id, "016x")
    chat = stored["chat claude"]
    assert chat["kind"] == "client"
    (call,) = chat["llm_calls"]
    assert call["provider"] == "anthropic"
    assert call["response_model"] == "claude-sonnet-4-20250514"
    assert call["usage"]["input_tokens"] == 57 and call["usage"]["output_tokens"] == 9
    assert call["content"]["input_messages"][0]["parts"][0]["content"] == "hi"
    assert [e["name"] for e in chat["events"]] == ["first_token"]
    assert stored["lookup"]["status"] == {"code": "ERROR", "message": "no such order"}
    assert trace["error_count"] == 1


@pytest.mark.parametrize("compression", [None, Compression.Gzip, Compression.Deflate])
def test_stock_otlp_exporter_spans_are_stored_with_parentage(
    server: MoxtraceServer, compression: Compression | None
) -> None:
    service = f"plain-otel-{compression.value if compression else 'none'}"
    spans = make_spans(service)
    exporter = OTLPSpanExporter(
        endpoint=f"{server.base_url}/v1/traces",
        headers={"x-api-key": server.api_key},
        compression=compression,
        timeout=10,
    )
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    check_trace(server, spans, service)


def otlp_json(spans: list[ReadableSpan]) -> dict[str, Any]:
    """OTLP/JSON as the specification spells it: camelCase, hex ids, enums as numbers."""
    doc = json_format.MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in doc["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return doc


@pytest.mark.parametrize("gzipped", [False, True])
def test_otlp_json_is_stored_too(server: MoxtraceServer, gzipped: bool) -> None:
    service = f"otlp-json-{gzipped}"
    spans = make_spans(service)
    body = json.dumps(otlp_json(spans)).encode()
    headers = {"content-type": "application/json", **server.headers}
    if gzipped:
        body, headers["content-encoding"] = gzip.compress(body), "gzip"

    reply = httpx.post(f"{server.base_url}/v1/traces", content=body, headers=headers)

    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == {}
    check_trace(server, spans, service)


def test_a_repeated_export_is_stored_once(server: MoxtraceServer) -> None:
    spans = make_spans("repeat")
    body = encode_spans(spans).SerializeToString()
    headers = {"content-type": "application/x-protobuf", **server.headers}
    for _ in range(2):
        reply = httpx.post(f"{server.base_url}/v1/traces", content=body, headers=headers)
        assert reply.status_code == 200
    trace_id = format(spans[0].context.trace_id, "032x")
    assert read_trace(server, trace_id)["span_count"] == 3


def status_of(reply: httpx.Response) -> status_pb2.Status:
    status = status_pb2.Status()
    status.ParseFromString(reply.content)
    return status


def test_otlp_errors_follow_the_otlp_specification(server: MoxtraceServer) -> None:
    url = f"{server.base_url}/v1/traces"
    proto = {"content-type": "application/x-protobuf"}

    anonymous = httpx.post(url, content=b"", headers=proto)
    garbage = httpx.post(url, content=b"\xff\xff\xff\xff", headers={**proto, **server.headers})
    text = httpx.post(
        url, content=b"hello", headers={"content-type": "text/plain", **server.headers}
    )
    bad_json = httpx.post(
        url,
        content=b'{"resourceSpans": 3}',
        headers={"content-type": "application/json", **server.headers},
    )
    bad_id = httpx.post(
        url,
        json={"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz", "spanId": "00"}]}]}]},
        headers=server.headers,
    )

    assert anonymous.status_code == 401
    assert status_of(anonymous).code == 16  # UNAUTHENTICATED
    assert garbage.status_code == 400
    assert "malformed ExportTraceServiceRequest" in status_of(garbage).message
    assert text.status_code == 415
    assert bad_json.status_code == 400
    assert bad_json.json()["message"].startswith("resourceSpans:")
    assert bad_id.status_code == 400
    assert bad_id.json()["message"] == (
        "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 32 hex digits"
    )


def test_an_empty_export_is_fine(server: MoxtraceServer) -> None:
    reply = httpx.post(
        f"{server.base_url}/v1/traces",
        content=b"",
        headers={"content-type": "application/x-protobuf", **server.headers},
    )
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/x-protobuf"


@pytest.fixture
def other_tenant_key(server: MoxtraceServer) -> str:
    return server.create_key("otlp-other")


def test_otlp_spans_belong_to_the_key_s_tenant(
    server: MoxtraceServer, other_tenant_key: str
) -> None:
    spans = make_spans("tenant-check")
    exporter = OTLPSpanExporter(
        endpoint=f"{server.base_url}/v1/traces", headers={"x-api-key": other_tenant_key}
    )
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    trace_id = format(spans[0].context.trace_id, "032x")
    mine = httpx.get(f"{server.base_url}/traces/{trace_id}", headers=server.headers)
    theirs = httpx.get(
        f"{server.base_url}/traces/{trace_id}", headers={"x-api-key": other_tenant_key}
    )
    assert mine.status_code == 404
    assert theirs.status_code == 200
