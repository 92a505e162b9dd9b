"""Creating the ``AsyncEngine``: SQLite (WAL, one file in the data directory) or PostgreSQL.

SQLite connections are set up so that SQLAlchemy, not the driver, begins transactions
(the driver's implicit BEGIN would make schema changes non-transactional); a connection
with the execution option ``sqlite_begin="IMMEDIATE"`` takes the write lock at BEGIN,
waiting up to ``busy_timeout`` for another process (``moxtrace keys create``) to finish.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["create_engine", "describe_url"]

_BUSY_TIMEOUT_MS = 10_000


def describe_url(url: str) -> str:
    """``url`` with any password hidden, for printing."""
    return make_url(url).render_as_string(hide_password=True)


def create_engine(
    url: str, *, sqlite_synchronous: str = "normal", pool_size: int = 8
) -> AsyncEngine:
    """An engine for ``url``: ``sqlite+aiosqlite:///PATH`` or ``postgresql+asyncpg://...``."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.drivername != "sqlite+aiosqlite":
            parsed = parsed.set(drivername="sqlite+aiosqlite")
        engine = create_async_engine(parsed, pool_size=pool_size, max_overflow=0)
        _setup_sqlite(engine, sqlite_synchronous)
        return engine
    if backend == "postgresql":
        if parsed.drivername != "postgresql+asyncpg":
            parsed = parsed.set(drivername="postgresql+asyncpg")
        return create_async_engine(
            parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
    raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")


WAL_KEEP_BYTES = 4 * 1024 * 1024
"""SQLite: what a WAL file is cut back to once checkpointed and reused."""


def _setup_sqlite(engine: AsyncEngine, synchronous: str) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Let SQLAlchemy emit BEGIN (see _on_begin), not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # see store/checkpoint.py
        # A checkpointed WAL is reused from its start; this cuts the file back when that
        # happens, so its size tells how much is waiting (store/checkpoint.py).
        cursor.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute("PRAGMA cache_size=-16000")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
