"""The msgspec decoder against the pydantic path: what it takes, it stores the same.

``decode_events`` may decline any body (``payloads`` then parses it), but what it takes
must give exactly the rows ``validate_batch`` gives, and it must take what the SDKs send.
"""

from __future__ import annotations

import inspect
import json
import random
import re
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from moxtrace.exporters.events import span_to_wire
from moxtrace.server import assemble
from moxtrace.server.assemble import Event, WireEvent, batch_rows
from moxtrace.server.decode import decode_events
from moxtrace.server.errors import ApiError
from moxtrace.server.payloads import parse_events, validate_batch
from moxtrace.tracing import semconv
from tests.support.fuzz import batch_body, json_values
from tests.support.server import new_span_id, new_trace_id, span_events

METADATA_KEYS = re.findall(r'meta\.get\("([a-z_]+)"\)', inspect.getsource(assemble))
"""The system_metadata keys assembly reads."""
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def rows_of(events: list[Event] | list[WireEvent]) -> dict[str, Any]:
    """Everything the store would be given, bodies parsed (their key order may differ)."""
    stored, derived = batch_rows("acme", events, 7, tail=True)
    return {
        "events": [(*row[:9], orjson.loads(row[9]), *row[10:]) for row in stored.rows],
        "repeats": stored.repeats,
        "traces": stored.traces,
        "spans": derived.spans,
        "llm_calls": derived.llm_calls,
        "metadata": derived.metadata,
        "tail": derived.tail,
    }


def agree(body: bytes) -> bool:
    """Assert the decoder declines ``body`` or stores what validation stores; True if it
    took it."""
    fast = decode_events(body)
    try:
        slow = validate_batch(body)
    except ApiError:
        slow = None
    if slow is None or fast is None:
        assert slow is not None or fast is None, "decoded a body validation refuses"
        return False
    assert outcome(fast) == outcome(slow)
    return True


def outcome(events: list[Event] | list[WireEvent]) -> dict[str, Any] | str:
    """``rows_of``, or the ``ValueError`` ingest turns into a 400 (a value that cannot be
    stored, such as an integer JSON allows and 64 bits do not)."""
    try:
        return rows_of(events)
    except ValueError as error:
        return f"400: {error}"


def sdk_events() -> list[dict[str, Any]]:
    """The events of real spans as MoxnSpanExporter sends them: a root with an LLM call,
    content and metadata, an error child, a plain child."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("chat claude", attributes={"a": 1, "b": "x"}) as root:
        root.set_attributes(
            {
                semconv.GEN_AI_OPERATION_NAME: "chat",
                semconv.GEN_AI_PROVIDER_NAME: "anthropic",
                semconv.GEN_AI_REQUEST_MODEL: "claude-sonnet-4",
                semconv.GEN_AI_USAGE_INPUT_TOKENS: 12,
                semconv.GEN_AI_INPUT_MESSAGES: '[{"role": "user", "parts": []}]',
                semconv.MOXN_PROMPT_ID: "7a3c7a8e-1f64-4c5e-8d0f-3f0c2c1f9b11",
                semconv.MOXN_BRANCH_ID: "26c55f92-d793-416c-af8e-321550aac9e2",
                f"{semconv.MOXN_METADATA_PREFIX}customer": "cust_1 \u00e9\u4e2d",
            }
        )
        with tracer.start_as_current_span("tool") as child:
            child.set_status(Status(StatusCode.ERROR, "boom \x00 \U0001f600"))
        with tracer.start_as_current_span("plain"):
            pass
    provider.shutdown()
    return [event for span in memory.get_finished_spans() for event in span_to_wire(span)]


def test_it_takes_what_the_sdk_sends_and_stores_the_same() -> None:
    events = sdk_events()
    for encode in (orjson.dumps, lambda doc: json.dumps(doc).encode()):
        body = encode({"events": events})
        assert decode_events(body) is not None
        assert agree(body)
    # parse_events goes through the decoder for it.
    assert all(isinstance(e, Event) for e in parse_events(orjson.dumps({"events": events})))


def test_it_takes_the_test_suites_events() -> None:
    trace_id = new_trace_id()
    events = span_events(trace_id, new_span_id(), llm={"provider": "x"}, content={"k": [1]})
    events += span_events(trace_id, new_span_id(), status="ERROR", metadata={"tier": 2})
    assert agree(orjson.dumps({"events": events}))


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"trace_id": "4BF92F3577B34DA6A3CE929D0E0E4736"}, "upper-case id (pydantic lowers it)"),
        ({"span_id": "0" * 16}, "all-zero id"),
        ({"trace_id": "4bf92f3577b34da6a3ce929d0e0e473\n"}, "a newline re's $ would let by"),
        ({"id": "7A3C7A8E-1F64-4C5E-8D0F-3F0C2C1F9B11"}, "upper-case UUID"),
        ({"id": "7a3c7a8e1f644c5e8d0f3f0c2c1f9b11"}, "UUID without hyphens"),
        ({"prompt_id": "7a3c7a8e-1f64-4c5e-8d0f-3f0c2c1f9b1-"}, "a hyphen for a digit"),
        ({"timestamp": "2025-01-01 00:00:00Z"}, "a space for the T"),
        ({"timestamp": 1_700_000_000}, "a number of seconds"),
        ({"timestamp": "2025-01-01T00:00:00"}, "no UTC offset"),
        ({"sequence_number": 1.0}, "a float for an int"),
        ({"sequence_number": "1"}, "a string for an int"),
        ({"content_stored": 1}, "an int for a bool"),
        ({"system_metadata": None}, "null metadata"),
        ({"unknown": 1}, "an unknown field"),
    ],
)
def test_it_declines_what_it_cannot_store_the_same(change: dict[str, Any], why: str) -> None:
    (event, *_) = span_events(new_trace_id(), new_span_id())
    body = orjson.dumps({"events": [{**event, **change}]})
    assert decode_events(body) is None, why
    agree(body)


def test_invalid_utf8_bad_escapes_and_deep_nesting_are_declined() -> None:
    (event, *_) = span_events(new_trace_id(), new_span_id())
    good = orjson.dumps({"events": [{**event, "content": "XX"}]})
    assert decode_events(good) is not None
    for bad in (b"\xff\xfe", b"\\ud800", b"\\q"):
        assert decode_events(good.replace(b"XX", bad)) is None
    # Deeper than orjson encodes again, though some msgspec builds decode far deeper.
    for depth in (300, 1100):
        deep = good.replace(b'"XX"', b"[" * depth + b"]" * depth)
        assert decode_events(deep) is None
        agree(deep)
    assert agree(good.replace(b'"XX"', b"[" * 150 + b"]" * 150))


def test_repeated_keys_keep_the_last_as_orjson_does() -> None:
    (event, *_) = span_events(new_trace_id(), new_span_id(), name="first")
    body = orjson.dumps({"events": [event]})
    body = body.replace(b'"span_name":"first"', b'"span_name":"first","span_name":"last"')
    assert agree(body)
    (decoded,) = decode_events(body) or []
    assert decoded.system_metadata.get("span_name") == "last"


def test_integers_past_64_bits_are_read_as_validation_reads_them() -> None:
    # orjson reads them as floats, msgspec as ints: the decoder's metadata must be orjson's.
    (event, *_) = span_events(new_trace_id(), new_span_id())
    for big in (2**64, -(2**63) - 1, 2**70):
        changed = {
            **event,
            "user_metadata": {"n": big},
            "system_metadata": {"span_name": big, "finish_reasons": [big]},
        }
        assert agree(json.dumps({"events": [changed]}).encode())


@SETTINGS
@given(doc=batch_body())
@example(doc={"events": []})
def test_fuzzed_batches_agree(doc: Any) -> None:
    agree(json.dumps(doc).encode())
    agree(json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass"))


@SETTINGS
@given(
    name=st.sampled_from(
        ["system_metadata", "user_metadata", "content", "commit_id", "content_storage_key"]
    ),
    value=json_values,
    seed=st.integers(0, 2**32),
)
def test_fuzzed_values_of_one_field_agree(name: str, value: Any, seed: int) -> None:
    rng = random.Random(seed)
    events = span_events(
        new_trace_id(), new_span_id(), llm={"provider": "p", "usage": {"input_tokens": 1}}
    )
    target = rng.choice(events)
    target[name] = value
    if isinstance(value, dict) and name == "system_metadata":
        value.setdefault(rng.choice(METADATA_KEYS), rng.choice([1, "x", None, [], {}]))
    agree(json.dumps({"events": events}, ensure_ascii=False).encode("utf-8", "surrogatepass"))
