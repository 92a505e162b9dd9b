"""Writing telemetry: a batch's events (acknowledged once committed), then what is derived
from them (by the indexer), and content uploaded through signed URLs.

``write_events`` stores the events of a batch, its traces' rows (which give each trace its
number) and a ``pending_batches`` row naming the events, in one transaction: once it
returns, the batch is durable and the client gets its 2xx. ``write_derived_many`` stores the
spans, LLM calls and metadata assembled from those events (keyed by the numbers
``write_events`` returned; a replay upserts the traces again to learn them) and deletes
the pending row, in one transaction. A crash in between leaves the
pending row; ``pending_batches`` and ``pending_events`` let the indexer finish the job
after a restart.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from moxtrace.server.assemble import (
    EVENT_COLUMNS,
    LLM_COLUMNS,
    METADATA_COLUMNS,
    SPAN_COLUMNS,
    SPAN_FILL_COLUMNS,
    TRACE_COLUMNS,
    Derived,
    EventRows,
    restore_event,
)
from moxtrace.server.store import schema
from moxtrace.server.store.dialect import SqlBuilder, insert_for
from moxtrace.types.telemetry import TelemetryLogRequest

if TYPE_CHECKING:
    from moxtrace.server.store import Store

__all__ = ["DerivedBatch", "EventsWritten", "PendingBatch", "TelemetryStore"]

_log = logging.getLogger("moxtrace.server")
_EVENT_KEY = ("trace_seq", "span_id", "event_type", "sequence_number")


class _Rows:
    """Writes rows of one table: ``executemany`` (PostgreSQL) or multi-row ``VALUES`` (SQLite,
    on the driver's thread)."""

    def __init__(
        self,
        sql: SqlBuilder,
        table: Table,
        columns: Sequence[str],
        conflict: Sequence[str],
        update: Mapping[str, str] | None = None,
    ) -> None:
        self._single = sql.insert(table, columns, conflict, update)
        self._values = (
            None if sql.postgresql else sql.insert_values(table, columns, conflict, update)
        )

    async def write(self, conn: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
        """PostgreSQL: write ``rows`` (one ``executemany``)."""
        if rows:
            await conn.exec_driver_sql(self._single, rows)

    def write_sqlite(self, connection: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> int:
        """SQLite, on the driver's thread (``Store.write_sqlite``): write ``rows``; how many
        were inserted or updated."""
        assert self._values is not None
        changed = 0
        for statement, parameters in self._values.statements(rows):
            changed += connection.execute(statement, parameters).rowcount
        return changed


def _numbered(numbers: Mapping[str, int], rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Derived rows (tenant, trace_id, ...) as stored: their trace's number first."""
    return [(numbers[row[1]], *row) for row in rows]


@dataclass
class EventsWritten:
    """What ``write_events`` committed: new events, repeats skipped, the pending row."""

    accepted: int
    duplicates: int
    pending_id: int | None = None
    """The ``pending_batches`` row to hand to ``write_derived_many`` (None: nothing new)."""
    trace_numbers: dict[str, int] = field(default_factory=dict)
    """The number (``trace_seq``) of each of the batch's traces, by trace id."""


@dataclass(frozen=True)
class DerivedBatch:
    """What ``write_derived_many`` stores for one batch."""

    derived: Derived
    pending_id: int | None
    """The batch's ``pending_batches`` row, deleted with the write (None: there is none)."""
    numbers: Mapping[str, int] | None = None
    """The traces' numbers (``EventsWritten.trace_numbers``); None: upsert the traces."""
    traces: Sequence[tuple[Any, ...]] = ()
    """Trace rows (``TRACE_COLUMNS``) to upsert again, with ``numbers``: what the
    events' transaction could not tell of them."""


@dataclass(frozen=True)
class PendingBatch:
    """A batch whose derived rows are not stored yet."""

    id: int
    tenant: str
    first_event_id: int
    last_event_id: int
    created_us: int


class TelemetryStore:
    """Events in; spans, LLM calls, traces and metadata derived from them."""

    def __init__(self, store: Store) -> None:
        self._store = store
        sql = SqlBuilder(store.engine.dialect)
        self._postgresql = sql.postgresql
        # Events, spans, LLM calls and metadata are keyed by the trace's number (schema.py):
        # their rows are (trace_seq, *row as built).
        event_columns = ("trace_seq", *EVENT_COLUMNS)
        self._insert_event_arrays = sql.insert_arrays(
            schema.events, event_columns, _EVENT_KEY, returning=("id",)
        )
        self._insert_events = _Rows(sql, schema.events, event_columns, _EVENT_KEY)
        self._insert_pending = (
            'INSERT INTO "pending_batches" ("tenant", "first_event_id", "last_event_id",'
            ' "created_us") VALUES (?, ?, ?, ?)'
        )
        spans, traces = schema.spans, schema.traces
        self._upsert_spans = _Rows(
            sql,
            spans,
            ("trace_seq", *SPAN_COLUMNS),
            ("trace_seq", "span_id"),
            {
                **{c: sql.coalesce_new(spans, c) for c in SPAN_FILL_COLUMNS},
                "updated_us": "excluded.updated_us",
            },
        )
        self._insert_llm = _Rows(
            sql,
            schema.llm_calls,
            ("trace_seq", *LLM_COLUMNS),
            ("trace_seq", "span_id", "sequence_number"),
        )
        self._insert_metadata = _Rows(
            sql,
            schema.span_metadata,
            ("trace_seq", *METADATA_COLUMNS),
            ("tenant", "key", "value", "trace_seq", "span_id"),
        )
        trace_update = {
            "start_us": sql.extreme(traces, "start_us", "<"),
            "end_us": sql.extreme(traces, "end_us", ">"),
            "root_span_id": sql.keep_old(traces, "root_span_id"),
            "root_name": sql.keep_old(traces, "root_name"),
            "service_name": sql.keep_old(traces, "service_name"),
            "updated_us": "excluded.updated_us",
        }
        numbers = ("trace_id", "trace_seq")
        trace_key = ("tenant", "trace_id")
        # Every row's trace_id and trace_seq, new or updated: the numbers the other rows use.
        self._upsert_trace_arrays = sql.insert_arrays(
            traces, TRACE_COLUMNS, trace_key, numbers, trace_update
        )
        self._upsert_traces = (
            None
            if sql.postgresql
            else sql.insert_values(traces, TRACE_COLUMNS, trace_key, trace_update, numbers)
        )

    async def write_events(self, batch: EventRows) -> EventsWritten:
        """Store the batch's events all or nothing; durable when this returns."""
        if not batch.rows:
            return EventsWritten(0, batch.repeats)
        if self._postgresql:
            return await self._write_events_postgresql(batch)
        insert_events, insert_pending = self._insert_events, self._insert_pending

        def write(connection: sqlite3.Connection) -> EventsWritten:
            numbers = self._trace_numbers_sqlite(connection, batch.traces)
            accepted = insert_events.write_sqlite(connection, _numbered(numbers, batch.rows))
            duplicates = len(batch.rows) - accepted + batch.repeats
            if not accepted:
                return EventsWritten(0, duplicates, None, numbers)
            # One writer, one transaction: the new rows' rowids are consecutive.
            last = connection.execute("SELECT last_insert_rowid()").fetchone()[0]
            cursor = connection.execute(
                insert_pending, (batch.tenant, last - accepted + 1, last, int(time.time() * 1e6))
            )
            return EventsWritten(accepted, duplicates, cursor.lastrowid, numbers)

        return await self._store.write_sqlite(write)

    async def _write_events_postgresql(self, batch: EventRows) -> EventsWritten:
        pending = schema.pending_batches
        async with self._store.write() as conn:
            numbers = await self._trace_numbers_postgresql(conn, batch.traces)
            rows = _numbered(numbers, batch.rows)
            columns = [list(column) for column in zip(*rows, strict=True)]
            result = await conn.exec_driver_sql(self._insert_event_arrays, tuple(columns))
            ids = [row[0] for row in result]
            accepted = len(ids)
            pending_id = None
            if accepted:
                inserted = await conn.execute(
                    insert(pending)
                    .values(
                        tenant=batch.tenant,
                        first_event_id=min(ids),
                        last_event_id=max(ids),
                        created_us=int(time.time() * 1e6),
                    )
                    .returning(pending.c.id)
                )
                pending_id = int(inserted.scalar_one())
        duplicates = len(batch.rows) - accepted + batch.repeats
        return EventsWritten(accepted, duplicates, pending_id, numbers)

    async def write_derived_many(self, batches: Sequence[DerivedBatch]) -> None:
        """Store what was derived from ``batches`` and forget their pending rows, in one
        transaction (one commit), in order: each batch's rows are applied as if it had been
        written alone after the previous. A batch without ``numbers`` (a replay) upserts its
        ``derived.traces``, which gives them."""
        if not self._postgresql:
            await self._store.write_sqlite(
                lambda connection: self._derived_sqlite(connection, batches)
            )
            return
        async with self._store.write() as conn:
            for batch in batches:
                numbers = batch.numbers
                if numbers is None:
                    numbers = await self._trace_numbers_postgresql(conn, batch.derived.traces)
                elif batch.traces:
                    await self._trace_numbers_postgresql(conn, list(batch.traces))
                derived = batch.derived
                await self._upsert_spans.write(conn, _numbered(numbers, derived.spans))
                await self._insert_llm.write(conn, _numbered(numbers, derived.llm_calls))
                await self._insert_metadata.write(conn, _numbered(numbers, derived.metadata))
            pending_ids = [b.pending_id for b in batches if b.pending_id is not None]
            if pending_ids:
                await conn.execute(
                    delete(schema.pending_batches).where(
                        schema.pending_batches.c.id.in_(pending_ids)
                    )
                )

    async def _trace_numbers_postgresql(
        self, conn: AsyncConnection, traces: list[tuple[Any, ...]]
    ) -> dict[str, int]:
        """Upsert ``traces`` (``TRACE_COLUMNS``); their numbers by trace id."""
        if not traces:
            return {}
        columns = tuple(list(c) for c in zip(*traces, strict=True))
        result = await conn.exec_driver_sql(self._upsert_trace_arrays, columns)
        returned: list[Any] = list(result)
        return {row[0]: row[1] for row in returned}

    def _trace_numbers_sqlite(
        self, connection: sqlite3.Connection, traces: list[tuple[Any, ...]]
    ) -> dict[str, int]:
        """Upsert ``traces`` (``TRACE_COLUMNS``); their numbers by trace id."""
        assert self._upsert_traces is not None
        numbers: dict[str, int] = {}
        for statement, parameters in self._upsert_traces.statements(traces):
            numbers.update(connection.execute(statement, parameters).fetchall())
        return numbers

    def _derived_sqlite(
        self, connection: sqlite3.Connection, batches: Sequence[DerivedBatch]
    ) -> None:
        # One statement per table for all the batches: rows in batch order, so an upsert
        # of a span sent in two batches applies them in the order they were committed.
        spans: list[tuple[Any, ...]] = []
        llm_calls: list[tuple[Any, ...]] = []
        metadata: list[tuple[Any, ...]] = []
        for batch in batches:
            numbers = batch.numbers
            if numbers is None:
                numbers = self._trace_numbers_sqlite(connection, batch.derived.traces)
            elif batch.traces:
                self._trace_numbers_sqlite(connection, list(batch.traces))
            spans += _numbered(numbers, batch.derived.spans)
            llm_calls += _numbered(numbers, batch.derived.llm_calls)
            metadata += _numbered(numbers, batch.derived.metadata)
        self._upsert_spans.write_sqlite(connection, spans)
        self._insert_llm.write_sqlite(connection, llm_calls)
        self._insert_metadata.write_sqlite(connection, metadata)
        connection.executemany(
            'DELETE FROM "pending_batches" WHERE "id" = ?',
            [(b.pending_id,) for b in batches if b.pending_id is not None],
        )

    async def pending_batches(self, created_before_us: int | None = None) -> list[PendingBatch]:
        """Batches whose derived rows are missing, oldest first."""
        pending = schema.pending_batches
        query = select(pending).order_by(pending.c.id)
        if created_before_us is not None:
            query = query.where(pending.c.created_us < created_before_us)
        async with self._store.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            PendingBatch(r.id, r.tenant, r.first_event_id, r.last_event_id, r.created_us)
            for r in rows
        ]

    async def pending_events(self, batch: PendingBatch) -> list[TelemetryLogRequest]:
        """The events of a pending batch, read back and validated again, in key order."""
        ev = schema.events.c
        query = (
            select(
                ev.event_id,
                ev.trace_id,
                ev.span_id,
                ev.event_type,
                ev.sequence_number,
                ev.ts_us,
                ev.parent_span_id,
                ev.content_storage_key,
                ev.body,
            )
            .where(
                ev.id >= batch.first_event_id,
                ev.id <= batch.last_event_id,
                ev.tenant == batch.tenant,
            )
            .order_by(ev.trace_id, ev.span_id, ev.event_type, ev.sequence_number)
        )
        async with self._store.read() as conn:
            rows = (await conn.execute(query)).all()
        events = []
        for row in rows:
            try:
                events.append(
                    TelemetryLogRequest.model_validate(
                        restore_event(
                            event_id=row.event_id,
                            trace_id=row.trace_id,
                            span_id=row.span_id,
                            event_type=row.event_type,
                            sequence_number=row.sequence_number,
                            ts_us=row.ts_us,
                            parent_span_id=row.parent_span_id,
                            content_storage_key=row.content_storage_key,
                            body=orjson.loads(row.body),
                        )
                    )
                )
            except (ValidationError, ValueError) as exc:
                _log.warning("skipping stored event %s: %s", row.event_id, exc)
        return events

    async def put_content(self, tenant: str, storage_key: str, content: str, now_us: int) -> None:
        """Store (or replace) uploaded content under ``storage_key``."""
        insert_ = insert_for(self._store.dialect)(schema.contents)
        stmt = insert_.values(
            tenant=tenant,
            storage_key=storage_key,
            content=content,
            size=len(content),
            stored_us=now_us,
        ).on_conflict_do_update(
            index_elements=["tenant", "storage_key"],
            set_={
                "content": insert_.excluded.content,
                "size": insert_.excluded.size,
                "stored_us": insert_.excluded.stored_us,
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
