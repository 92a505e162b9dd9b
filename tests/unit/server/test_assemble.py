"""From events to rows: events, spans, LLM calls, traces, metadata (no I/O)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from moxtrace.server.assemble import (
    EVENT_COLUMNS,
    LLM_COLUMNS,
    SPAN_COLUMNS,
    TRACE_COLUMNS,
    batch_rows,
    derive,
    event_rows,
    from_wire,
    restore_event,
    stored_body,
    trace_rows,
)
from moxtrace.server.payloads import validate_events
from moxtrace.types.telemetry import TelemetryLogRequest

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT = "00f067aa0ba902b7"
CHILD = "53995c3f42cd8ad8"
T0 = "2025-01-01T00:00:00Z"


def event(kind: str, span: str, seq: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"00000000-0000-4000-8000-{seq:04d}{span[:8]}",
        "timestamp": T0,
        "event_type": kind,
        "trace_id": TRACE,
        "span_id": span,
        "sequence_number": seq,
        **fields,
    }


def start(span: str, name: str, parent: str | None = None, **meta: Any) -> dict[str, Any]:
    return event(
        "span_start",
        span,
        0,
        parent_span_id=parent,
        system_metadata={"span_name": name, "start_time": "2025-01-01T00:00:01Z", **meta},
        user_metadata={"customer": "acme", "tier": 2, "nested": {"no": 1}},
    )


def end(span: str, kind: str = "span_end", **meta: Any) -> dict[str, Any]:
    return event(
        kind,
        span,
        2,
        system_metadata={
            "end_time": "2025-01-01T00:00:03Z",
            "duration_ms": 2000,
            "status_code": "OK",
            **meta,
        },
    )


def rows(columns: tuple[str, ...], values: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in values]


def test_event_rows_drop_repeats_and_sort_by_identity() -> None:
    batch = validate_events([end(CHILD), start(ROOT, "root"), end(CHILD), start(CHILD, "c")])

    out = event_rows("acme", batch, received_us=7)

    assert out.repeats == 1
    keys = [(r["span_id"], r["event_type"]) for r in rows(EVENT_COLUMNS, out.rows)]
    assert keys == sorted(keys)
    assert len(out.events) == len(out.rows) == 3
    first = rows(EVENT_COLUMNS, out.rows)[0]
    assert first["tenant"] == "acme" and first["received_us"] == 7
    assert first["ts_us"] == 1_735_689_600_000_000


def test_event_rows_give_each_trace_the_range_of_its_event_timestamps() -> None:
    other = "0af7651916cd43dd8448eb211c80319c"
    late = end(CHILD) | {"timestamp": "2025-01-01T00:00:05Z"}
    batch = validate_events([late, start(ROOT, "root"), {**start(CHILD, "c"), "trace_id": other}])

    out = event_rows("acme", batch, received_us=7)

    t0 = 1_735_689_600_000_000
    assert rows(TRACE_COLUMNS, out.traces) == [
        {
            "tenant": "acme",
            "trace_id": other,
            "start_us": t0,
            "end_us": t0,
            "root_span_id": None,
            "root_name": None,
            "service_name": None,
            "updated_us": 7,
        },
        {
            "tenant": "acme",
            "trace_id": TRACE,
            "start_us": t0,
            "end_us": t0 + 5_000_000,
            "root_span_id": None,
            "root_name": None,
            "service_name": None,
            "updated_us": 7,
        },
    ]


def test_batch_rows_store_whole_traces_with_the_events() -> None:
    # What the events' transaction stores: the range of the event timestamps and of the
    # span times together, and the root, so the indexer has no trace row to write again.
    late = end(CHILD) | {"timestamp": "2025-01-01T00:00:05Z"}
    early = start(ROOT, "root") | {"timestamp": "2024-12-31T23:59:59Z"}
    batch = validate_events([late, early, start(CHILD, "c", parent=ROOT), end(ROOT)])

    events, derived = batch_rows("acme", batch, received_us=7)

    t0 = 1_735_689_600_000_000
    assert events.traces == derived.traces
    assert rows(TRACE_COLUMNS, events.traces) == [
        {
            "tenant": "acme",
            "trace_id": TRACE,
            "start_us": t0 - 1_000_000,
            "end_us": t0 + 5_000_000,
            "root_span_id": ROOT,
            "root_name": "root",
            "service_name": None,
            "updated_us": 7,
        }
    ]
    assert events.rows == event_rows("acme", batch, received_us=7).rows
    assert derived.spans == derive("acme", events.events, received_us=7).spans


def test_the_body_keeps_what_columns_do_not_and_comes_back_whole() -> None:
    raw = start(ROOT, "root") | {"unknown_field": [1, 2], "content": None}
    ((model, _),) = validate_events([raw])
    row = rows(EVENT_COLUMNS, event_rows("t", [(model, raw)], 1).rows)[0]

    body = orjson.loads(row["body"])
    assert body == stored_body(raw)
    assert "trace_id" not in body and "content" not in body
    assert body["unknown_field"] == [1, 2]
    restored = restore_event(
        event_id=row["event_id"],
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        event_type=row["event_type"],
        sequence_number=row["sequence_number"],
        ts_us=row["ts_us"],
        parent_span_id=row["parent_span_id"],
        content_storage_key=row["content_storage_key"],
        body=body,
    )
    assert TelemetryLogRequest.model_validate(restored) == model


def test_a_span_is_assembled_from_its_start_and_end() -> None:
    batch = validate_events(
        [
            start(ROOT, "root", span_kind="server", service_name="svc"),
            end(ROOT),
            start(CHILD, "child", parent=ROOT),
            end(CHILD, "span_error", status_code="OK", status_message="boom"),
        ]
    )
    derived = derive("t", [from_wire(*e) for e in batch], received_us=9)

    spans = {r["span_id"]: r for r in rows(SPAN_COLUMNS, derived.spans)}
    root, child = spans[ROOT], spans[CHILD]
    assert root["name"] == "root" and root["kind"] == "server"
    assert root["start_us"] == 1_735_689_601_000_000
    assert root["end_us"] == 1_735_689_603_000_000
    assert root["duration_ms"] == 2000.0
    assert root["status_code"] == "OK"
    assert root["service_name"] == "svc"
    assert orjson.loads(root["user_metadata"])["customer"] == "acme"
    assert child["parent_span_id"] == ROOT
    assert child["kind"] == "internal"
    assert child["status_code"] == "ERROR"  # span_error wins over what its metadata says
    assert child["status_message"] == "boom"
    (trace,) = rows(TRACE_COLUMNS, derived.traces)
    assert trace["root_span_id"] == ROOT and trace["root_name"] == "root"
    assert (trace["start_us"], trace["end_us"]) == (root["start_us"], root["end_us"])
    assert trace["service_name"] == "svc"
    pairs = {(r[2], r[3], r[4]) for r in derived.metadata}
    assert pairs == {
        (ROOT, "customer", "acme"),
        (ROOT, "tier", "2"),
        (CHILD, "customer", "acme"),
        (CHILD, "tier", "2"),
    }
    assert derived.tail == []


def test_an_end_alone_still_makes_a_span() -> None:
    derived = derive(
        "t", [from_wire(*e) for e in validate_events([end(CHILD, span_name="late")])], 1
    )
    (span,) = rows(SPAN_COLUMNS, derived.spans)
    assert span["name"] == "late"
    assert span["start_us"] is None and span["end_us"] == 1_735_689_603_000_000
    assert span["status_code"] == "OK"


def test_llm_calls_and_the_live_tail_summary() -> None:
    llm = event(
        "llm_call",
        CHILD,
        1,
        parent_span_id=ROOT,
        system_metadata={
            "span_name": "chat",
            "provider": "anthropic",
            "request_model": "claude",
            "response_model": "claude-x",
            "finish_reasons": ["stop"],
            "usage": {"input_tokens": 10, "output_tokens": 2.0, "reasoning_tokens": "many"},
            "tool_call_count": 1,
        },
    )
    derived = derive(
        "t",
        [from_wire(*e) for e in validate_events([start(CHILD, "chat", ROOT), llm])],
        1,
        tail=True,
    )

    (call,) = rows(LLM_COLUMNS, derived.llm_calls)
    assert call["provider"] == "anthropic" and call["response_model"] == "claude-x"
    assert (call["input_tokens"], call["output_tokens"], call["reasoning_tokens"]) == (10, 2, None)
    assert call["finish_reasons"] == '["stop"]'
    (message,) = derived.tail
    (summary,) = message["spans"]
    assert summary["model"] == "claude-x"
    assert summary["events"] == ["span_start", "llm_call"]
    assert summary["end_time"] is None


def test_odd_values_never_break_assembly() -> None:
    weird = start(
        ROOT,
        "a\x00b",
        span_kind=["sideways"],
        start_time="yesterday",
        service_name={"not": "a string"},
    )
    weird["user_metadata"] = {"k" * 200: "v", "long": "x" * 300, "ok\x00": "v\x00"}
    derived = derive(
        "t",
        [
            from_wire(*e)
            for e in validate_events([weird, end(ROOT, duration_ms="slow", status_code={})])
        ],
        1,
    )
    (span,) = rows(SPAN_COLUMNS, derived.spans)
    assert span["name"] == "ab"
    assert span["kind"] == "internal"
    assert span["start_us"] == 1_735_689_600_000_000  # the event's timestamp
    assert span["service_name"] is None
    assert span["duration_ms"] == 3000.0  # from the times: start fell back to the timestamp
    assert span["status_code"] == "UNSET"
    assert [(r[3], r[4]) for r in derived.metadata] == [("ok", "v")]


_SPANS = ("00f067aa0ba902b7", "53995c3f42cd8ad8", "b7ad6b7169203331")
_TRACES = (TRACE, "0af7651916cd43dd8448eb211c80319c")
_KINDS = ("span_start", "span_end", "span_error", "llm_call", "custom")
_MOMENTS = st.integers(0, 10).map(lambda s: f"2025-01-01T00:00:{s:02d}Z")


@st.composite
def _odd_event(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(_KINDS))
    meta: dict[str, Any] = {}
    for key in ("span_name", "service_name", "start_time", "end_time"):
        if draw(st.booleans()):
            meta[key] = draw(st.one_of(_MOMENTS, st.sampled_from(["n1", "", "svc", 7, None])))
    span = draw(st.sampled_from(_SPANS))
    return {
        **event(kind, span, draw(st.integers(0, 3))),
        "trace_id": draw(st.sampled_from(_TRACES)),
        "timestamp": draw(_MOMENTS),
        "parent_span_id": draw(st.sampled_from([None, *_SPANS])),
        "system_metadata": meta,
    }


@settings(max_examples=300, deadline=None)
@given(st.lists(_odd_event(), max_size=12))
def test_trace_rows_are_the_traces_derive_gives(batch: list[dict[str, Any]]) -> None:
    # Ingest commits trace_rows() before the 2xx; the indexer derives the rest later and
    # writes a trace again only where the two differ: they must not.
    out = event_rows("acme", validate_events(batch), received_us=7)
    light = trace_rows("acme", out.events, 7, out.times)
    assert light == derive("acme", out.events, 7, times=out.times).traces
