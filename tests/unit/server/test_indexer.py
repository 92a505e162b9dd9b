"""The indexer: derived rows after the acknowledgement, replayed after a crash."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from moxtrace.server.assemble import batch_rows, event_rows
from moxtrace.server.broadcast import Broadcaster
from moxtrace.server.indexer import Indexer
from moxtrace.server.payloads import validate_events
from moxtrace.server.store import Store
from tests.support.server import new_span_id, new_trace_id, span_events


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"


async def acknowledge(store: Store, spans: int = 3) -> int:
    """Write a batch's events the way ingest does, without indexing it."""
    trace_id = new_trace_id()
    events = [e for _ in range(spans) for e in span_events(trace_id, new_span_id())]
    rows = event_rows("t", validate_events(events), int(time.time() * 1e6))
    written = await store.telemetry.write_events(rows)
    assert written.accepted == len(events) and written.pending_id is not None
    return written.pending_id


async def test_a_crash_before_indexing_is_repaired_on_the_next_start(url: str) -> None:
    store = await Store.open(url)
    pending = await acknowledge(store)
    assert [b.id for b in await store.telemetry.pending_batches()] == [pending]
    assert (await store.telemetry.counts("t"))["spans"] == 0
    await store.close()  # the crash: the events are stored, nothing derived from them

    store = await Store.open(url)
    indexer = Indexer(store, Broadcaster())
    indexer.start()
    try:
        assert await indexer.caught_up(timeout=10)
        assert (await store.telemetry.counts("t"))["spans"] == 3
        assert (await store.telemetry.counts("t"))["traces"] == 1
        assert await store.telemetry.pending_batches() == []
        assert indexer.replayed == 1
    finally:
        await indexer.close()
        await store.close()


async def test_submitted_batches_are_indexed_in_order_and_announced(url: str) -> None:
    store = await Store.open(url)
    hub = Broadcaster()
    indexer = Indexer(store, hub, queue_size=1)
    indexer.start()
    try:
        with hub.subscribe("t") as sub:
            trace_ids = []
            for _ in range(5):
                trace_id = new_trace_id()
                trace_ids.append(trace_id)
                events = validate_events(span_events(trace_id, new_span_id()))
                rows, derived = batch_rows("t", events, 1, tail=True)
                written = await store.telemetry.write_events(rows)
                await indexer.submit(
                    "t", derived, written.trace_numbers, written.pending_id, len(rows.events)
                )
            assert await indexer.caught_up(timeout=10)
            assert indexer.backlog == 0
            frames = list(sub._frames)
        assert len(frames) == len(trace_ids)
        for frame, trace_id in zip(frames, trace_ids, strict=True):
            assert trace_id in frame.decode()
        assert (await store.telemetry.counts("t"))["spans"] == 5
        assert await store.telemetry.pending_batches() == []
    finally:
        await indexer.close()
        await store.close()


async def test_the_sweep_replays_batches_left_pending(url: str) -> None:
    store = await Store.open(url)
    indexer = Indexer(store, Broadcaster(), sweep_interval=0.05)
    indexer.start()
    try:
        assert await indexer.caught_up(timeout=10)
        await acknowledge(store, spans=2)  # never submitted: as if its indexing had failed
        deadline = time.monotonic() + 10
        while (await store.telemetry.counts("t"))["spans"] != 2:
            assert time.monotonic() < deadline, "the sweep did not replay the batch"
            await asyncio.sleep(0.02)
    finally:
        await indexer.close()
        await store.close()
