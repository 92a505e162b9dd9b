"""Finished spans for plugin tests: built by hand, or loaded from recordings.

``recorded(name)`` loads ``recorded/<name>.json``: spans that OpenInference or OpenLLMetry
instrumentations really emitted for one LLM call (see ``recorded/record.py``), rebuilt as
``ReadableSpan`` objects with exactly the recorded attributes.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

RECORDED = Path(__file__).parent / "recorded"
START_NS = 1_735_000_000_000_000_000
_span_ids = itertools.count(1)


def make_span(
    attributes: Mapping[str, Any] | None = None,
    *,
    name: str = "work",
    trace_id: int = 0x0123456789ABCDEF0123456789ABCDEF,
    span_id: int | None = None,
    parent_id: int | None = None,
    events: Sequence[Event] = (),
    links: Sequence[Link] = (),
    error: bool = False,
    status_description: str | None = None,
    duration_ms: float = 10.0,
    start_ns: int = START_NS,
    resource: Mapping[str, Any] | Resource | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    scope: str = "tests",
) -> ReadableSpan:
    """A finished span with these parts (a fresh span id unless one is given)."""
    sid = span_id if span_id is not None else next(_span_ids)
    context = SpanContext(trace_id, sid, is_remote=False, trace_flags=TraceFlags(1))
    parent = (
        SpanContext(trace_id, parent_id, is_remote=False, trace_flags=TraceFlags(1))
        if parent_id
        else None
    )
    status = (
        Status(StatusCode.ERROR, status_description)
        if error
        else Status(StatusCode.UNSET, status_description)
        if status_description
        else Status(StatusCode.UNSET)
    )
    return ReadableSpan(
        name=name,
        context=context,
        parent=parent,
        resource=(
            resource
            if isinstance(resource, Resource)
            else Resource(dict(resource or {"service.name": "tests"}))
        ),
        attributes=dict(attributes or {}),
        events=list(events),
        links=list(links),
        kind=kind,
        status=status,
        start_time=start_ns,
        end_time=start_ns + int(duration_ms * 1e6),
        instrumentation_scope=InstrumentationScope(scope),
    )


def recorded(name: str, *, trace_id: int = 0xABCDEF) -> tuple[dict[str, str], list[ReadableSpan]]:
    """``(package versions, spans)`` of ``recorded/<name>.json``."""
    document = json.loads((RECORDED / f"{name}.json").read_text())
    spans = [
        make_span(
            {k: tuple(v) if isinstance(v, list) else v for k, v in span["attributes"].items()},
            name=span["name"],
            trace_id=trace_id,
            events=[Event(e["name"], e["attributes"], START_NS) for e in span["events"]],
            error=span["status"] == "ERROR",
            kind=SpanKind[span["kind"]],
            scope=span["scope"] or "unknown",
        )
        for span in document["spans"]
    ]
    return document["recorded_with"], spans
