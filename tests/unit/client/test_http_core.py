"""The I/O-free transport core: request building, envelope, error mapping, retries, spans.

``TransportCore.exchange`` is driven here step by step with scripted outcomes and a fake
clock, exactly as the sync and async drivers drive it with real sockets.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from moxtrace.errors import (
    ConflictError,
    MoxnConnectionError,
    MoxnError,
    MoxnTimeoutError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from moxtrace.http import (
    CLIENT_HEADER,
    IDEMPOTENCY_HEADER,
    SDK_HEADER,
    ApiRequest,
    RawResponse,
    RetryPolicy,
    Send,
    Sleep,
    TransportCore,
    parse_retry_after,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> RawResponse:
    body = orjson.dumps({"success": True, "data": data, "error": None})
    return RawResponse(status, headers or {}, body)


def fail(
    status: int,
    code: str,
    message: str = "nope",
    headers: dict[str, str] | None = None,
    details: Any = None,
) -> RawResponse:
    body = orjson.dumps(
        {
            "success": False,
            "data": None,
            "error": {"code": code, "message": message, "details": details},
        }
    )
    return RawResponse(status, headers or {}, body)


class Run:
    """Drives an exchange with scripted outcomes; records every step."""

    def __init__(self, core: TransportCore, clock: FakeClock, request: ApiRequest) -> None:
        self.core = core
        self.clock = clock
        self.request = request
        self.sends: list[Send] = []
        self.sleeps: list[float] = []

    def __call__(self, *outcomes: RawResponse | BaseException, took: float = 0.01) -> Any:
        script: Iterator[RawResponse | BaseException] = iter(outcomes)
        exchange = self.core.exchange(self.request)
        try:
            step = next(exchange)
            while True:
                if isinstance(step, Sleep):
                    self.sleeps.append(step.seconds)
                    self.clock.now += step.seconds
                    step = exchange.send(None)
                else:
                    self.sends.append(step)
                    self.clock.now += took
                    step = exchange.send(next(script))
        except StopIteration as done:
            return done.value


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_core(clock: FakeClock, spans: InMemorySpanExporter, **policy: Any) -> TransportCore:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return TransportCore(
        "http://127.0.0.1:8700/",
        "moxn_dev.secret",
        client_name="SyncMoxnClient",
        timeout=5.0,
        policy=RetryPolicy(**{"max_retries": 3, "deadline": 60.0, **policy}),
        tracer=provider.get_tracer("test"),
        clock=clock,
        rand=lambda: 1.0,
    )


GET = ApiRequest(
    "GET",
    "/prompts/{prompt_id}",
    {"prompt_id": "p 1/x"},
    {"branch_name": "main"},
    span_attributes={"moxn.api.operation": "get_prompt"},
)
POST = ApiRequest("POST", "/tasks", json={"name": "t"}, idempotency_key="key-1")
POST_NO_KEY = ApiRequest("POST", "/tasks", json={"name": "t"})


# -- request building -----------------------------------------------------------------------
def test_request_carries_url_headers_and_body(
    clock: FakeClock, spans: InMemorySpanExporter
) -> None:
    core = make_core(clock, spans)
    run = Run(core, clock, POST)
    assert run(ok({"id": 1}, status=201)) == {"id": 1}
    (send,) = run.sends
    assert send.method == "POST"
    assert send.url == "http://127.0.0.1:8700/tasks"
    assert send.headers["x-api-key"] == "moxn_dev.secret"
    assert send.headers[SDK_HEADER].startswith("moxtrace-python/")
    assert send.headers[CLIENT_HEADER].startswith("SyncMoxnClient; python/")
    assert send.headers[IDEMPOTENCY_HEADER] == "key-1"
    assert send.headers["content-type"] == "application/json"
    assert orjson.loads(send.content or b"") == {"name": "t"}
    # The span's W3C context goes along, so an instrumented server continues the trace.
    (span,) = spans.get_finished_spans()
    assert send.headers["traceparent"].split("-")[2] == format(span.context.span_id, "016x")


def test_path_parameters_are_escaped_and_query_encoded(
    clock: FakeClock, spans: InMemorySpanExporter
) -> None:
    run = Run(make_core(clock, spans), clock, GET)
    run(ok({}))
    assert run.sends[0].url == "http://127.0.0.1:8700/prompts/p%201%2Fx?branch_name=main"
    assert run.sends[0].content is None


def test_a_body_without_envelope_is_returned_as_is(
    clock: FakeClock, spans: InMemorySpanExporter
) -> None:
    run = Run(make_core(clock, spans), clock, GET)
    assert run(RawResponse(200, {}, b'{"id": "x"}')) == {"id": "x"}
    assert run(RawResponse(204, {}, b"")) is None


def test_a_2xx_that_says_success_false_is_an_error(
    clock: FakeClock, spans: InMemorySpanExporter
) -> None:
    run = Run(make_core(clock, spans), clock, GET)
    with pytest.raises(MoxnError, match="broken"):
        run(fail(200, "weird", "broken"))


# -- error mapping ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (404, "not_found", NotFoundError),
        (409, "head_moved", ConflictError),
        (422, "invalid_version_selector", ValidationError),
        (400, "invalid_payload", ValidationError),
    ],
)
def test_errors_map_from_the_envelope(
    clock: FakeClock, spans: InMemorySpanExporter, status: int, code: str, cls: type[MoxnError]
) -> None:
    run = Run(make_core(clock, spans), clock, GET)
    with pytest.raises(cls) as caught:
        run(fail(status, code, "details here", {"x-request-id": "req-7"}, details={"k": 1}))
    err = caught.value
    assert (err.status_code, err.code, err.request_id, err.details) == (
        status,
        code,
        "req-7",
        {"k": 1},
    )
    assert "details here" in err.message
    assert "/prompts/" in err.message
    assert len(run.sends) == 1  # 4xx other than 408/429 are final


def test_a_plain_fastapi_error_and_a_non_json_error_are_mapped(
    clock: FakeClock, spans: InMemorySpanExporter
) -> None:
    run = Run(make_core(clock, spans, max_retries=0), clock, GET)
    with pytest.raises(NotFoundError, match="Not Found"):
        run(RawResponse(404, {}, b'{"detail": "Not Found"}'))
    with pytest.raises(ServerError, match="Bad Gateway") as caught:
        run(RawResponse(502, {}, b"<html>Bad Gateway</html>"))
    assert caught.value.code == "server_error"


def test_401_says_how_to_fix_it(clock: FakeClock, spans: InMemorySpanExporter) -> None:
    run = Run(make_core(clock, spans), clock, GET)
    with pytest.raises(MoxnError, match="MOXN_API_KEY") as caught:
        run(fail(401, "unauthorized", "invalid API key"))
    assert caught.value.code == "unauthorized"


# -- retries ------------------------------------------------------------------------------------
def test_5xx_is_retried_with_exponential_backoff(
    clock: FakeClock, spans: InMemorySpanExporter
) -> None:
    run = Run(make_core(clock, spans, initial_backoff=0.5, max_backoff=8.0), clock, GET)
    assert run(fail(503, "unavailable"), fail(500, "internal"), fail(502, "bad"), ok(7)) == 7
    assert run.sleeps == [0.5, 1.0, 2.0]  # rand() == 1.0: the top of each jitter range
    (span,) = spans.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["http.request.resend_count"] == 3
    assert span.attributes["http.response.status_code"] == 200
    assert span.status.status_code is StatusCode.UNSET


def test_retries_stop_after_max_retries(clock: FakeClock, spans: InMemorySpanExporter) -> None:
    run = Run(make_core(clock, spans, max_retries=2), clock, GET)
    with pytest.raises(ServerError) as caught:
        run(*[fail(503, "unavailable")] * 5)
    assert len(run.sends) == 3
    assert caught.value.status_code == 503


def test_retry_after_seconds_is_honoured(clock: FakeClock, spans: InMemorySpanExporter) -> None:
    run = Run(make_core(clock, spans), clock, GET)
    assert run(fail(429, "rate_limited", headers={"retry-after": "3"}), ok("done")) == "done"
    assert run.sleeps == [3.0]


def test_retry_after_http_date_is_honoured(clock: FakeClock, spans: InMemorySpanExporter) -> None:
    # The fake monotonic clock does not drive wall time: a date 2 minutes ahead is ~120 s.
    later = datetime.now(timezone.utc).timestamp() + 120
    date = datetime.fromtimestamp(later, timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
    run = Run(make_core(clock, spans, deadline=600.0), clock, GET)
    run(fail(503, "unavailable", headers={"retry-after": date}), ok(1))
    assert 115 <= run.sleeps[0] <= 121


def test_retry_after_in_details_is_used_without_the_header(
    clock: FakeClock, spans: InMemorySpanExporter
) -> None:
    run = Run(make_core(clock, spans), clock, GET)
    run(fail(429, "rate_limited", details={"retry_after": 2}), ok(1))
    assert run.sleeps == [2.0]


def test_a_wait_past_the_deadline_is_not_started(
    clock: FakeClock, spans: InMemorySpanExporter
) -> None:
    run = Run(make_core(clock, spans, deadline=10.0), clock, GET)
    with pytest.raises(RateLimitError) as caught:
        run(fail(429, "rate_limited", headers={"retry-after": "30"}), ok(1))
    assert run.sleeps == []
    assert caught.value.retry_after == 30.0
    assert len(run.sends) == 1


def test_the_deadline_bounds_all_attempts(clock: FakeClock, spans: InMemorySpanExporter) -> None:
    run = Run(
        make_core(
            clock, spans, deadline=3.0, max_retries=100, initial_backoff=1.0, max_backoff=1.0
        ),
        clock,
        GET,
    )
    with pytest.raises(ServerError):
        run(*[fail(500, "internal")] * 100, took=0.5)
    # 1 s waits and 0.5 s attempts: no attempt starts after 3 s, none waits past it.
    assert clock.now - 1000.0 <= 3.0 + 0.5
    assert 2 <= len(run.sends) <= 3
    # Each attempt gets at most the time left.
    assert all(send.timeout <= 5.0 for send in run.sends)
    assert run.sends[-1].timeout < 3.0


def test_connection_errors_are_retried_then_raised(
    clock: FakeClock, spans: InMemorySpanExporter
) -> None:
    request = httpx.Request("GET", "http://127.0.0.1:8700/")
    refused = httpx.ConnectError("[Errno 111] Connection refused", request=request)
    run = Run(make_core(clock, spans, max_retries=2), clock, GET)
    with pytest.raises(MoxnConnectionError, match="Connection refused") as caught:
        run(refused, refused, refused)
    assert len(run.sends) == 3
    assert caught.value.status_code is None
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "MoxnConnectionError"


def test_a_timeout_maps_to_moxn_timeout_error(
    clock: FakeClock, spans: InMemorySpanExporter
) -> None:
    request = httpx.Request("GET", "http://127.0.0.1:8700/")
    run = Run(make_core(clock, spans, max_retries=0), clock, GET)
    with pytest.raises(MoxnTimeoutError):
        run(httpx.ReadTimeout("timed out", request=request))


def test_post_without_an_idempotency_key_is_never_retried(
    clock: FakeClock, spans: InMemorySpanExporter
) -> None:
    run = Run(make_core(clock, spans), clock, POST_NO_KEY)
    with pytest.raises(ServerError):
        run(fail(503, "unavailable"), ok(1))
    assert len(run.sends) == 1
    assert IDEMPOTENCY_HEADER not in run.sends[0].headers


def test_post_with_a_key_is_retried_with_the_same_key(
    clock: FakeClock, spans: InMemorySpanExporter
) -> None:
    run = Run(make_core(clock, spans), clock, POST)
    assert run(fail(503, "unavailable"), fail(429, "rate_limited"), ok("made", 201)) == "made"
    assert [s.headers[IDEMPOTENCY_HEADER] for s in run.sends] == ["key-1"] * 3
    assert len({s.content for s in run.sends}) == 1


# -- the policy alone ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-4", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
        ("Wed, 21 Oct 2015 07:26:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 27, tzinfo=timezone.utc)
    assert parse_retry_after(value, now=now) == expected


# -- spans ----------------------------------------------------------------------------------------
def test_every_call_is_one_client_span_with_http_attributes(
    clock: FakeClock, spans: InMemorySpanExporter
) -> None:
    run = Run(make_core(clock, spans), clock, GET)
    run(ok({}))
    with pytest.raises(NotFoundError):
        run(fail(404, "not_found"))
    first, second = spans.get_finished_spans()
    assert first.name == "GET /prompts/{prompt_id}"
    assert first.kind is SpanKind.CLIENT
    assert first.attributes is not None
    assert first.attributes["http.request.method"] == "GET"
    assert first.attributes["url.full"] == run.sends[0].url
    assert first.attributes["server.address"] == "127.0.0.1"
    assert first.attributes["server.port"] == 8700
    assert first.attributes["moxn.api.operation"] == "get_prompt"
    assert "http.request.resend_count" not in first.attributes
    assert second.status.status_code is StatusCode.ERROR
    assert second.attributes is not None
    assert second.attributes["error.type"] == "404"
    assert second.attributes["http.response.status_code"] == 404


def test_no_span_when_instrumentation_is_suppressed(
    clock: FakeClock, spans: InMemorySpanExporter
) -> None:
    run = Run(make_core(clock, spans), clock, GET)
    token = otel_context.attach(
        otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True)
    )
    try:
        assert run(ok(1)) == 1
    finally:
        otel_context.detach(token)
    assert spans.get_finished_spans() == ()
    assert "traceparent" not in run.sends[0].headers


def test_an_abandoned_call_ends_its_span(clock: FakeClock, spans: InMemorySpanExporter) -> None:
    core = make_core(clock, spans)
    exchange = core.exchange(GET)
    next(exchange)
    exchange.close()  # what a driver does when the caller is cancelled mid-request
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "cancelled"


def test_debug_logging_never_shows_the_key(
    clock: FakeClock, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    core = make_core(clock, spans)
    core.debug = True
    with caplog.at_level("DEBUG", logger="moxtrace.http"):
        Run(core, clock, POST)(ok({"id": 1}))
    text = caplog.text
    assert "-> POST http://127.0.0.1:8700/tasks" in text
    assert "<- POST http://127.0.0.1:8700/tasks 200" in text
    assert "moxn_dev.secret" not in text
