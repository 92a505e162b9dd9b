"""Reading traces: one trace as a span tree, and a filtered, paginated list of traces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import and_, exists, func, or_, select

from moxtrace.server.assemble import iso
from moxtrace.server.offload import off_loop
from moxtrace.server.store import schema

if TYPE_CHECKING:
    from moxtrace.server.store import Store

__all__ = ["TraceCursor", "TraceFilter", "TracePage", "TraceQueries"]

_SPAN_EVENT_TYPES = ("span_start", "span_end", "span_error")


@dataclass(frozen=True)
class TraceCursor:
    """Where a page ended: traces are listed newest first by (start, trace id)."""

    start_us: int
    trace_id: str


@dataclass
class TraceFilter:
    """Filters of ``GET /traces``; every set field must match."""

    since_us: int | None = None
    until_us: int | None = None
    prompt_id: str | None = None
    task_id: str | None = None
    status: str | None = None
    service_name: str | None = None
    metadata: list[tuple[str, str]] = field(default_factory=list)
    limit: int = 50
    cursor: TraceCursor | None = None


@dataclass
class TracePage:
    """One page of traces, and the cursor of the next page (None at the end)."""

    traces: list[dict[str, Any]]
    next_cursor: TraceCursor | None


def _loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


@dataclass
class _StoredEvent:
    span_id: str
    event_type: str
    sequence_number: int
    event_id: str
    ts_us: int
    content_storage_key: str | None
    body: dict[str, Any]

    @classmethod
    def of(cls, row: Any) -> _StoredEvent:
        body = orjson.loads(row.body)
        return cls(
            row.span_id,
            row.event_type,
            row.sequence_number,
            row.event_id,
            row.ts_us,
            row.content_storage_key,
            body if isinstance(body, dict) else {},
        )

    def meta(self) -> dict[str, Any]:
        value = self.body.get("system_metadata")
        return value if isinstance(value, dict) else {}


class TraceQueries:
    """Queries over spans, LLM calls, events and traces of one tenant."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def list_traces(self, tenant: str, filters: TraceFilter) -> TracePage:
        """Traces matching ``filters``, newest first."""
        t = schema.traces.c
        s = schema.spans.c
        llm = schema.llm_calls.c
        # Spans and LLM calls are keyed by their trace's number (schema.py).
        same_trace = s.trace_seq == t.trace_seq
        same_trace_llm = llm.trace_seq == t.trace_seq

        def span_count(*conditions: Any) -> Any:
            return (
                select(func.count())
                .select_from(schema.spans)
                .where(same_trace, *conditions)
                .scalar_subquery()
            )

        def llm_sum(column: Any) -> Any:
            return (
                select(func.coalesce(func.sum(column), 0)).where(same_trace_llm).scalar_subquery()
            )

        query = select(
            t.trace_id,
            t.start_us,
            t.end_us,
            t.root_span_id,
            t.root_name,
            t.service_name,
            span_count().label("span_count"),
            span_count(s.status_code == "ERROR").label("error_count"),
            select(func.count())
            .select_from(schema.llm_calls)
            .where(same_trace_llm)
            .scalar_subquery()
            .label("llm_call_count"),
            llm_sum(llm.input_tokens).label("input_tokens"),
            llm_sum(llm.output_tokens).label("output_tokens"),
        ).where(t.tenant == tenant)
        if filters.since_us is not None:
            query = query.where(t.start_us >= filters.since_us)
        if filters.until_us is not None:
            query = query.where(t.start_us < filters.until_us)
        if filters.service_name is not None:
            query = query.where(t.service_name == filters.service_name)
        if filters.prompt_id is not None:
            query = query.where(
                t.trace_seq.in_(
                    select(s.trace_seq).where(s.tenant == tenant, s.prompt_id == filters.prompt_id)
                )
            )
        if filters.task_id is not None:
            query = query.where(
                t.trace_seq.in_(
                    select(s.trace_seq).where(s.tenant == tenant, s.task_id == filters.task_id)
                )
            )
        if filters.status == "error":
            query = query.where(exists().where(same_trace, s.status_code == "ERROR"))
        elif filters.status == "ok":
            query = query.where(~exists().where(same_trace, s.status_code == "ERROR"))
        m = schema.span_metadata.c
        for key, value in filters.metadata:
            query = query.where(
                t.trace_seq.in_(
                    select(m.trace_seq).where(m.tenant == tenant, m.key == key, m.value == value)
                )
            )
        if filters.cursor is not None:
            c = filters.cursor
            query = query.where(
                or_(
                    t.start_us < c.start_us, and_(t.start_us == c.start_us, t.trace_id < c.trace_id)
                )
            )
        query = query.order_by(t.start_us.desc(), t.trace_id.desc()).limit(filters.limit + 1)
        async with self._store.read() as conn:
            rows = (await conn.execute(query)).all()
        more = len(rows) > filters.limit
        rows = rows[: filters.limit]
        items = [_trace_summary(row) for row in rows]
        cursor = TraceCursor(rows[-1].start_us, rows[-1].trace_id) if more and rows else None
        return TracePage(items, cursor)

    async def get_trace(
        self, tenant: str, trace_id: str, *, offset: int = 0, limit: int = 10_000
    ) -> dict[str, Any] | None:
        """The trace as a span tree with LLM calls, log events and content; None if unknown.

        Spans come in tree order (depth first); at most ``limit`` of them from ``offset``
        (``truncated`` and ``next_offset`` say whether more follow), so even a trace of a
        million spans is read in bounded pages.
        """
        t, s = schema.traces.c, schema.spans.c
        async with self._store.read() as conn, conn.begin():
            trace = (
                await conn.execute(
                    select(schema.traces).where(t.tenant == tenant, t.trace_id == trace_id)
                )
            ).first()
            if trace is None:
                return None
            skeleton = (
                await conn.execute(
                    select(s.span_id, s.parent_span_id)
                    .where(s.trace_seq == trace.trace_seq)
                    .order_by(func.coalesce(s.start_us, s.end_us), s.span_id)
                )
            ).all()
            tree = await off_loop(len(skeleton) * 64, lambda: _Tree.of(skeleton))
            page = tree.order[offset : offset + limit]
            whole = offset == 0 and len(page) == len(tree.order)
            spans, calls, events, uploaded = await self._page(
                conn, tenant, trace_id, trace.trace_seq, None if whole else page
            )

        def build() -> dict[str, Any]:
            view = _trace_view(trace, tree, page, spans, calls, events, uploaded, whole)
            following = offset + len(page)
            view["truncated"] = following < len(tree.order)
            view["next_offset"] = following if view["truncated"] else None
            return view

        return await off_loop(len(events) * 512, build)

    async def _page(
        self, conn: Any, tenant: str, trace_id: str, trace_seq: int, span_ids: list[str] | None
    ) -> tuple[list[Any], list[Any], list[_StoredEvent], dict[str, Any]]:
        """Span rows, LLM calls, events and uploaded content of ``span_ids`` (None: all)."""
        s, llm, ev, ct = schema.spans.c, schema.llm_calls.c, schema.events.c, schema.contents.c

        def only(column: Any) -> list[Any]:
            return [] if span_ids is None else [column.in_(span_ids)]

        spans = (
            await conn.execute(
                select(schema.spans).where(s.trace_seq == trace_seq, *only(s.span_id))
            )
        ).all()
        calls = (
            await conn.execute(
                select(schema.llm_calls)
                .where(llm.trace_seq == trace_seq, *only(llm.span_id))
                .order_by(llm.span_id, llm.sequence_number)
            )
        ).all()
        rows = (
            await conn.execute(
                select(
                    ev.span_id,
                    ev.event_type,
                    ev.sequence_number,
                    ev.event_id,
                    ev.ts_us,
                    ev.content_storage_key,
                    ev.body,
                )
                .where(ev.trace_seq == trace_seq, *only(ev.span_id))
                .order_by(ev.span_id, ev.sequence_number, ev.event_type)
            )
        ).all()
        events = await off_loop(len(rows) * 512, lambda: [_StoredEvent.of(row) for row in rows])
        keys = sorted({e.content_storage_key for e in events if e.content_storage_key})
        uploaded: dict[str, Any] = {}
        for start in range(0, len(keys), 500):
            for row in (
                await conn.execute(
                    select(ct.storage_key, ct.content).where(
                        ct.tenant == tenant, ct.storage_key.in_(keys[start : start + 500])
                    )
                )
            ).all():
                uploaded[row.storage_key] = orjson.loads(row.content)
        return list(spans), list(calls), events, uploaded

    async def get_content(self, tenant: str, storage_key: str) -> Any:
        """Uploaded content under ``storage_key`` (``KeyError`` when there is none)."""
        ct = schema.contents.c
        async with self._store.read() as conn:
            row = (
                await conn.execute(
                    select(ct.content).where(ct.tenant == tenant, ct.storage_key == storage_key)
                )
            ).first()
        if row is None:
            raise KeyError(storage_key)
        return orjson.loads(row.content)


def _trace_summary(row: Any) -> dict[str, Any]:
    duration = (row.end_us - row.start_us) / 1000.0
    return {
        "trace_id": row.trace_id,
        "start_time": iso(row.start_us),
        "end_time": iso(row.end_us),
        "duration_ms": duration,
        "root_span_id": row.root_span_id,
        "root_name": row.root_name,
        "service_name": row.service_name,
        "span_count": int(row.span_count),
        "error_count": int(row.error_count),
        "llm_call_count": int(row.llm_call_count),
        "usage": {
            "input_tokens": int(row.input_tokens),
            "output_tokens": int(row.output_tokens),
        },
    }


def _resolve(content: Any, key: str | None, uploaded: dict[str, Any]) -> tuple[Any, bool]:
    """(content, pending): inline content, else what was uploaded under ``key``."""
    if content is not None or not key:
        return content, False
    if key in uploaded:
        return uploaded[key], False
    return None, True


def _llm_view(row: Any, event: _StoredEvent | None, uploaded: dict[str, Any]) -> dict[str, Any]:
    content, pending = _resolve(
        event.body.get("content") if event else None, row.content_storage_key, uploaded
    )
    return {
        "sequence_number": row.sequence_number,
        "timestamp": iso(row.ts_us),
        "provider": row.provider,
        "operation": row.operation,
        "request_model": row.request_model,
        "response_model": row.response_model,
        "response_id": row.response_id,
        "finish_reasons": _loads(row.finish_reasons),
        "usage": {
            "input_tokens": row.input_tokens,
            "output_tokens": row.output_tokens,
            "reasoning_tokens": row.reasoning_tokens,
            "cache_read_input_tokens": row.cache_read_input_tokens,
            "cache_creation_input_tokens": row.cache_creation_input_tokens,
        },
        "tool_call_count": row.tool_call_count,
        "content": content,
        "content_storage_key": row.content_storage_key,
        "content_pending": pending,
    }


def _log_event_view(event: _StoredEvent, uploaded: dict[str, Any]) -> dict[str, Any]:
    body = event.body
    content, pending = _resolve(body.get("content"), event.content_storage_key, uploaded)
    return {
        "id": event.event_id,
        "event_type": event.event_type,
        "sequence_number": event.sequence_number,
        "timestamp": iso(event.ts_us),
        "system_metadata": event.meta(),
        "user_metadata": body.get("user_metadata") or {},
        "content": content,
        "content_storage_key": event.content_storage_key,
        "content_pending": pending,
    }


def _span_view(row: Any) -> dict[str, Any]:
    duration = row.duration_ms
    if duration is None and row.start_us is not None and row.end_us is not None:
        duration = (row.end_us - row.start_us) / 1000.0
    return {
        "trace_id": row.trace_id,
        "span_id": row.span_id,
        "parent_span_id": row.parent_span_id,
        "name": row.name,
        "kind": row.kind,
        "start_time": iso(row.start_us),
        "end_time": iso(row.end_us),
        "duration_ms": duration,
        "status": {"code": row.status_code, "message": row.status_message},
        "service_name": row.service_name,
        "attributes": {},
        "resource": {},
        "scope": None,
        "links": [],
        "events": [],
        "prompt_id": row.prompt_id,
        "prompt_name": row.prompt_name,
        "task_id": row.task_id,
        "commit_id": row.commit_id,
        "branch_id": row.branch_id,
        "branch_name": row.branch_name,
        "session_id": row.session_id,
        "metadata": _loads(row.user_metadata) or {},
        "llm_calls": [],
        "log_events": [],
        "children": [],
        "depth": 0,
    }


@dataclass
class _Tree:
    """The shape of a trace: roots, children, depth, and every span id depth first."""

    roots: list[str]
    children: dict[str, list[str]]
    depth: dict[str, int]
    order: list[str]

    @classmethod
    def of(cls, skeleton: Sequence[Any]) -> _Tree:
        """From (span_id, parent_span_id) rows in start order; spans in a parent cycle (or
        whose parent is unknown) become roots too."""
        parents = {row[0]: row[1] for row in skeleton}
        ordered = list(parents)
        children: dict[str, list[str]] = {span_id: [] for span_id in ordered}
        for span_id in ordered:
            parent = parents[span_id]
            if parent is not None and parent in parents and parent != span_id:
                children[parent].append(span_id)
        roots = [sid for sid in ordered if parents[sid] is None or parents[sid] not in parents]
        depth: dict[str, int] = {}
        order: list[str] = []

        def walk(start: str) -> None:
            stack: list[tuple[str, int]] = [(start, 0)]
            while stack:
                span_id, level = stack.pop()
                if span_id in depth:
                    continue
                depth[span_id] = level
                order.append(span_id)
                stack.extend((child, level + 1) for child in reversed(children[span_id]))

        for root in roots:
            walk(root)
        for span_id in ordered:
            if span_id not in depth:
                roots.append(span_id)
                walk(span_id)
        return cls(roots, children, depth, order)


def _trace_view(
    trace: Any,
    tree: _Tree,
    page: list[str],
    spans: Sequence[Any],
    calls: Sequence[Any],
    stored: Sequence[_StoredEvent],
    uploaded: dict[str, Any],
    whole: bool,
) -> dict[str, Any]:
    views = {row.span_id: _span_view(row) for row in spans}
    for span_id, span_view in views.items():
        span_view["children"] = tree.children.get(span_id, [])
        span_view["depth"] = tree.depth.get(span_id, 0)
    orphans: list[dict[str, Any]] = []
    llm_events: dict[tuple[str, int], _StoredEvent] = {}
    for event in stored:
        view = views.get(event.span_id)
        if event.event_type == "llm_call":
            llm_events[(event.span_id, event.sequence_number)] = event
        elif event.event_type == "span_start":
            if view is not None:
                meta = event.meta()
                view["attributes"] = meta.get("attributes") or {}
                view["resource"] = meta.get("resource") or {}
                view["scope"] = meta.get("scope")
                view["links"] = meta.get("links") or []
        elif event.event_type in ("span_end", "span_error"):
            if view is not None:
                view["events"] = event.meta().get("events") or []
        elif view is None:
            orphans.append({"span_id": event.span_id, **_log_event_view(event, uploaded)})
        else:
            view["log_events"].append(_log_event_view(event, uploaded))
    for row in calls:
        call = _llm_view(row, llm_events.get((row.span_id, row.sequence_number)), uploaded)
        target = views.get(row.span_id)
        if target is None:
            orphans.append({"span_id": row.span_id, "event_type": "llm_call", **call})
        else:
            target["llm_calls"].append(call)
    flat = [views[span_id] for span_id in page if span_id in views]
    summary = {
        "span_count": len(tree.order),
        "error_count": sum(1 for v in flat if v["status"]["code"] == "ERROR"),
        "llm_call_count": len(calls),
        "usage": {
            "input_tokens": sum(c.input_tokens or 0 for c in calls),
            "output_tokens": sum(c.output_tokens or 0 for c in calls),
        },
    }
    return {
        "trace_id": trace.trace_id,
        "start_time": iso(trace.start_us),
        "end_time": iso(trace.end_us),
        "duration_ms": (trace.end_us - trace.start_us) / 1000.0,
        "root_span_id": trace.root_span_id,
        "root_name": trace.root_name,
        "service_name": trace.service_name,
        **summary,
        "roots": tree.roots,
        "spans": flat,
        "unattached_events": orphans if whole else [],
    }
