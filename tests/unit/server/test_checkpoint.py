"""WAL checkpoints behind the commits (SQLite): the WAL stays near its threshold."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from moxtrace.server.assemble import committed_rows
from moxtrace.server.payloads import validate_events
from moxtrace.server.store import Store
from tests.support.server import new_span_id, new_trace_id, span_events

THRESHOLD = 512 * 1024


def size(path: Path) -> int:
    return os.path.getsize(path) if os.path.exists(path) else 0


async def write_batch(store: Store, spans: int = 50) -> None:
    events = []
    for _ in range(spans):
        events += span_events(new_trace_id(), new_span_id(), content={"text": "x" * 2000})
    rows = committed_rows("t", validate_events(events), int(time.time() * 1e6))
    written = await store.telemetry.write_events(rows)
    assert written.accepted == len(events)


async def test_checkpoints_keep_the_wal_near_its_threshold_and_lose_nothing(
    tmp_path: Path,
) -> None:
    database = tmp_path / "store.db"
    wal = Path(f"{database}-wal")
    store = await Store.open(f"sqlite+aiosqlite:///{database}")
    checkpointer = store._checkpointer
    assert checkpointer is not None
    checkpointer._threshold = THRESHOLD
    largest = 0
    try:
        for _ in range(60):  # about 20 MB of events
            await write_batch(store)
            await asyncio.sleep(0.01)  # the checkpoint runs behind the commit
            largest = max(largest, size(wal))
        assert checkpointer.checkpoints >= 5
        # The WAL is reused from its start once checkpointed, not left to grow.
        assert largest < 4 * THRESHOLD
        assert (await store.telemetry.counts("t"))["events"] == 60 * 50 * 2
    finally:
        await store.close()
    assert size(wal) == 0  # closing checkpoints everything and truncates it
    store = await Store.open(f"sqlite+aiosqlite:///{database}")
    try:
        assert (await store.telemetry.counts("t"))["events"] == 60 * 50 * 2
    finally:
        await store.close()
