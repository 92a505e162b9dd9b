"""Hypothesis strategies for ingest payloads: valid events with fields broken, random JSON."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from tests.support.server import new_span_id, new_trace_id, span_events

__all__ = ["FIELDS", "batch_body", "json_values", "mutated_event", "scalars"]

FIELDS = [
    "id",
    "timestamp",
    "event_type",
    "trace_id",
    "span_id",
    "parent_span_id",
    "sequence_number",
    "prompt_id",
    "task_id",
    "commit_id",
    "branch_id",
    "system_metadata",
    "user_metadata",
    "content",
    "content_stored",
    "content_storage_key",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(
        ["", "\x00", "span_start", "4bf92f3577b34da6a3ce929d0e0e4736", "0" * 16, "../x"]
    )
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_event(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with some fields replaced by random JSON, removed, or added."""
    event: dict[str, Any] = draw(
        st.sampled_from(
            span_events(
                new_trace_id(), new_span_id(), llm={"provider": "x", "usage": {"input_tokens": 1}}
            )
        )
    )
    event = json.loads(json.dumps(event))
    event["trace_id"], event["span_id"] = new_trace_id(), new_span_id()
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["replace", "remove", "add", "metadata"]))
        name = draw(st.sampled_from(FIELDS))
        if action == "replace":
            event[name] = draw(json_values)
        elif action == "remove":
            event.pop(name, None)
        elif action == "add":
            event[draw(st.text(min_size=1, max_size=10))] = draw(json_values)
        else:
            meta = event.setdefault("system_metadata", {})
            if isinstance(meta, dict):
                meta[
                    draw(
                        st.sampled_from(
                            [
                                "span_name",
                                "start_time",
                                "end_time",
                                "duration_ms",
                                "status_code",
                                "usage",
                                "attributes",
                                "span_kind",
                            ]
                        )
                    )
                ] = draw(json_values)
    return event


@st.composite
def batch_body(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["events", "events", "random", "not-a-list"]))
    if kind == "random":
        return draw(json_values)
    if kind == "not-a-list":
        return {"events": draw(json_values)}
    valid = [
        e
        for _ in range(draw(st.integers(0, 2)))
        for e in span_events(new_trace_id(), new_span_id())
    ]
    broken = draw(st.lists(mutated_event(), max_size=3))
    events = valid + broken
    return {"events": draw(st.permutations(events))}
