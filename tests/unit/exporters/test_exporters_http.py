"""``IngestClient``: routes, headers, gzip, the batch fallback, signed URLs, replies."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from opentelemetry.instrumentation.utils import (
    is_http_instrumentation_enabled,
    is_instrumentation_enabled,
)

from moxtrace.exporters._batch import EventBatch, Outcome
from moxtrace.exporters._errors import (
    PayloadTooLarge,
    PermanentError,
    RetriableError,
    RouteMissing,
)
from moxtrace.exporters._http import IngestClient
from moxtrace.exporters.events import span_to_wire
from tests.unit.exporters.factories import batch_of, readable_span

Handler = Callable[[httpx.Request], httpx.Response]


def ok(data: Any = None) -> httpx.Response:
    return httpx.Response(
        200, json={"success": True, "data": data or {"accepted": 1}, "error": None}
    )


def error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        json={"success": False, "data": None, "error": {"code": code, "message": "no"}},
        headers=headers,
    )


class Recorder:
    """An httpx transport answering with ``handler`` and keeping every request."""

    def __init__(self, handler: Handler = lambda r: ok()) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.suppressed: list[bool] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        # What every OpenTelemetry HTTP instrumentation (httpx's included) checks first.
        self.suppressed.append(
            not is_instrumentation_enabled() and not is_http_instrumentation_enabled()
        )
        return self.handler(request)

    def client(self, **kwargs: Any) -> IngestClient:
        return IngestClient(
            "http://moxn.test/", "moxn_acme.secret", transport=httpx.MockTransport(self), **kwargs
        )


def body_of(request: httpx.Request) -> Any:
    raw = request.content
    if request.headers.get("content-encoding") == "gzip":
        raw = gzip.decompress(raw)
    return json.loads(raw)


FAR = float("inf")


def test_batch_goes_in_one_gzipped_request_with_key_and_idempotency_key() -> None:
    rec = Recorder()
    batch = batch_of(3, key="batch-1")
    assert rec.client().send(batch, FAR) == Outcome(exported=3)

    (request,) = rec.requests
    assert request.method == "POST"
    assert str(request.url) == "http://moxn.test/telemetry/log-events"
    assert request.headers["x-api-key"] == "moxn_acme.secret"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["x-moxn-idempotency-key"] == "batch-1"
    assert request.headers["user-agent"].startswith("moxtrace/")
    assert body_of(request) == {"events": list(batch.events)}
    assert rec.suppressed == [True]


def test_the_exporters_own_requests_are_not_traced_even_from_a_plain_thread() -> None:
    rec = Recorder()
    client = rec.client()
    # Outside the batch processor's worker (which suppresses too): e.g. the replay thread.
    assert is_http_instrumentation_enabled()
    client.send(batch_of(1), FAR)
    assert rec.suppressed == [True]
    assert is_http_instrumentation_enabled()  # the caller's context is left as it was


def test_uncompressed_when_told() -> None:
    rec = Recorder()
    rec.client(compress=False).send(batch_of(1), FAR)
    (request,) = rec.requests
    assert "content-encoding" not in request.headers
    assert json.loads(request.content)["events"][0]["event_type"] == "span_start"


def test_without_batch_route_each_event_goes_alone_and_that_is_remembered() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/telemetry/log-events":
            return error(404, "not_found")
        return ok()

    rec = Recorder(handler)
    client = rec.client()
    batch = batch_of(2, key="b")
    client.send(batch, FAR)

    paths = [r.url.path for r in rec.requests]
    assert paths == ["/telemetry/log-events"] + ["/telemetry/log-event"] * 6
    assert [body_of(r) for r in rec.requests[1:]] == list(batch.events)
    keys = [r.headers["x-moxn-idempotency-key"] for r in rec.requests[1:]]
    assert keys == [f"b.e{i}" for i in range(6)]
    assert client.batch_route is False

    rec.requests.clear()
    client.send(batch_of(1), FAR)
    assert [r.url.path for r in rec.requests] == ["/telemetry/log-event"] * 3


def test_405_also_means_no_batch_route() -> None:
    rec = Recorder(lambda r: httpx.Response(405) if r.url.path.endswith("events") else ok())
    rec.client().send(batch_of(1), FAR)
    assert rec.requests[-1].url.path == "/telemetry/log-event"


def test_404_after_the_batch_route_worked_is_an_error() -> None:
    answers = [ok(), error(404, "not_found")]
    rec = Recorder(lambda r: answers.pop(0))
    client = rec.client()
    client.send(batch_of(1), FAR)
    with pytest.raises(RouteMissing):
        client.send(batch_of(1), FAR)


def test_large_content_goes_through_the_signed_url() -> None:
    big = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "x" * 12_000}]}])
    small = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}])
    events = span_to_wire(readable_span(0, content=big)) + span_to_wire(
        readable_span(1, content=small)
    )
    batch = EventBatch.of(events, "k")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/telemetry/log-event-and-get-signed-url":
            return ok(
                {
                    "accepted": 1,
                    "duplicates": 0,
                    "signed_url": "http://blobs.test/telemetry/content/abc?signature=s",
                    "content_storage_key": "abc",
                    "expires_at": "2030-01-01T00:00:00Z",
                }
            )
        return ok()

    rec = Recorder(handler)
    rec.client().send(batch, FAR)

    inline, signed, put = rec.requests
    inline_events = body_of(inline)["events"]
    assert len(inline_events) == 5  # everything but the big llm_call
    assert all(
        e["event_type"] != "llm_call" or e["span_id"] == events[3]["span_id"] for e in inline_events
    )
    assert inline_events[3]["content"] == {"input_messages": json.loads(small)}

    assert signed.url.path == "/telemetry/log-event-and-get-signed-url"
    posted = body_of(signed)
    assert posted["event_type"] == "llm_call"
    assert posted["span_id"] == events[1]["span_id"]
    assert posted["content"] is None
    assert signed.headers["x-moxn-idempotency-key"] == "k.c0"

    assert put.method == "PUT"
    assert str(put.url) == "http://blobs.test/telemetry/content/abc?signature=s"
    assert json.loads(put.content) == {"input_messages": json.loads(big)}
    assert "x-api-key" not in put.headers  # the signature authorises; the key stays home
    assert rec.suppressed == [True, True, True]


def test_a_relative_signed_url_is_joined_to_the_base_url() -> None:
    big = json.dumps(["y" * 11_000])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("signed-url"):
            return ok({"signed_url": "/telemetry/content/k1?sig=1"})
        return ok()

    rec = Recorder(handler)
    rec.client().send(EventBatch.of(span_to_wire(readable_span(0, content=big)), "k"), FAR)
    assert str(rec.requests[-1].url) == "http://moxn.test/telemetry/content/k1?sig=1"


def test_signed_url_reply_without_url_is_an_error() -> None:
    big = json.dumps(["y" * 11_000])
    rec = Recorder(lambda r: ok({"accepted": 1}))
    with pytest.raises(PermanentError, match="signed_url"):
        rec.client().send(EventBatch.of(span_to_wire(readable_span(0, content=big)), "k"), FAR)


@pytest.mark.parametrize(
    ("response", "error_type", "retry_after"),
    [
        (error(413, "payload_too_large"), PayloadTooLarge, None),
        (error(429, "rate_limited", {"Retry-After": "2"}), RetriableError, 2.0),
        (error(503, "unavailable", {"Retry-After": "1"}), RetriableError, 1.0),
        (httpx.Response(500, text="boom"), RetriableError, None),
        (httpx.Response(408), RetriableError, None),
        (error(400, "invalid_payload"), PermanentError, None),
        (error(401, "unauthorized"), PermanentError, None),
        (
            httpx.Response(200, json={"success": False, "error": {"code": "x"}}),
            PermanentError,
            None,
        ),
    ],
)
def test_replies_map_to_errors(
    response: httpx.Response, error_type: type[Exception], retry_after: float | None
) -> None:
    rec = Recorder(lambda r: response)
    with pytest.raises(error_type) as info:
        rec.client().send(batch_of(1), FAR)
    assert getattr(info.value, "retry_after", None) == retry_after
    assert info.value.status_code == response.status_code  # type: ignore[attr-defined]


def test_unauthorized_says_what_to_check() -> None:
    rec = Recorder(lambda r: error(401, "unauthorized"))
    with pytest.raises(PermanentError, match="MOXN_API_KEY"):
        rec.client().send(batch_of(1), FAR)


def test_connection_errors_are_retriable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(RetriableError, match="ConnectError"):
        Recorder(refuse).client().send(batch_of(1), FAR)


def test_read_timeouts_are_retriable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(RetriableError):
        Recorder(slow).client().send(batch_of(1), FAR)


def test_a_passed_deadline_sends_nothing() -> None:
    rec = Recorder()
    with pytest.raises(RetriableError, match="deadline"):
        rec.client().send(batch_of(1), time.monotonic() - 1)
    assert rec.requests == []


def test_a_request_started_before_the_deadline_gets_its_whole_timeout() -> None:
    # Cut short, a request the server went on to store would be counted as dropped.
    rec = Recorder()
    rec.client(timeout=7.0).send(batch_of(1), time.monotonic() + 0.5)
    assert rec.requests[0].extensions["timeout"]["read"] == 7.0


def test_non_json_success_is_accepted() -> None:
    rec = Recorder(lambda r: httpx.Response(204))
    assert rec.client().send(batch_of(2), FAR) == Outcome(exported=2)
