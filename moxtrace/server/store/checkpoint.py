"""SQLite only: moving WAL checkpoints out of the commit path.

With SQLite's automatic checkpoints, the commit that crosses the threshold copies the
whole WAL into the database file and fsyncs it, while the client waits for its 2xx.
Here automatic checkpoints are off; after a commit that leaves the WAL larger than
``threshold`` bytes, a checkpoint starts behind it, in two ``PASSIVE`` steps (neither
blocks readers, and the commit's client already has its 2xx):

1. on a reader's connection, beside the writer: it copies the bulk of the WAL while
   ingest goes on, then again what was committed meanwhile (up to ``passes`` times,
   until less than ``settle_frames`` frames came in during a pass);
2. between two write transactions (it takes the store's write lock, on the writer's
   connection): it copies what was committed during the first step, so every frame is
   copied and the next write starts the WAL again from its beginning
   (``journal_size_limit`` cuts the file back).

The WAL stays about ``threshold`` in size. A checkpoint beside the writer alone never
catches up with it: the WAL is never reset, keeps growing, and every commit starts
another checkpoint (measured at 129 checkpoints per 150 batches against 14, and a
quarter more CPU per batch). A checkpoint between writes alone holds ingest up while it
copies the whole WAL (about 100 ms for 32 MB here). One pass beside the writer left
500-1,000 frames (2-4 MB) for the second step, which held ingest up for 35-45 ms every
32 MB; each further pass copies only what came in during the one before.
"""

from __future__ import annotations

import asyncio
import logging
import os
from contextlib import suppress
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["WalCheckpointer"]

_log = logging.getLogger("moxtrace.server")


class WalCheckpointer:
    """Background checkpoints of one SQLite database's WAL."""

    def __init__(
        self,
        engine: AsyncEngine,
        readers: AsyncEngine,
        database_path: str,
        write_lock: asyncio.Lock,
        *,
        threshold: int = 32 * 1024 * 1024,
        passes: int = 4,
        settle_frames: int = 128,
    ) -> None:
        self._engine = engine
        self._readers = readers
        self._wal = database_path + "-wal"
        self._lock = write_lock
        self._threshold = threshold
        self._passes = passes
        self._settle_frames = settle_frames
        self._task: asyncio.Task[None] | None = None
        self.checkpoints = 0
        """Checkpoints run so far."""

    def _wal_size(self) -> int:
        try:
            return os.stat(self._wal).st_size
        except OSError:
            return 0

    def after_commit(self) -> None:
        """Queue a checkpoint behind the commit if the WAL is over the threshold."""
        if self._task is None and self._wal_size() > self._threshold:
            self._task = asyncio.get_running_loop().create_task(self._checkpoint("PASSIVE"))

    async def _checkpoint(self, mode: str) -> None:
        try:
            if mode == "PASSIVE":
                async with self._readers.connect() as conn:
                    seen = None
                    for _ in range(self._passes):
                        result = await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                        row: Any = result.one()  # (busy, frames in the WAL, frames copied)
                        frames = int(row[1])
                        if seen is not None and frames - seen < self._settle_frames:
                            break
                        seen = frames
            async with self._lock, self._engine.connect() as conn:
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
