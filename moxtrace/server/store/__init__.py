"""The store: one ``AsyncEngine`` and the areas that use it (telemetry, traces, keys).

``Store.open(url)`` creates the engine and migrates the schema. Writes go through
``Store.write()`` (one transaction; on SQLite one writer at a time, taking the database's
write lock at BEGIN); reads through ``Store.read()``. Each area is a small class over the
store, so a new one (the prompt registry) is one more module and one more attribute.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from moxtrace.server.store import schema
from moxtrace.server.store.checkpoint import WalCheckpointer
from moxtrace.server.store.dialect import insert_for
from moxtrace.server.store.engine import create_engine, describe_url
from moxtrace.server.store.keys import KeyStore
from moxtrace.server.store.migrations import migrate
from moxtrace.server.store.telemetry import (
    DerivedBatch,
    EventsWritten,
    PendingBatch,
    TelemetryStore,
)
from moxtrace.server.store.traces import TraceFilter, TraceQueries

__all__ = [
    "DerivedBatch",
    "EventsWritten",
    "KeyStore",
    "PendingBatch",
    "Store",
    "TelemetryStore",
    "TraceFilter",
    "TraceQueries",
]

_SIGNING_KEY = "url_signing_key"
_T = TypeVar("_T")


def _make_parent(path: str) -> None:
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


class Store:
    """The database behind the server."""

    def __init__(self, engine: AsyncEngine, url: str, writer: AsyncEngine | None = None) -> None:
        self.engine = engine
        self.url = url
        self.dialect = engine.dialect.name
        # SQLite has one writer at a time: writes queue here rather than in busy-waits, on a
        # connection of their own (``writer``: one connection, so its page cache stays warm;
        # another connection's write would make SQLite drop it).
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self._writer = writer or engine
        self._checkpointer: WalCheckpointer | None = None
        database = engine.url.database
        if self._write_lock is not None and database and database != ":memory:":
            self._checkpointer = WalCheckpointer(
                self._writer, engine, os.path.expanduser(database), self._write_lock
            )
        self.telemetry = TelemetryStore(self)
        self.traces = TraceQueries(self)
        self.keys = KeyStore(self)
        self.schema_version = 0

    @classmethod
    async def open(
        cls, url: str, *, sqlite_synchronous: str = "normal", pool_size: int = 8
    ) -> Store:
        """Connect to ``url`` (creating a SQLite file's directory) and migrate the schema."""
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            await asyncio.to_thread(_make_parent, parsed.database)
        engine = create_engine(url, sqlite_synchronous=sqlite_synchronous, pool_size=pool_size)
        writer = None
        if engine.dialect.name == "sqlite":
            writer = create_engine(url, sqlite_synchronous=sqlite_synchronous, pool_size=1)
        store = cls(engine, url, writer)
        try:
            store.schema_version = await migrate(store._writer)
        except BaseException:
            await store._dispose()
            raise
        return store

    @property
    def description(self) -> str:
        """The database URL without its password."""
        return describe_url(self.url)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction, committed when the block exits cleanly."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        checkpointer = self._checkpointer
        async with self._write_lock, self._writer.connect() as conn:
            await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                yield conn
        if checkpointer is not None:
            checkpointer.after_commit()

    async def write_sqlite(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """SQLite only: ``work(connection)`` in one write transaction (``BEGIN IMMEDIATE``,
        committed when it returns, rolled back when it raises), run whole on the driver's
        thread: one thread hand-off for the transaction instead of one per statement (each
        hand-off cost more than the statement's own work). Driver errors come out as
        SQLAlchemy's (``OperationalError``, ``DataError``, ...), as from ``write()``.
        """

        def run(connection: sqlite3.Connection) -> _T:
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(connection)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            return result

        checkpointer = self._checkpointer
        assert self._write_lock is not None, "write_sqlite is for SQLite"
        async with self._write_lock, self._writer.connect() as conn:
            raw = await conn.get_raw_connection()
            # aiosqlite runs every call on the connection's own thread; this queues one.
            driver: Any = raw.driver_connection
            try:
                result: _T = await driver._execute(run, driver._conn)
            except sqlite3.Error as exc:
                raise sa_exc.DBAPIError.instance(
                    None, None, exc, sqlite3.Error, connection_invalidated=False
                ) from exc
        if checkpointer is not None:
            checkpointer.after_commit()
        return result

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reading (one snapshot per transaction)."""
        async with self.engine.connect() as conn:
            yield conn

    async def ping(self) -> bool:
        """Whether the database answers."""
        try:
            async with self.read() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def signing_key(self) -> bytes:
        """The server-wide URL signing key, created on first use."""
        async with self.write() as conn:
            await conn.execute(
                insert_for(self.dialect)(schema.server_state)
                .values(name=_SIGNING_KEY, value=secrets.token_hex(32))
                .on_conflict_do_nothing(index_elements=["name"])
            )
            result = await conn.execute(
                select(schema.server_state.c.value).where(
                    schema.server_state.c.name == _SIGNING_KEY
                )
            )
            return bytes.fromhex(result.scalar_one())

    async def close(self) -> None:
        """Checkpoint the WAL (SQLite) and close every connection."""
        try:
            if self._checkpointer is not None:
                await self._checkpointer.close()
        finally:
            await self._dispose()

    async def _dispose(self) -> None:
        try:
            await self.engine.dispose()
        finally:
            if self._writer is not self.engine:
                await self._writer.dispose()
