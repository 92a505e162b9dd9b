"""SQLite only: moving WAL checkpoints out of the commit path.

With SQLite's automatic checkpoints, the commit that crosses the threshold copies the
whole WAL into the database file and fsyncs it, while the client waits for its 2xx.
Here automatic checkpoints are off; after a commit that leaves the WAL larger than
``threshold`` bytes, a checkpoint starts in the background (``PASSIVE``: it never blocks
readers or the writer), on its own connection and thread, while the next batch is being
parsed. A checkpointed WAL is reused from its start and ``journal_size_limit`` cuts the
file back when that happens, so its size is what waits for the next checkpoint (not the
largest it ever was, which would start a checkpoint after every commit). If the WAL ever
grows past ``limit`` (checkpoints cannot keep up), writers wait for the running
checkpoint: the WAL, and the disk it takes, stay bounded.
"""

from __future__ import annotations

import asyncio
import logging
import os
from contextlib import suppress

from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["WalCheckpointer"]

_log = logging.getLogger("moxtrace.server")


class WalCheckpointer:
    """Background checkpoints of one SQLite database's WAL."""

    def __init__(
        self,
        engine: AsyncEngine,
        database_path: str,
        *,
        threshold: int = 32 * 1024 * 1024,
        limit: int = 256 * 1024 * 1024,
    ) -> None:
        self._engine = engine
        self._wal = database_path + "-wal"
        self._threshold = threshold
        self._limit = limit
        self._task: asyncio.Task[None] | None = None
        self.checkpoints = 0
        """Checkpoints run so far."""

    def _wal_size(self) -> int:
        try:
            return os.stat(self._wal).st_size
        except OSError:
            return 0

    def after_commit(self) -> None:
        """Start a background checkpoint if the WAL is over the threshold."""
        if self._task is None and self._wal_size() > self._threshold:
            self._task = asyncio.get_running_loop().create_task(self._checkpoint("PASSIVE"))

    async def before_write(self) -> None:
        """Wait for the running checkpoint when the WAL is over the hard limit."""
        task = self._task
        if task is not None and self._wal_size() > self._limit:
            await asyncio.shield(task)

    async def _checkpoint(self, mode: str) -> None:
        try:
            async with self._engine.connect() as conn:
                await conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})")
            self.checkpoints += 1
        except Exception as exc:  # the next commit tries again
            _log.warning("WAL checkpoint failed: %s", exc)
        finally:
            self._task = None

    async def close(self) -> None:
        """Finish the running checkpoint, then checkpoint everything and truncate the WAL."""
        task = self._task
        if task is not None:
            with suppress(Exception):
                await task
        await self._checkpoint("TRUNCATE")
