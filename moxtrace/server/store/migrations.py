"""Schema migrations: numbered steps, each applied once, recorded in ``schema_migrations``.

To change the schema, append a ``Migration`` (never edit an applied one). Steps run in one
transaction each, under a lock (PostgreSQL advisory lock; SQLite ``BEGIN IMMEDIATE``), so
several servers starting at once on one database migrate it exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import Connection, insert, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from moxtrace.server.store import schema

__all__ = ["MIGRATIONS", "Migration", "current_version", "migrate"]

_LOCK_ID = 0x6D6F787472616365 & 0x7FFFFFFFFFFFFFFF  # "moxtrace"


@dataclass(frozen=True)
class Migration:
    """One schema change."""

    version: int
    name: str
    apply: Callable[[AsyncConnection], Awaitable[None]]


async def _initial(conn: AsyncConnection) -> None:
    tables = [
        schema.server_state,
        schema.api_keys,
        schema.events,
        schema.spans,
        schema.llm_calls,
        schema.traces,
        schema.span_metadata,
        schema.contents,
    ]
    await conn.run_sync(lambda sync: schema.metadata.create_all(sync, tables=tables))


async def _registry(conn: AsyncConnection) -> None:
    from moxtrace.server.registry.tables import create_tables

    await create_tables(conn)


async def _pending_batches(conn: AsyncConnection) -> None:
    tables = [schema.pending_batches]
    await conn.run_sync(lambda sync: schema.metadata.create_all(sync, tables=tables))


_V4_METADATA = """CREATE TABLE span_metadata (
    tenant VARCHAR(64) NOT NULL, trace_id VARCHAR(32) NOT NULL, span_id VARCHAR(16) NOT NULL,
    key VARCHAR(128) NOT NULL, value VARCHAR(256) NOT NULL,
    CONSTRAINT pk_span_metadata_kv PRIMARY KEY (tenant, key, value, trace_id, span_id))"""


def _columns(sync: Connection, table: str) -> set[str]:
    return {column["name"] for column in inspect(sync).get_columns(table)}


async def _lean_indexes(conn: AsyncConnection) -> None:
    # Indexes the trace filters use (partial ones on spans; span_metadata keyed by key and
    # value), in place of ones they did not. Written out as they were at version 4 (a later
    # version changed these tables); databases created since already have a newer shape.
    def apply(sync: Connection) -> None:
        if "trace_seq" in _columns(sync, "spans"):
            return
        for old in ("ix_spans_prompt", "ix_spans_task", "ix_span_metadata_kv"):
            sync.execute(text(f"DROP INDEX IF EXISTS {old}"))
        for column in ("prompt_id", "task_id"):
            name = column.split("_")[0]
            sync.execute(
                text(
                    f"CREATE INDEX IF NOT EXISTS ix_spans_{name}_trace ON spans"
                    f" (tenant, {column}, trace_id) WHERE {column} IS NOT NULL"
                )
            )
        key = inspect(sync).get_pk_constraint("span_metadata")["constrained_columns"]
        if key[:3] != ["tenant", "key", "value"]:
            sync.execute(text("ALTER TABLE span_metadata RENAME TO span_metadata_old"))
            if sync.dialect.name == "postgresql":
                sync.execute(
                    text(
                        "ALTER TABLE span_metadata_old RENAME CONSTRAINT pk_span_metadata TO pk_old"
                    )
                )
            sync.execute(text(_V4_METADATA))
            sync.execute(
                text(
                    "INSERT INTO span_metadata (tenant, trace_id, span_id, key, value) "
                    "SELECT tenant, trace_id, span_id, key, value FROM span_metadata_old"
                )
            )
            sync.execute(text("DROP TABLE span_metadata_old"))

    await conn.run_sync(apply)


_V4_CONSTRAINTS = {
    "traces": "pk_traces",
    "spans": "pk_spans",
    "llm_calls": "pk_llm_calls",
    "span_metadata": "pk_span_metadata_kv",
}


async def _trace_numbers(conn: AsyncConnection) -> None:
    # traces get a number in arrival order (trace_seq); spans, LLM calls and metadata are
    # keyed by it (see schema.py). Tables of version 4 are renamed, the new ones created
    # (as schema.py has them: when these tables change again, write this step's DDL out, as
    # _lean_indexes does) and filled from the old ones, traces in start order.
    def apply(sync: Connection) -> None:
        if "trace_seq" in _columns(sync, "traces"):
            return
        postgresql = sync.dialect.name == "postgresql"
        for index in ("ix_traces_start", "ix_spans_prompt_trace", "ix_spans_task_trace"):
            sync.execute(text(f"DROP INDEX IF EXISTS {index}"))
        for table, constraint in _V4_CONSTRAINTS.items():
            sync.execute(text(f"ALTER TABLE {table} RENAME TO {table}_v4"))
            if postgresql:
                sync.execute(
                    text(f"ALTER TABLE {table}_v4 RENAME CONSTRAINT {constraint} TO {table}_v4_pk")
                )
        tables = [schema.traces, schema.spans, schema.llm_calls, schema.span_metadata]
        schema.metadata.create_all(sync, tables=tables)
        trace_columns = (
            "tenant, trace_id, start_us, end_us, root_span_id, root_name, service_name, updated_us"
        )
        sync.execute(
            text(
                f"INSERT INTO traces ({trace_columns}) SELECT {trace_columns} FROM traces_v4"
                " ORDER BY start_us, trace_id"
            )
        )
        # A span whose trace row is missing (none should be) gets one, from its times.
        sync.execute(
            text(
                f"INSERT INTO traces ({trace_columns}) SELECT s.tenant, s.trace_id,"
                " min(coalesce(s.start_us, s.end_us, 0)), max(coalesce(s.end_us, s.start_us, 0)),"
                " NULL, NULL, NULL, max(s.updated_us) FROM spans_v4 s WHERE NOT EXISTS"
                " (SELECT 1 FROM traces t WHERE t.tenant = s.tenant AND t.trace_id = s.trace_id)"
                " GROUP BY s.tenant, s.trace_id"
            )
        )
        for table in ("spans", "llm_calls", "span_metadata"):
            columns = ", ".join(
                f'"{c.name}"'
                for c in schema.metadata.tables[table].columns
                if c.name != "trace_seq"
            )
            old = ", ".join(
                f'o."{c.name}"'
                for c in schema.metadata.tables[table].columns
                if c.name != "trace_seq"
            )
            sync.execute(
                text(
                    f"INSERT INTO {table} (trace_seq, {columns}) SELECT t.trace_seq, {old}"
                    f" FROM {table}_v4 o JOIN traces t"
                    " ON t.tenant = o.tenant AND t.trace_id = o.trace_id"
                )
            )
        for table in _V4_CONSTRAINTS:
            sync.execute(text(f"DROP TABLE {table}_v4"))

    await conn.run_sync(apply)


_V5_EVENT_COLUMNS = (
    "id, tenant, trace_id, span_id, event_type, sequence_number, event_id, ts_us,"
    " parent_span_id, content_storage_key, body, received_us"
)


async def _events_by_trace_number(conn: AsyncConnection) -> None:
    # events are keyed by their trace's number too (see schema.py). Version 5's table is
    # renamed, the new one created (as schema.py has it: when events changes again, write
    # this step's DDL out) and filled with the same ids (pending_batches names id ranges);
    # events whose trace has no row yet (a batch not indexed) get one from their times.
    def apply(sync: Connection) -> None:
        if "trace_seq" in _columns(sync, "events"):
            return
        postgresql = sync.dialect.name == "postgresql"
        sync.execute(text("ALTER TABLE events RENAME TO events_v5"))
        if postgresql:
            sync.execute(
                text("ALTER TABLE events_v5 RENAME CONSTRAINT events_pkey TO events_v5_pk")
            )
            sequence = sync.execute(
                text("SELECT pg_get_serial_sequence('events_v5', 'id')")
            ).scalar_one()
            if sequence:
                sync.execute(text(f"ALTER SEQUENCE {sequence} RENAME TO events_v5_id_seq"))
        schema.metadata.create_all(sync, tables=[schema.events])
        sync.execute(
            text(
                "INSERT INTO traces (tenant, trace_id, start_us, end_us, root_span_id,"
                " root_name, service_name, updated_us) SELECT e.tenant, e.trace_id,"
                " min(e.ts_us), max(e.ts_us), NULL, NULL, NULL, max(e.received_us)"
                " FROM events_v5 e WHERE NOT EXISTS (SELECT 1 FROM traces t"
                " WHERE t.tenant = e.tenant AND t.trace_id = e.trace_id)"
                " GROUP BY e.tenant, e.trace_id"
            )
        )
        old = ", ".join(f"e.{c.strip()}" for c in _V5_EVENT_COLUMNS.split(","))
        sync.execute(
            text(
                f"INSERT INTO events (trace_seq, {_V5_EVENT_COLUMNS}) SELECT t.trace_seq, {old}"
                " FROM events_v5 e JOIN traces t"
                " ON t.tenant = e.tenant AND t.trace_id = e.trace_id ORDER BY e.id"
            )
        )
        if postgresql:
            sync.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('events', 'id'),"
                    " coalesce((SELECT max(id) FROM events), 0) + 1, false)"
                )
            )
        sync.execute(text("DROP TABLE events_v5"))

    await conn.run_sync(apply)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "telemetry, traces and api keys", _initial),
    Migration(2, "prompt registry", _registry),
    Migration(3, "pending batches of the indexer", _pending_batches),
    Migration(4, "indexes for the trace filters", _lean_indexes),
    Migration(5, "spans, LLM calls and metadata keyed by trace number", _trace_numbers),
    Migration(6, "events keyed by trace number", _events_by_trace_number),
)
"""Every migration, in order."""


async def current_version(conn: AsyncConnection) -> int:
    """The highest applied version (0 for an empty database)."""
    await conn.run_sync(
        lambda sync: schema.metadata.create_all(sync, tables=[schema.schema_migrations])
    )
    result = await conn.execute(select(schema.schema_migrations.c.version))
    return max((row[0] for row in result), default=0)


async def migrate(engine: AsyncEngine, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply what is missing; return the schema version now in place."""
    async with engine.connect() as conn:
        await conn.execution_options(sqlite_begin="IMMEDIATE")
        await conn.begin()
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        version = await current_version(conn)
        for step in migrations:
            if step.version <= version:
                continue
            await step.apply(conn)
            await conn.execute(
                insert(schema.schema_migrations).values(
                    version=step.version, name=step.name, applied_us=int(time.time() * 1e6)
                )
            )
            version = step.version
        await conn.commit()
    return version
