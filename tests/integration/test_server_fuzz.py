"""Fuzzing every ingest route of a real ``moxtrace serve`` (SQLite and PostgreSQL).

Hypothesis throws malformed payloads (random bytes, random JSON, valid events with fields
replaced, removed or added, broken gzip, broken OTLP) at each route. The server must never
answer 5xx, and must never store part of a request it refused: after every request, the
tenant's stored counts are exactly what the accepted requests added.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fuzz import batch_body, json_values, mutated_event
from tests.support.server import MoxtraceServer, new_span_id, new_trace_id, span_events

pytestmark = pytest.mark.integration

FUZZ = settings(
    max_examples=int(os.environ.get("MOXTRACE_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
raw_bodies = st.binary(max_size=300) | st.sampled_from(
    [b"", b"{", b'{"events": [', b"\xff\xfe", b'"\\ud800"', b"[" * 5000, b'{"a": NaN}', b"1e400"]
)


@pytest.fixture(scope="module")
def fuzz_server(shared_moxtrace_server: MoxtraceServer) -> tuple[MoxtraceServer, str]:
    return shared_moxtrace_server, shared_moxtrace_server.create_key("fuzz")


class Ledger:
    """What the fuzz tenant should have stored; checked after every request."""

    def __init__(self, server: MoxtraceServer, key: str) -> None:
        self.client = httpx.Client(base_url=server.base_url, headers={"x-api-key": key}, timeout=30)
        self.expected = self.stored()

    def stored(self) -> int:
        reply = self.client.get("/stats")
        assert reply.status_code == 200, reply.text
        events: int = reply.json()["data"]["stored"]["events"]
        return events

    def check(self, reply: httpx.Response) -> None:
        assert reply.status_code < 500, (reply.status_code, reply.text)
        if reply.status_code < 300:
            if reply.request.url.path == "/v1/traces":
                # OTLP replies carry no counts: an accepted export stores what it stores.
                self.expected = self.stored()
                return
            self.expected += reply.json()["data"]["accepted"]
        if reply.status_code >= 400 and reply.request.url.path.startswith("/telemetry/log-event"):
            body = reply.json()
            assert body["success"] is False and body["error"]["code"], body
        assert self.stored() == self.expected, reply.text


@pytest.fixture
def ledger(fuzz_server: tuple[MoxtraceServer, str]) -> Iterator[Ledger]:
    server, key = fuzz_server
    ledger = Ledger(server, key)
    yield ledger
    ledger.client.close()


@FUZZ
@given(body=batch_body())
def test_fuzz_log_events(ledger: Ledger, body: Any) -> None:
    ledger.check(ledger.client.post("/telemetry/log-events", json=body))


@FUZZ
@given(
    event=mutated_event() | json_values,
    route=st.sampled_from(["log-event", "log-event-and-get-signed-url"]),
)
def test_fuzz_single_event_routes(ledger: Ledger, event: Any, route: str) -> None:
    ledger.check(ledger.client.post(f"/telemetry/{route}", json=event))


@FUZZ
@given(
    body=raw_bodies,
    route=st.sampled_from(
        [
            "/telemetry/log-event",
            "/telemetry/log-events",
            "/telemetry/log-event-and-get-signed-url",
            "/v1/traces",
        ]
    ),
    content_type=st.sampled_from(["application/json", "application/x-protobuf", "text/plain"]),
    encoding=st.sampled_from([None, "gzip", "gzip-broken", "identity"]),
)
def test_fuzz_raw_bytes(
    ledger: Ledger, body: bytes, route: str, content_type: str, encoding: str | None
) -> None:
    headers = {"content-type": content_type}
    if encoding == "gzip":
        body, headers["content-encoding"] = gzip.compress(body), "gzip"
    elif encoding == "gzip-broken":
        headers["content-encoding"] = "gzip"
    elif encoding:
        headers["content-encoding"] = encoding
    ledger.check(ledger.client.post(route, content=body, headers=headers))


def otlp_span(draw: st.DrawFn) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": new_trace_id(),
        "spanId": new_span_id(),
        "name": "fuzz",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}],
    }
    for _ in range(draw(st.integers(0, 2))):
        name = draw(
            st.sampled_from(
                [
                    "traceId",
                    "spanId",
                    "parentSpanId",
                    "name",
                    "kind",
                    "attributes",
                    "status",
                    "events",
                    "links",
                    "startTimeUnixNano",
                    "flags",
                ]
            )
        )
        span[name] = draw(json_values)
    return span


@st.composite
def otlp_json(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        return draw(json_values)
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [
                    {
                        "scope": {"name": "f"},
                        "spans": [otlp_span(draw) for _ in range(draw(st.integers(1, 3)))],
                    }
                ],
            }
        ]
    }


@FUZZ
@given(doc=otlp_json())
def test_fuzz_otlp_json(ledger: Ledger, doc: Any) -> None:
    ledger.check(ledger.client.post("/v1/traces", json=doc))


@FUZZ
@given(
    body=json_values | st.binary(max_size=200),
    tamper=st.sampled_from(["none", "key", "expires", "signature", "tenant"]),
)
def test_fuzz_signed_url_upload(ledger: Ledger, body: Any, tamper: str) -> None:
    event = span_events(new_trace_id(), new_span_id(), llm={"provider": "x"})[1]
    reply = ledger.client.post("/telemetry/log-event-and-get-signed-url", json=event)
    ledger.check(reply)
    url = httpx.URL(reply.json()["data"]["signed_url"])
    params = dict(url.params)
    if tamper == "key":
        url = url.copy_with(path=url.path + "x")
    elif tamper in params:
        params[tamper] = params[tamper][:-1] + ("0" if params[tamper][-1:] != "0" else "1")
    url = url.copy_with(params=params)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    upload = httpx.put(str(url), content=content, headers={"content-type": "application/json"})
    assert upload.status_code < 500, upload.text
    if tamper != "none":
        assert upload.status_code in (403, 404), upload.text
