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


async def _lean_indexes(conn: AsyncConnection) -> None:
    # Indexes the trace filters use (partial ones on spans; span_metadata keyed by key and
    # value), in place of ones they did not. Databases created after this change already
    # have the new shape: every step checks first.
    def apply(sync: Connection) -> None:
        for old in ("ix_spans_prompt", "ix_spans_task", "ix_span_metadata_kv"):
            sync.execute(text(f"DROP INDEX IF EXISTS {old}"))
        for index in schema.spans.indexes:
            index.create(sync, checkfirst=True)
        key = inspect(sync).get_pk_constraint("span_metadata")["constrained_columns"]
        if key[:3] != ["tenant", "key", "value"]:
            sync.execute(text("ALTER TABLE span_metadata RENAME TO span_metadata_old"))
            if sync.dialect.name == "postgresql":
                sync.execute(
                    text(
                        "ALTER TABLE span_metadata_old RENAME CONSTRAINT pk_span_metadata TO pk_old"
                    )
                )
            schema.span_metadata.create(sync)
            sync.execute(
                text(
                    "INSERT INTO span_metadata (tenant, trace_id, span_id, key, value) "
                    "SELECT tenant, trace_id, span_id, key, value FROM span_metadata_old"
                )
            )
            sync.execute(text("DROP TABLE span_metadata_old"))

    await conn.run_sync(apply)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "telemetry, traces and api keys", _initial),
    Migration(2, "prompt registry", _registry),
    Migration(3, "pending batches of the indexer", _pending_batches),
    Migration(4, "indexes for the trace filters", _lean_indexes),
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
