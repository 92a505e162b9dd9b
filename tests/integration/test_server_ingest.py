"""Ingest into a real ``moxtrace serve`` (SQLite and PostgreSQL): the Moxn wire format.

Single events, batches, the signed-URL content round trip, idempotency, all-or-nothing
batches, authentication and tenant isolation, read back through ``GET /traces/{id}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.server import MoxtraceServer, new_span_id, new_trace_id, span_events

pytestmark = pytest.mark.integration

LLM = {
    "provider": "anthropic",
    "operation": "chat",
    "request_model": "claude-sonnet-4",
    "response_model": "claude-sonnet-4-20250514",
    "response_id": "msg_01",
    "finish_reasons": ["stop"],
    # GenAI conventions: input_tokens includes the cached input (cache_read_input_tokens).
    "usage": {"input_tokens": 120, "output_tokens": 14, "cache_read_input_tokens": 100},
    "tool_call_count": 0,
}
CONTENT = {
    "input_messages": [{"role": "user", "parts": [{"type": "text", "content": "Where is it?"}]}],
    "output_messages": [{"role": "assistant", "parts": [{"type": "text", "content": "Here."}]}],
}


@pytest.fixture
def server(shared_moxtrace_server: MoxtraceServer) -> MoxtraceServer:
    return shared_moxtrace_server


@pytest.fixture
def client(server: MoxtraceServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def get_trace(client: httpx.Client, trace_id: str) -> dict[str, Any]:
    reply = client.get(f"/traces/{trace_id}")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["success"] is True and body["error"] is None
    data: dict[str, Any] = body["data"]
    return data


def spans_by_name(trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {span["name"]: span for span in trace["spans"]}


def test_one_event_is_stored_and_acknowledged(client: httpx.Client) -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    start = span_events(trace_id, span_id, name="lonely")[0]

    reply = client.post("/telemetry/log-event", json=start)

    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "success": True,
        "data": {"accepted": 1, "duplicates": 0},
        "error": None,
    }
    trace = get_trace(client, trace_id)
    (span,) = trace["spans"]
    assert span["span_id"] == span_id
    assert span["name"] == "lonely"
    assert span["end_time"] is None  # only the start has arrived
    assert span["service_name"] == "test-service"


def test_batch_builds_the_span_tree_with_llm_call_and_metadata(client: httpx.Client) -> None:
    trace_id, root_id, child_id = new_trace_id(), new_span_id(), new_span_id()
    prompt_id = "7a3c7a8e-1f64-4c5e-8d0f-3f0c2c1f9b11"
    events = span_events(
        trace_id,
        root_id,
        name="handle_request",
        duration=1.5,
        metadata={"customer_id": "cust_1"},
        attributes={"http.route": "/chat"},
    ) + span_events(
        trace_id,
        child_id,
        parent_span_id=root_id,
        name="chat",
        start=1_700_000_000.5,
        duration=0.75,
        prompt_id=prompt_id,
        llm=LLM,
        content=CONTENT,
    )

    reply = client.post("/telemetry/log-events", json={"events": events})

    assert reply.status_code == 200, reply.text
    assert reply.json()["data"] == {"accepted": len(events), "duplicates": 0}
    trace = get_trace(client, trace_id)
    assert trace["span_count"] == 2
    assert trace["roots"] == [root_id]
    assert trace["root_name"] == "handle_request"
    spans = spans_by_name(trace)
    root, chat = spans["handle_request"], spans["chat"]
    assert root["children"] == [child_id]
    assert chat["parent_span_id"] == root_id and chat["depth"] == 1
    assert root["metadata"] == {"customer_id": "cust_1"}
    assert root["attributes"] == {"http.route": "/chat"}
    assert root["resource"] == {"service.name": "test-service"}
    assert root["duration_ms"] == pytest.approx(1500.0)
    assert root["status"] == {"code": "OK", "message": None}
    assert chat["prompt_id"] == prompt_id
    (call,) = chat["llm_calls"]
    assert call["provider"] == "anthropic"
    assert call["response_model"] == "claude-sonnet-4-20250514"
    assert call["usage"]["input_tokens"] == 120
    assert call["usage"]["output_tokens"] == 14
    assert call["usage"]["cache_read_input_tokens"] == 100
    assert call["content"] == CONTENT
    assert trace["usage"] == {"input_tokens": 120, "output_tokens": 14}


def test_errors_are_recorded_with_their_message(client: httpx.Client) -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    events = span_events(trace_id, span_id, name="boom", status="ERROR", status_message="timeout")

    assert client.post("/telemetry/log-events", json={"events": events}).status_code == 200

    trace = get_trace(client, trace_id)
    assert trace["error_count"] == 1
    assert trace["spans"][0]["status"] == {"code": "ERROR", "message": "timeout"}


def test_a_repeated_batch_is_stored_once(client: httpx.Client) -> None:
    trace_id = new_trace_id()
    events = span_events(trace_id, new_span_id(), llm=LLM) + span_events(trace_id, new_span_id())
    first = client.post("/telemetry/log-events", json={"events": events})
    before = client.get("/stats").json()["data"]["stored"]

    again = client.post(
        "/telemetry/log-events",
        json={"events": events},
        headers={"X-Moxn-Idempotency-Key": "batch-1"},
    )

    assert first.json()["data"] == {"accepted": 5, "duplicates": 0}
    assert again.status_code == 200
    assert again.json()["data"] == {"accepted": 0, "duplicates": 5}
    assert client.get("/stats").json()["data"]["stored"] == before
    trace = get_trace(client, trace_id)
    assert trace["span_count"] == 2
    assert trace["llm_call_count"] == 1


def test_repeats_inside_one_batch_count_as_duplicates(client: httpx.Client) -> None:
    events = span_events(new_trace_id(), new_span_id())

    reply = client.post("/telemetry/log-events", json={"events": events + events[:1]})

    assert reply.json()["data"] == {"accepted": 2, "duplicates": 1}


def test_one_invalid_event_rejects_the_whole_batch(client: httpx.Client) -> None:
    trace_id = new_trace_id()
    events = span_events(trace_id, new_span_id()) + span_events(trace_id, new_span_id())
    events[3]["span_id"] = "not-a-span-id"
    before = client.get("/stats").json()["data"]["stored"]

    reply = client.post("/telemetry/log-events", json={"events": events})

    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "invalid_payload"
    assert error["message"].startswith("events[3].span_id:")
    assert client.get(f"/traces/{trace_id}").status_code == 404
    assert client.get("/stats").json()["data"]["stored"] == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body: malformed JSON"),
        (b'{"events": {}}', "events:"),
        (b'{"events": [{"event_type": "span_start"}]}', "events[0].trace_id:"),
        (
            b'{"events": [{"event_type": "nope", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",'
            b' "span_id": "00f067aa0ba902b7"}]}',
            "events[0].event_type:",
        ),
        (b"[]", "body:"),
    ],
)
def test_malformed_payloads_are_400_naming_the_field(
    client: httpx.Client, body: bytes, field: str
) -> None:
    reply = client.post(
        "/telemetry/log-events", content=body, headers={"content-type": "application/json"}
    )

    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["message"].startswith(field), reply.json()


def test_unknown_fields_are_tolerated_and_kept(client: httpx.Client) -> None:
    trace_id = new_trace_id()
    start, end = span_events(trace_id, new_span_id())
    start["from_the_future"] = {"x": 1}
    start["system_metadata"]["new_thing"] = True

    reply = client.post("/telemetry/log-events", json={"events": [start, end], "extra": 1})

    assert reply.status_code == 200, reply.text
    assert reply.json()["data"]["accepted"] == 2


def test_signed_url_content_round_trip(client: httpx.Client, server: MoxtraceServer) -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    start, llm, end = span_events(trace_id, span_id, name="big", llm=LLM)
    big = {
        "input_messages": [{"role": "user", "parts": [{"type": "text", "content": "x" * 20_000}]}]
    }
    client.post("/telemetry/log-events", json={"events": [start, end]})

    reply = client.post("/telemetry/log-event-and-get-signed-url", json=llm)

    assert reply.status_code == 200, reply.text
    data = reply.json()["data"]
    assert data["accepted"] == 1
    assert data["signed_url"].startswith(server.base_url)
    assert data["content_storage_key"]
    assert data["expires_at"].endswith("Z")
    pending = spans_by_name(get_trace(client, trace_id))["big"]["llm_calls"][0]
    assert pending["content"] is None and pending["content_pending"] is True

    upload = httpx.put(data["signed_url"], json=big)  # no API key: the URL authorises itself

    assert upload.status_code == 200, upload.text
    assert upload.json()["data"]["stored"] is True
    call = spans_by_name(get_trace(client, trace_id))["big"]["llm_calls"][0]
    assert call["content"] == big
    assert call["content_pending"] is False


def test_a_tampered_signed_url_is_refused(client: httpx.Client) -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    llm = span_events(trace_id, span_id, llm=LLM)[1]
    url = client.post("/telemetry/log-event-and-get-signed-url", json=llm).json()["data"][
        "signed_url"
    ]

    forged = url.replace("tenant=dev", "tenant=other")
    expired = url.replace("expires=", "expires=1")  # a different expiry breaks the signature

    for bad in (forged, expired, url.split("?")[0]):
        reply = httpx.put(bad, json={"x": 1})
        assert reply.status_code == 403, reply.text
        assert reply.json()["error"]["code"] == "forbidden"


def test_every_route_but_health_needs_a_key(server: MoxtraceServer) -> None:
    trace_id = new_trace_id()
    event = span_events(trace_id, new_span_id())[0]
    with httpx.Client(base_url=server.base_url) as anonymous:
        assert anonymous.get("/health").status_code == 200
        assert anonymous.get("/ready").status_code == 200
        for method, path, body in [
            ("POST", "/telemetry/log-event", event),
            ("POST", "/telemetry/log-events", {"events": [event]}),
            ("POST", "/telemetry/log-event-and-get-signed-url", event),
            ("GET", "/traces", None),
            ("GET", f"/traces/{trace_id}", None),
            ("GET", "/stats", None),
        ]:
            for headers in ({}, {"x-api-key": "moxn_dev.wrongwrongwrongwrong"}, {"x-api-key": "x"}):
                reply = anonymous.request(method, path, json=body, headers=headers)
                assert reply.status_code == 401, (method, path, reply.text)
                assert reply.json()["error"]["code"] == "unauthorized"


def test_a_tenant_never_sees_another_tenants_data(
    client: httpx.Client, server: MoxtraceServer
) -> None:
    trace_id = new_trace_id()
    client.post("/telemetry/log-events", json={"events": span_events(trace_id, new_span_id())})
    other_key = server.create_key("other-tenant")

    with server.client(other_key) as other:
        assert other.get(f"/traces/{trace_id}").status_code == 404
        assert other.get(f"/traces/{trace_id}").json()["error"]["code"] == "not_found"
        assert trace_id not in {
            t["trace_id"] for t in other.get("/traces").json()["data"]["traces"]
        }
        # The other tenant's own copy of the same ids is its own data.
        events = span_events(trace_id, new_span_id(), name="theirs")
        assert other.post("/telemetry/log-events", json={"events": events}).status_code == 200
        assert [s["name"] for s in get_trace(other, trace_id)["spans"]] == ["theirs"]
        assert other.get("/stats").json()["data"]["tenant"] == "other-tenant"
    assert "theirs" not in spans_by_name(get_trace(client, trace_id))


def test_bearer_token_is_accepted_too(server: MoxtraceServer) -> None:
    with httpx.Client(base_url=server.base_url) as c:
        reply = c.get("/traces", headers={"Authorization": f"Bearer {server.api_key}"})
    assert reply.status_code == 200
