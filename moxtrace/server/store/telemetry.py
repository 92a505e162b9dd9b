"""Writing telemetry: the rows of one batch in one transaction, and uploaded content."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from moxtrace.server.assemble import (
    EVENT_COLUMNS,
    LLM_COLUMNS,
    METADATA_COLUMNS,
    SPAN_COLUMNS,
    SPAN_FILL_COLUMNS,
    TRACE_COLUMNS,
    Batch,
)
from moxtrace.server.store import schema
from moxtrace.server.store.dialect import SqlBuilder, insert_for

if TYPE_CHECKING:
    from moxtrace.server.store import Store

__all__ = ["TelemetryStore", "WriteResult"]

_EVENT_KEY = ("tenant", "trace_id", "span_id", "event_type", "sequence_number")


@dataclass
class WriteResult:
    """What a committed batch did: events stored, and repeats skipped."""

    accepted: int
    duplicates: int


class TelemetryStore:
    """Events in; spans, LLM calls, traces and metadata assembled from them."""

    def __init__(self, store: Store) -> None:
        self._store = store
        sql = SqlBuilder(store.engine.dialect)
        self._postgresql = sql.postgresql
        if sql.postgresql:
            self._insert_events = sql.insert_arrays(schema.events, EVENT_COLUMNS, _EVENT_KEY)
        else:
            self._insert_events = sql.insert(schema.events, EVENT_COLUMNS, _EVENT_KEY)
        spans, traces = schema.spans, schema.traces
        self._upsert_spans = sql.insert(
            spans,
            SPAN_COLUMNS,
            ("tenant", "trace_id", "span_id"),
            {
                **{c: sql.coalesce_new(spans, c) for c in SPAN_FILL_COLUMNS},
                "updated_us": "excluded.updated_us",
            },
        )
        self._insert_llm = sql.insert(
            schema.llm_calls, LLM_COLUMNS, ("tenant", "trace_id", "span_id", "sequence_number")
        )
        self._insert_metadata = sql.insert(
            schema.span_metadata, METADATA_COLUMNS, ("tenant", "trace_id", "span_id", "key")
        )
        self._upsert_traces = sql.insert(
            traces,
            TRACE_COLUMNS,
            ("tenant", "trace_id"),
            {
                "start_us": sql.extreme(traces, "start_us", "<"),
                "end_us": sql.extreme(traces, "end_us", ">"),
                "root_span_id": sql.keep_old(traces, "root_span_id"),
                "root_name": sql.keep_old(traces, "root_name"),
                "service_name": sql.keep_old(traces, "service_name"),
                "updated_us": "excluded.updated_us",
            },
        )

    async def write(self, batch: Batch) -> WriteResult:
        """Store ``batch`` all or nothing; returns once the transaction is committed."""
        if not batch.events:
            return WriteResult(0, batch.repeats)
        async with self._store.write() as conn:
            if self._postgresql:
                columns = [list(column) for column in zip(*batch.events, strict=True)]
                result = await conn.exec_driver_sql(self._insert_events, tuple(columns))
                accepted = len(result.all())
            else:
                result = await conn.exec_driver_sql(self._insert_events, batch.events)
                accepted = result.rowcount
            statements: tuple[tuple[str, list[tuple[Any, ...]]], ...] = (
                (self._upsert_spans, batch.spans),
                (self._insert_llm, batch.llm_calls),
                (self._insert_metadata, batch.metadata),
                (self._upsert_traces, batch.traces),
            )
            for statement, rows in statements:
                if rows:
                    await conn.exec_driver_sql(statement, rows)
        return WriteResult(accepted, len(batch.events) - accepted + batch.repeats)

    async def put_content(self, tenant: str, storage_key: str, content: str, now_us: int) -> None:
        """Store (or replace) uploaded content under ``storage_key``."""
        insert = insert_for(self._store.dialect)(schema.contents)
        stmt = insert.values(
            tenant=tenant,
            storage_key=storage_key,
            content=content,
            size=len(content),
            stored_us=now_us,
        ).on_conflict_do_update(
            index_elements=["tenant", "storage_key"],
            set_={
                "content": insert.excluded.content,
                "size": insert.excluded.size,
                "stored_us": insert.excluded.stored_us,
            },
        )
        async with self._store.write() as conn:
            await conn.execute(stmt)

    async def counts(self, tenant: str) -> dict[str, int]:
        """How many events, spans, traces, LLM calls and uploads ``tenant`` has stored."""
        tables = {
            "events": schema.events,
            "spans": schema.spans,
            "traces": schema.traces,
            "llm_calls": schema.llm_calls,
            "contents": schema.contents,
        }
        out: dict[str, int] = {}
        async with self._store.read() as conn:
            for name, table in tables.items():
                result = await conn.execute(
                    select(func.count()).select_from(table).where(table.c.tenant == tenant)
                )
                out[name] = int(result.scalar_one())
        return out
