"""MoxnTraceCarrier: round trips through JSON, HTTP and Kafka headers, and bad input."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from moxtrace.types import MoxnTraceCarrier
from moxtrace.types.carrier import decode_identity, encode_identity, split_tracestate

TRACEPARENT = "00-" + "4bf92f3577b34da6a3ce929d0e0e4736" + "-" + "00f067aa0ba902b7" + "-01"
IDENTITY = {
    "prompt_id": "3f1c2a9e-0000-4000-8000-000000000001",
    "prompt_name": "support, answer = v2",
    "task_id": "3f1c2a9e-0000-4000-8000-000000000002",
    "branch_id": "3f1c2a9e-0000-4000-8000-000000000003",
    "branch_name": "main",
    "session_id": "3f1c2a9e-0000-4000-8000-000000000004",
}


def full_carrier() -> MoxnTraceCarrier:
    return MoxnTraceCarrier(
        traceparent=TRACEPARENT, tracestate="vendor=abc,other=1", baggage="user=alice", **IDENTITY
    )


def test_json_round_trip() -> None:
    carrier = full_carrier()
    dumped = carrier.model_dump(mode="json")
    assert "problems" not in dumped
    assert MoxnTraceCarrier.model_validate(dumped) == carrier
    assert carrier.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert carrier.span_id == "00f067aa0ba902b7"


def test_http_headers_round_trip_and_tracestate_is_valid_w3c() -> None:
    carrier = full_carrier()
    headers = carrier.to_headers()
    assert headers["traceparent"] == TRACEPARENT
    assert headers["tracestate"].startswith("moxn=")
    moxn_entry = headers["tracestate"].split(",")[0]
    # No commas or '=' inside the value, at most 256 characters.
    value = moxn_entry.removeprefix("moxn=")
    assert "," not in value
    assert "=" not in value
    assert len(value) <= 256
    assert headers["tracestate"].endswith("vendor=abc,other=1")
    upper = {k.upper(): v for k, v in headers.items()}
    assert MoxnTraceCarrier.from_headers(upper) == carrier


def test_kafka_headers_round_trip_keeps_other_headers_out() -> None:
    carrier = full_carrier()
    headers = [("app-header", b"x"), *carrier.to_kafka_headers()]
    assert all(isinstance(k, str) and isinstance(v, bytes) for k, v in headers)
    assert MoxnTraceCarrier.from_kafka_headers(headers) == carrier


def test_otel_propagator_extracts_what_moxtrace_injects_and_back() -> None:
    carrier = full_carrier()
    ctx = TraceContextTextMapPropagator().extract(carrier.to_headers())
    span_context = trace.get_current_span(ctx).get_span_context()
    assert format(span_context.trace_id, "032x") == carrier.trace_id
    assert format(span_context.span_id, "016x") == carrier.span_id
    assert span_context.is_remote
    headers: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(headers, ctx)
    back = MoxnTraceCarrier.from_headers(headers)
    assert back.trace_id == carrier.trace_id
    assert back.span_id == carrier.span_id
    # The identity survived the round trip inside tracestate.
    assert back.prompt_id == IDENTITY["prompt_id"]
    assert back.prompt_name == IDENTITY["prompt_name"]


def test_identity_encoding_stays_within_the_w3c_limit() -> None:
    long = {k: "x" * 200 for k in ("prompt_id", "task_id", "prompt_name")}
    value = encode_identity(long)
    assert value is not None
    assert len(value) <= 256
    assert decode_identity(value) == {"prompt_id": "x" * 200}  # lower priority fields left out


def test_split_tracestate_drops_invalid_members() -> None:
    moxn, others = split_tracestate("moxn=p:1, bad key=1,ok=2,=x,novalue,x=a,b")
    assert moxn == "p:1"
    assert others == "ok=2,x=a"


def test_bad_fields_are_dropped_and_described() -> None:
    carrier = MoxnTraceCarrier.model_validate(
        {"traceparent": 42, "prompt_id": "x" * 10_000, "baggage": b"\xff", "task_id": "t"}
    )
    assert carrier.traceparent is None
    assert carrier.prompt_id is None
    assert carrier.task_id == "t"
    assert not carrier.valid
    assert any("traceparent" in p for p in carrier.problems)
    assert any("prompt_id" in p and "limit" in p for p in carrier.problems)
    assert any("baggage" in p for p in carrier.problems)


def test_invalid_traceparents_are_not_valid() -> None:
    for bad in [
        "",
        "garbage",
        "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        TRACEPARENT + "-extra",
        TRACEPARENT.upper(),
    ]:
        carrier = MoxnTraceCarrier(traceparent=bad)
        assert not carrier.valid, bad
        assert carrier.trace_id is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=10,
)
carrier_keys = st.sampled_from(
    [
        "traceparent",
        "tracestate",
        "baggage",
        "prompt_id",
        "task_id",
        "commit_id",
        "branch_id",
        "prompt_name",
        "branch_name",
        "session_id",
        "problems",
        "other",
    ]
)


@given(st.dictionaries(carrier_keys, json_values | st.text(min_size=0, max_size=20_000)))
def test_garbage_mappings_never_raise(data: dict[str, Any]) -> None:
    carrier = MoxnTraceCarrier.model_validate(data)
    carrier.to_headers()
    carrier.to_kafka_headers()
    MoxnTraceCarrier.from_headers(carrier.to_headers())


@given(json_values)
def test_garbage_of_any_shape_never_raises(data: Any) -> None:
    carrier = MoxnTraceCarrier.model_validate(data)
    assert not carrier.valid or isinstance(data, dict)
    MoxnTraceCarrier.from_headers(data)
    MoxnTraceCarrier.from_kafka_headers(data if isinstance(data, list) else None)
