"""From validated ingest events to table rows (no I/O).

Assembly reads events as ``Event``: made by ``moxtrace.server.decode`` straight from a
request body, or by ``from_wire`` from a validated ``TelemetryLogRequest`` and the JSON
object it came from (``WireEvent``). ``event_rows`` turns one batch of them into
``events`` rows, dropping repeats inside the batch
(repeats of stored events are dropped by the database). ``derive`` assembles the rest
from the same events: spans (``span_start`` + ``span_end`` / ``span_error``), LLM calls,
traces, metadata pairs, and (when someone listens) the live-tail summaries. Every derived
row is an idempotent upsert, so deriving a repeated event again changes nothing.
``batch_rows`` does both for the ingest path: the events' transaction stores the batch's
trace rows whole (times and root), so the indexer's has no trace to write again.

Rows are tuples in the order of the ``*_COLUMNS`` constants: the store hands them to the
driver as they are.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from moxtrace.types.telemetry import TelemetryEventType, TelemetryLogRequest

__all__ = [
    "EVENT_COLUMNS",
    "LLM_COLUMNS",
    "METADATA_COLUMNS",
    "SPAN_COLUMNS",
    "SPAN_FILL_COLUMNS",
    "TRACE_COLUMNS",
    "Derived",
    "Event",
    "EventKey",
    "EventRows",
    "WireEvent",
    "batch_rows",
    "committed_rows",
    "derive",
    "dumps",
    "event_rows",
    "from_us",
    "from_wire",
    "iso",
    "restore_event",
    "stored_body",
    "to_us",
    "trace_rows",
]

EventKey = tuple[str, str, str, int]
"""(trace_id, span_id, event_type, sequence_number): an event's identity within a tenant."""

WireEvent = tuple[TelemetryLogRequest, Mapping[str, Any]]
"""A validated event and the JSON object it was validated from (stored as sent)."""


class Event:
    """One event as assembly reads it: the columns, the metadata, the stored body.

    Made from a validated ``TelemetryLogRequest`` and its JSON (``from_wire``), or by
    ``moxtrace.server.decode`` straight from a request body; ids as canonical text.
    """

    __slots__ = (
        "body",
        "branch_id",
        "commit_id",
        "content_storage_key",
        "event_id",
        "event_type",
        "parent_span_id",
        "prompt_id",
        "sequence_number",
        "span_id",
        "system_metadata",
        "task_id",
        "trace_id",
        "ts_us",
        "user_metadata",
    )

    def __init__(
        self,
        trace_id: str,
        span_id: str,
        event_type: TelemetryEventType,
        sequence_number: int,
        event_id: str,
        ts_us: int,
        parent_span_id: str | None,
        content_storage_key: str | None,
        prompt_id: str | None,
        task_id: str | None,
        commit_id: str | None,
        branch_id: str | None,
        system_metadata: dict[str, Any],
        user_metadata: dict[str, Any],
        body: str,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.event_type = event_type
        self.sequence_number = sequence_number
        self.event_id = event_id
        self.ts_us = ts_us
        self.parent_span_id = parent_span_id
        self.content_storage_key = content_storage_key
        self.prompt_id = prompt_id
        self.task_id = task_id
        self.commit_id = commit_id
        self.branch_id = branch_id
        self.system_metadata = system_metadata
        self.user_metadata = user_metadata
        self.body = body
        """``stored_body`` of the event as JSON text (the ``events.body`` column)."""

    def restored(self) -> dict[str, Any]:
        """The event as sent (``restore_event`` of its row)."""
        return restore_event(
            event_id=self.event_id,
            trace_id=self.trace_id,
            span_id=self.span_id,
            event_type=self.event_type.value,
            sequence_number=self.sequence_number,
            ts_us=self.ts_us,
            parent_span_id=self.parent_span_id,
            content_storage_key=self.content_storage_key,
            body=orjson.loads(self.body),
        )


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def from_wire(event: TelemetryLogRequest, raw: Mapping[str, Any] | None = None) -> Event:
    """The ``Event`` of a validated event; its body from ``raw``, the JSON it came from
    (without it, as for assembly alone, the body is empty).

    ``ValueError`` if ``raw`` cannot be stored as JSON.
    """
    raw_id = raw.get("id") if raw is not None else None
    # The id as sent when it is already canonical (str(UUID) costs more than the check).
    if not (isinstance(raw_id, str) and _CANONICAL_UUID.fullmatch(raw_id)):
        raw_id = str(event.id)
    return Event(
        event.trace_id,
        event.span_id,
        event.event_type,
        event.sequence_number,
        raw_id,
        to_us(event.timestamp),
        event.parent_span_id,
        event.content_storage_key,
        _optional_text(event.prompt_id),
        _optional_text(event.task_id),
        event.commit_id,
        _optional_text(event.branch_id),
        event.system_metadata,
        event.user_metadata,
        dumps(stored_body(raw)) if raw is not None else "{}",
    )


EVENT_COLUMNS = (
    "tenant",
    "trace_id",
    "span_id",
    "event_type",
    "sequence_number",
    "event_id",
    "ts_us",
    "parent_span_id",
    "content_storage_key",
    "body",
    "received_us",
)
SPAN_FILL_COLUMNS = (
    "parent_span_id",
    "name",
    "kind",
    "start_us",
    "end_us",
    "duration_ms",
    "status_code",
    "status_message",
    "service_name",
    "prompt_id",
    "prompt_name",
    "task_id",
    "commit_id",
    "branch_id",
    "branch_name",
    "session_id",
    "user_metadata",
)
"""Span columns an event may fill: a later non-null value wins, a null keeps what is there."""
SPAN_COLUMNS = ("tenant", "trace_id", "span_id", *SPAN_FILL_COLUMNS, "updated_us")
LLM_COLUMNS = (
    "tenant",
    "trace_id",
    "span_id",
    "sequence_number",
    "ts_us",
    "provider",
    "operation",
    "request_model",
    "response_model",
    "response_id",
    "finish_reasons",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "tool_call_count",
    "content_storage_key",
)
TRACE_COLUMNS = (
    "tenant",
    "trace_id",
    "start_us",
    "end_us",
    "root_span_id",
    "root_name",
    "service_name",
    "updated_us",
)
METADATA_COLUMNS = ("tenant", "trace_id", "span_id", "key", "value")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)
_INT64 = (1 << 63) - 1
_KINDS = frozenset({"internal", "server", "client", "producer", "consumer"})
_STATUSES = frozenset({"UNSET", "OK", "ERROR"})
_START = TelemetryEventType.SPAN_START
_END = TelemetryEventType.SPAN_END
_ERROR = TelemetryEventType.SPAN_ERROR
_LLM = TelemetryEventType.LLM_CALL
_MAX_META_KEY = 128
_MAX_META_VALUE = 256
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_COLUMN_FIELDS = frozenset(
    {
        "id",
        "timestamp",
        "event_type",
        "sequence_number",
        "trace_id",
        "span_id",
        "parent_span_id",
        "content_storage_key",
    }
)


def dumps(value: Any) -> str:
    """Compact JSON text (``ValueError`` for what JSON cannot hold)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise ValueError(str(exc)) from None


def stored_body(raw: Mapping[str, Any]) -> dict[str, Any]:
    """What the ``body`` column keeps of an event as sent: every field but those stored in
    columns of their own (ids, type, sequence, timestamp, storage key) and null ones.

    ``GET /traces/{id}`` puts the event back together from both.
    """
    return {k: v for k, v in raw.items() if v is not None and k not in _COLUMN_FIELDS}


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // _ONE_US


def from_us(us: int) -> datetime:
    """The UTC datetime of ``us`` microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=us)


def iso(us: int | None) -> str | None:
    """ISO 8601 (UTC, microseconds, ``Z``) of a ``*_us`` column, or None."""
    if us is None:
        return None
    try:
        return from_us(us).isoformat(timespec="microseconds").replace("+00:00", "Z")
    except OverflowError:
        return None


def _text(value: Any, limit: int | None = None) -> str | None:
    """A string column's value: scalars as text, NUL characters removed (PostgreSQL)."""
    if value is None or isinstance(value, dict | list):
        return None
    text = value if type(value) is str else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "")
    if limit is not None and len(text) > limit:
        return None
    return text


def _int(value: Any) -> int | None:
    if type(value) is int:
        return value if -_INT64 <= value <= _INT64 else None
    if type(value) is float and math.isfinite(value) and value == int(value):
        return _int(int(value))
    return None


def _float(value: Any) -> float | None:
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) is int:
        return float(value) if -_INT64 <= value <= _INT64 else None
    return None


def _time_us(value: Any) -> int | None:
    if type(value) is not str:
        return None
    try:
        return to_us(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except (ValueError, OverflowError):
        return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass
class EventRows:
    """The ``events`` rows of one batch (sorted by key), with the models they came from."""

    tenant: str
    received_us: int
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    """``EVENT_COLUMNS`` (the store puts the trace's number first)."""
    traces: list[tuple[Any, ...]] = field(default_factory=list)
    """``TRACE_COLUMNS`` of the batch's traces (sorted): the store gives each its number
    in the events' transaction. From ``event_rows``, as far as the events' timestamps tell;
    from ``batch_rows``, whole (``Derived.traces``: the spans' times and the root too)."""
    events: list[Event] = field(default_factory=list)
    repeats: int = 0
    """Events dropped because they appeared twice in the batch."""
    times: dict[str, list[int]] = field(default_factory=dict, repr=False)
    """The first and last event timestamp of each trace (what ``traces`` says)."""


@dataclass
class Derived:
    """The rows assembled from a batch's events, ready for the store."""

    spans: list[tuple[Any, ...]] = field(default_factory=list)
    llm_calls: list[tuple[Any, ...]] = field(default_factory=list)
    traces: list[tuple[Any, ...]] = field(default_factory=list)
    metadata: list[tuple[Any, ...]] = field(default_factory=list)
    tail: list[dict[str, Any]] = field(default_factory=list)
    """Live-tail messages: one per trace, ``{"trace_id", "spans": [summary, ...]}``."""


class _Span:
    __slots__ = ("end", "llm", "other", "start")

    def __init__(self) -> None:
        self.start: Event | None = None
        self.end: Event | None = None
        self.llm: Event | None = None
        self.other: list[str] = []


def _identity(events: Sequence[Event | None]) -> tuple[Any, ...]:
    prompt_id = task_id = commit_id = branch_id = None
    metadata: dict[str, Any] | None = None
    for event in events:
        if event is None:
            continue
        if prompt_id is None:
            prompt_id = event.prompt_id
        if task_id is None:
            task_id = event.task_id
        if commit_id is None and event.commit_id is not None:
            commit_id = _text(event.commit_id)
        if branch_id is None:
            branch_id = event.branch_id
        if metadata is None and event.user_metadata:
            metadata = event.user_metadata
    return prompt_id, task_id, commit_id, branch_id, metadata


def _span_row(
    tenant: str, trace_id: str, span_id: str, span: _Span, now_us: int
) -> tuple[Any, ...]:
    start, end, llm = span.start, span.end, span.llm
    parent = name = kind = start_us = end_us = duration = status = message = None
    service = prompt_name = branch_name = session_id = None
    if start is not None:
        meta = start.system_metadata
        parent = start.parent_span_id
        name = _text(meta.get("span_name"))
        kind = meta.get("span_kind")
        if type(kind) is not str or kind not in _KINDS:
            kind = "internal"
        start_us = _time_us(meta.get("start_time"))
        if start_us is None:
            start_us = start.ts_us
        service = _text(meta.get("service_name"))
        prompt_name = _text(meta.get("prompt_name"))
        branch_name = _text(meta.get("branch_name"))
        session_id = _text(meta.get("session_id"))
    if end is not None:
        meta = end.system_metadata
        if parent is None:
            parent = end.parent_span_id
        if name is None:
            name = _text(meta.get("span_name"))
        end_us = _time_us(meta.get("end_time"))
        if end_us is None:
            end_us = end.ts_us
        duration = _float(meta.get("duration_ms"))
        if duration is None and start_us is not None:
            duration = (end_us - start_us) / 1000.0
        status = meta.get("status_code")
        if end.event_type is _ERROR:
            status = "ERROR"
        elif type(status) is not str or status not in _STATUSES:
            status = "UNSET"
        message = _text(meta.get("status_message"))
    if llm is not None:
        if parent is None:
            parent = llm.parent_span_id
        if name is None:
            name = _text(llm.system_metadata.get("span_name"))
    prompt_id, task_id, commit_id, branch_id, metadata = _identity((start, end, llm))
    return (
        tenant,
        trace_id,
        span_id,
        parent,
        name,
        kind,
        start_us,
        end_us,
        duration,
        status,
        message,
        service,
        prompt_id,
        prompt_name,
        task_id,
        commit_id,
        branch_id,
        branch_name,
        session_id,
        dumps(metadata) if metadata else None,
        now_us,
    )


def _llm_row(tenant: str, event: Event, ts_us: int) -> tuple[Any, ...]:
    meta = event.system_metadata
    usage = _mapping(meta.get("usage"))
    reasons = meta.get("finish_reasons")
    return (
        tenant,
        event.trace_id,
        event.span_id,
        event.sequence_number,
        ts_us,
        _text(meta.get("provider")),
        _text(meta.get("operation")),
        _text(meta.get("request_model")),
        _text(meta.get("response_model")),
        _text(meta.get("response_id")),
        dumps(reasons) if isinstance(reasons, list) else None,
        _int(usage.get("input_tokens")),
        _int(usage.get("output_tokens")),
        _int(usage.get("reasoning_tokens")),
        _int(usage.get("cache_read_input_tokens")),
        _int(usage.get("cache_creation_input_tokens")),
        _int(meta.get("tool_call_count")),
        event.content_storage_key,
    )


def _metadata_value(value: Any) -> str | None:
    if type(value) is str:
        return _text(value, _MAX_META_VALUE)
    if isinstance(value, bool | int | float):
        return _text(dumps(value), _MAX_META_VALUE)
    return None


def _summary(row: tuple[Any, ...], span: _Span) -> dict[str, Any]:
    values = dict(zip(SPAN_COLUMNS, row, strict=True))
    model = input_tokens = output_tokens = None
    if span.llm is not None:
        meta = span.llm.system_metadata
        model = _text(meta.get("response_model")) or _text(meta.get("request_model"))
        usage = _mapping(meta.get("usage"))
        input_tokens = _int(usage.get("input_tokens"))
        output_tokens = _int(usage.get("output_tokens"))
    kinds = [e.event_type.value for e in (span.start, span.llm, span.end) if e is not None]
    return {
        "trace_id": values["trace_id"],
        "span_id": values["span_id"],
        "parent_span_id": values["parent_span_id"],
        "name": values["name"],
        "kind": values["kind"],
        "service_name": values["service_name"],
        "start_time": iso(values["start_us"]),
        "end_time": iso(values["end_us"]),
        "duration_ms": values["duration_ms"],
        "status_code": values["status_code"],
        "status_message": values["status_message"],
        "model": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "events": kinds + span.other,
    }


def _widen(times: dict[str, list[int]], trace_id: str, moment: int) -> None:
    known = times.get(trace_id)
    if known is None:
        times[trace_id] = [moment, moment]
    elif moment < known[0]:
        known[0] = moment
    elif moment > known[1]:
        known[1] = moment


def event_rows(tenant: str, batch: Sequence[Event | WireEvent], received_us: int) -> EventRows:
    """The ``events`` rows of ``batch``, sorted by key (concurrent writers lock in one order).

    ``ValueError`` if an event cannot be stored as JSON (the caller answers 400).
    """
    out = EventRows(tenant, received_us)
    seen: dict[EventKey, Event] = {}
    for item in batch:
        event = item if isinstance(item, Event) else from_wire(*item)
        key: EventKey = (
            event.trace_id,
            event.span_id,
            event.event_type.value,
            event.sequence_number,
        )
        if key in seen:
            out.repeats += 1
        else:
            seen[key] = event
    rows, events = out.rows, out.events
    times: dict[str, list[int]] = {}
    for key in sorted(seen):
        event = seen[key]
        ts_us = event.ts_us
        rows.append(
            (
                tenant,
                key[0],
                key[1],
                key[2],
                key[3],
                event.event_id,
                ts_us,
                event.parent_span_id,
                event.content_storage_key,
                event.body,
                received_us,
            )
        )
        events.append(event)
        _widen(times, key[0], ts_us)
    out.traces = [
        (tenant, trace_id, first, last, None, None, None, received_us)
        for trace_id, (first, last) in times.items()
    ]
    out.times = times
    return out


def trace_rows(
    tenant: str, events: Sequence[Event], received_us: int, times: Mapping[str, list[int]]
) -> list[tuple[Any, ...]]:
    """The ``traces`` rows ``derive`` gives ``events``, without deriving their spans.

    ``events`` and ``times`` as ``event_rows`` leaves them (sorted by key; each trace's
    event times, not widened here). What the events' transaction writes, so each trace
    gets its number before the 2xx; ``derive`` (the indexer, after the 2xx) gives the
    same rows. Each span is chosen as ``derive`` chooses it: its last ``span_start``, its
    last ``span_error`` or else its first ``span_end``, its last ``llm_call``.
    """
    spans: dict[tuple[str, str], _Span] = {}
    for event in events:
        kind = event.event_type
        if kind is not _START and kind is not _END and kind is not _ERROR and kind is not _LLM:
            continue  # widens the times only, which ``times`` already did
        key = (event.trace_id, event.span_id)
        span = spans.get(key)
        if span is None:
            span = spans[key] = _Span()
        if kind is _START:
            span.start = event
        elif kind is _LLM:
            span.llm = event
        elif span.end is None or kind is _ERROR:
            span.end = event
    widened = {trace_id: list(pair) for trace_id, pair in times.items()}
    roots: dict[str, tuple[str, str | None]] = {}
    services: dict[str, str] = {}
    for (trace_id, span_id), span in spans.items():
        start, end, name = span.start, span.end, None
        if start is not None:
            meta = start.system_metadata
            name = _text(meta.get("span_name"))
            start_us = _time_us(meta.get("start_time"))
            _widen(widened, trace_id, start.ts_us if start_us is None else start_us)
            service = _text(meta.get("service_name"))
            if service and trace_id not in services:
                services[trace_id] = service
        if end is not None:
            end_us = _time_us(end.system_metadata.get("end_time"))
            _widen(widened, trace_id, end.ts_us if end_us is None else end_us)
        if start is not None and start.parent_span_id is None and trace_id not in roots:
            if name is None and end is not None:
                name = _text(end.system_metadata.get("span_name"))
            if name is None and span.llm is not None:
                name = _text(span.llm.system_metadata.get("span_name"))
            roots[trace_id] = (span_id, name)
    return [
        _trace_row(tenant, trace_id, widened[trace_id], roots.get(trace_id), services, received_us)
        for trace_id in sorted(widened)
    ]


def _trace_row(
    tenant: str,
    trace_id: str,
    times: list[int],
    root: tuple[str, str | None] | None,
    services: Mapping[str, str],
    received_us: int,
) -> tuple[Any, ...]:
    """A ``TRACE_COLUMNS`` row; ``root``: the root span's id and name."""
    first, last = times
    root_id, root_name = root if root else (None, None)
    return (tenant, trace_id, first, last, root_id, root_name, services.get(trace_id), received_us)


def committed_rows(tenant: str, batch: Sequence[Event | WireEvent], received_us: int) -> EventRows:
    """What ingest commits before its 2xx: ``event_rows`` with their ``trace_rows``."""
    rows = event_rows(tenant, batch, received_us)
    rows.traces = trace_rows(tenant, rows.events, received_us, rows.times)
    return rows


def batch_rows(
    tenant: str, batch: Sequence[Event | WireEvent], received_us: int, *, tail: bool = False
) -> tuple[EventRows, Derived]:
    """``event_rows`` and ``derive`` of one batch, the events' rows carrying the whole
    trace rows (``Derived.traces``, which cover the events' timestamps too)."""
    rows = event_rows(tenant, batch, received_us)
    derived = derive(tenant, rows.events, received_us, tail=tail, times=rows.times)
    rows.traces = derived.traces
    return rows, derived


def restore_event(
    *,
    event_id: str,
    trace_id: str,
    span_id: str,
    event_type: str,
    sequence_number: int,
    ts_us: int,
    parent_span_id: str | None,
    content_storage_key: str | None,
    body: Mapping[str, Any],
) -> dict[str, Any]:
    """An event as sent, put back together from its ``events`` row (``stored_body``'s inverse)."""
    return {
        **body,
        "id": event_id,
        "timestamp": iso(ts_us),
        "event_type": event_type,
        "sequence_number": sequence_number,
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent_span_id,
        "content_storage_key": content_storage_key,
    }


def derive(
    tenant: str,
    events: Sequence[Event],
    received_us: int,
    *,
    tail: bool = False,
    times: dict[str, list[int]] | None = None,
) -> Derived:
    """The spans, LLM calls, traces and metadata rows of ``events`` (in key order).

    ``times``: each trace's time range so far (``EventRows.times``), which the trace rows
    then cover too (it is widened in place).
    """
    out = Derived()
    spans: dict[tuple[str, str], _Span] = {}
    if times is None:
        times = {}
    for event in events:
        trace_id = event.trace_id
        span_key = (trace_id, event.span_id)
        span = spans.get(span_key)
        if span is None:
            span = spans[span_key] = _Span()
        kind = event.event_type
        if kind is _START:
            span.start = event
        elif kind is _END or kind is _ERROR:
            if span.end is None or kind is _ERROR:
                span.end = event
        elif kind is _LLM:
            ts_us = event.ts_us
            span.llm = event
            out.llm_calls.append(_llm_row(tenant, event, ts_us))
            _widen(times, trace_id, ts_us)
        else:
            span.other.append(kind.value)
            _widen(times, trace_id, event.ts_us)

    summaries: dict[str, list[dict[str, Any]]] = {}
    roots: dict[str, tuple[Any, ...]] = {}
    services: dict[str, str] = {}
    for (trace_id, span_id), span in spans.items():
        row = _span_row(tenant, trace_id, span_id, span, received_us)
        out.spans.append(row)
        if tail:
            summaries.setdefault(trace_id, []).append(_summary(row, span))
        start_us, end_us = row[6], row[7]
        if start_us is not None:
            _widen(times, trace_id, start_us)
        if end_us is not None:
            _widen(times, trace_id, end_us)
        if span.start is not None and span.start.parent_span_id is None:
            roots.setdefault(trace_id, row)
        if row[11] and trace_id not in services:
            services[trace_id] = row[11]
        source = span.start or span.end or span.llm
        if source is not None and source.user_metadata:
            for name, value in source.user_metadata.items():
                text = _metadata_value(value)
                clean = _text(name, _MAX_META_KEY)
                if text is not None and clean:
                    out.metadata.append((tenant, trace_id, span_id, clean, text))

    for trace_id in sorted(times):
        root_row = roots.get(trace_id)
        root = (root_row[2], root_row[4]) if root_row else None
        trace = _trace_row(tenant, trace_id, times[trace_id], root, services, received_us)
        out.traces.append(trace)
        if tail:
            out.tail.append({"trace_id": trace_id, "spans": summaries.get(trace_id, [])})
    return out
