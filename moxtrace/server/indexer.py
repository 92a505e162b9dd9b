"""The indexer: writes the spans, LLM calls and metadata derived from committed events.

An ingest request is acknowledged once its events and its traces' rows are committed
(with a ``pending_batches`` row naming the events). The spans, LLM calls and metadata are
derived from those events here (on a worker thread) and written behind the
acknowledgement, in commit order, while the client prepares its next batch. The indexer
gives way to ingest: while ingest requests are at work (their clients wait for a 2xx) it
waits, up to ``max_defer`` s, then writes every batch that queued meanwhile in one
transaction (one commit instead of one per batch). A query waiting for it, or a full
queue, ends the wait at once. Queries first wait (with a deadline) until every batch
acknowledged before them is indexed, so a client reads what it wrote.

After a crash, the pending rows left behind are replayed from the stored events on the
next start; a periodic sweep replays rows that stayed pending (a failed write, or a server
sharing the PostgreSQL database that died). Deriving is idempotent, so replaying twice is
harmless. The queue is bounded, in batches and in events: when it is full, ingest waits
(backpressure), and memory stays bounded whatever the batch sizes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from moxtrace.server.assemble import Derived, EventRows, derive, from_wire
from moxtrace.server.broadcast import Broadcaster
from moxtrace.server.gate import IngestGate
from moxtrace.server.gcpause import gc_paused
from moxtrace.server.offload import off_loop
from moxtrace.server.store import Store
from moxtrace.server.store.telemetry import DerivedBatch
from moxtrace.types.telemetry import TelemetryLogRequest

__all__ = ["Indexer"]

_log = logging.getLogger("moxtrace.server")


def _derive(
    tenant: str, events: Sequence[TelemetryLogRequest], received_us: int, tail: bool
) -> Derived:
    with gc_paused():
        return derive(tenant, [from_wire(e) for e in events], received_us, tail=tail)


@dataclass
class _Job:
    tenant: str
    batch: DerivedBatch | None
    """What to write (None: derived from ``rows`` first, on a worker thread)."""
    pending_id: int | None
    size: int
    """The batch's events (the queue's bound)."""
    rows: EventRows | None = None
    """The committed events, with the trace rows their transaction wrote."""
    numbers: Mapping[str, int] | None = None


class Indexer:
    """One background task writing derived rows, in commit order."""

    def __init__(
        self,
        store: Store,
        broadcaster: Broadcaster,
        *,
        queue_size: int = 4,
        max_queued_events: int = 8192,
        retries: int = 3,
        sweep_interval: float = 60.0,
        yield_to: IngestGate | None = None,
        max_defer: float = 0.1,
        max_coalesce: int = 8,
    ) -> None:
        self._store = store
        self._broadcaster = broadcaster
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(queue_size)
        self._max_events = max_queued_events
        self._queued_events = 0
        self._room = asyncio.Condition()
        self._retries = retries
        self._sweep_interval = sweep_interval
        self._yield_to = yield_to
        self._max_defer = max_defer
        self._max_coalesce = max_coalesce
        self._wanted = asyncio.Event()
        """Set when someone waits for the indexer (a query, a full queue): stop deferring."""
        self._waiters = 0
        self._submitted = 0
        self._done = 0
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[int] = set()
        self._recovered = asyncio.Event()
        self.failed = 0
        """Batches left pending after their retries failed (replayed by the sweep)."""
        self.replayed = 0
        """Pending batches replayed from the store (after a crash, or by the sweep)."""

    def start(self) -> None:
        """Start the worker; it first replays what a previous run left pending."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def tails(self, tenant: str) -> bool:
        """Whether anyone follows ``tenant``'s live tail (derive its summaries, then)."""
        return self._broadcaster.has_subscribers(tenant)

    async def submit(
        self, rows: EventRows, numbers: Mapping[str, int], pending_id: int | None
    ) -> None:
        """Queue a committed batch: its events (``rows``, with the trace rows their
        transaction wrote) and its traces' ``numbers`` (``EventsWritten``); the spans,
        LLM calls and metadata are derived here. Waits while the queue is full."""
        await self._enqueue(_Job(rows.tenant, None, pending_id, len(rows.events), rows, numbers))

    async def _enqueue(self, job: _Job) -> None:
        pending_id, size = job.pending_id, job.size
        if pending_id is not None:
            self._in_flight.add(pending_id)
        self._submitted += 1
        self._waiters += 1
        try:
            async with self._room:
                # Bounded in events too (memory): a batch waits unless the queue is empty.
                def room() -> bool:
                    return (
                        self._queued_events == 0 or self._queued_events + size <= self._max_events
                    )

                if not room() or self._queue.full():
                    self._wanted.set()
                await self._room.wait_for(room)
                self._queued_events += size
            await self._queue.put(job)
        finally:
            self._waiters -= 1

    async def caught_up(self, timeout: float = 10.0) -> bool:
        """Wait until what a previous run left pending and every batch submitted so far are
        indexed; False after ``timeout``."""
        target = self._submitted
        if self._done >= target and self._recovered.is_set():
            return True
        deadline = time.monotonic() + timeout
        self._waiters += 1
        self._wanted.set()
        try:
            await asyncio.wait_for(self._recovered.wait(), timeout)
            async with self._progress:
                await asyncio.wait_for(
                    self._progress.wait_for(lambda: self._done >= target),
                    max(0.0, deadline - time.monotonic()),
                )
        except asyncio.TimeoutError:
            return False
        finally:
            self._waiters -= 1
        return True

    @property
    def backlog(self) -> int:
        """Batches submitted and not yet indexed."""
        return self._submitted - self._done

    async def _finished(self, count: int = 1) -> None:
        self._done += count
        async with self._progress:
            self._progress.notify_all()

    async def _defer(self) -> None:
        """Let the ingest requests at work commit first, for at most ``max_defer`` s.

        Their clients wait for the 2xx; the client of what is queued here already has
        it. Both share one writer (SQLite), and a derived write that takes it just
        before the next request's commit holds that 2xx up for its whole transaction.
        Not when anyone waits for the indexer: a query, or a batch the full queue holds.
        """
        gate = self._yield_to
        if gate is None or self._waiters:
            return
        self._wanted.clear()
        quiet = asyncio.ensure_future(gate.quiet(self._max_defer))
        wanted = asyncio.ensure_future(self._wanted.wait())
        try:
            await asyncio.wait({quiet, wanted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            quiet.cancel()
            wanted.cancel()

    async def _derive(self, jobs: list[_Job]) -> None:
        """Derive the rows of the jobs that came as events, on a worker thread."""
        todo = [(job, job.rows) for job in jobs if job.batch is None and job.rows is not None]
        if not todo:
            return
        tails = {job.tenant: self.tails(job.tenant) for job, _ in todo}

        def build() -> list[Derived]:
            with gc_paused():
                return [
                    derive(
                        rows.tenant,
                        rows.events,
                        rows.received_us,
                        tail=tails[rows.tenant],
                        times=rows.times,
                    )
                    for _, rows in todo
                ]

        derived = await off_loop(sum(job.size for job, _ in todo) * 256, build)
        for (job, rows), batch in zip(todo, derived, strict=True):
            # The events' transaction wrote trace_rows(); a trace whose row derive()
            # completes (a root or time only the spans tell) is written again.
            written = set(rows.traces)
            again = [row for row in batch.traces if row not in written]
            job.batch = DerivedBatch(batch, job.pending_id, job.numbers, again)
            job.rows = None  # the events are not needed any more

    async def _index_together(self, jobs: list[_Job]) -> None:
        """Index ``jobs`` in one transaction; one by one (with retries) if that fails."""
        await self._derive(jobs)
        batches = [job.batch for job in jobs if job.batch is not None]
        if len(batches) > 1:
            try:
                await self._store.telemetry.write_derived_many(batches)
            except Exception as exc:
                _log.warning("indexing %d batches together failed (%s); one by one", len(jobs), exc)
            else:
                for job in jobs:
                    self._publish(job)
                return
        for job in jobs:
            await self._index(job)

    def _publish(self, job: _Job) -> None:
        for message in job.batch.derived.tail if job.batch is not None else ():
            self._broadcaster.publish(job.tenant, "spans", message)

    async def _index(self, job: _Job) -> bool:
        batch = job.batch
        if batch is None:
            return False
        for attempt in range(self._retries + 1):
            try:
                await self._store.telemetry.write_derived_many([batch])
                break
            except Exception as exc:
                if attempt == self._retries:
                    self.failed += 1
                    _log.error(
                        "indexing a batch of %d events failed (%s); the sweep retries it",
                        job.size,
                        exc,
                    )
                    return False
                await asyncio.sleep(0.1 * 2**attempt)
        self._publish(job)
        return True

    async def _replay(self, created_before_us: int | None) -> None:
        for batch in await self._store.telemetry.pending_batches(created_before_us):
            if batch.id in self._in_flight:
                continue
            events = await self._store.telemetry.pending_events(batch)
            build = functools.partial(
                _derive, batch.tenant, events, batch.created_us, self.tails(batch.tenant)
            )
            try:
                derived = await off_loop(len(events) * 256, build)
            except Exception:
                self.failed += 1
                _log.exception("deriving rows from a pending batch failed; it stays pending")
                continue
            replay = DerivedBatch(derived, batch.id)
            job = _Job(batch.tenant, replay, batch.id, len(events))
            await self._index(job)
            self.replayed += 1

    async def _run(self) -> None:
        try:
            await self._replay(None)
        except Exception as exc:
            _log.error("replaying pending batches failed: %s", exc)
        finally:
            self._recovered.set()
        next_sweep = time.monotonic() + self._sweep_interval
        while True:
            try:
                job = await asyncio.wait_for(
                    self._queue.get(), max(0.0, next_sweep - time.monotonic())
                )
            except asyncio.TimeoutError:
                older = int((time.time() - self._sweep_interval) * 1e6)
                with contextlib.suppress(Exception):
                    await self._replay(older)
                next_sweep = time.monotonic() + self._sweep_interval
                continue
            jobs = [job]
            try:
                await self._defer()
                # What queued meanwhile goes in the same transaction: one commit.
                while len(jobs) < self._max_coalesce and not self._queue.empty():
                    jobs.append(self._queue.get_nowait())
                await self._index_together(jobs)
            except Exception:
                self.failed += 1
                _log.exception("indexing a batch failed; it stays pending")
            finally:
                for job in jobs:
                    if job.pending_id is not None:
                        self._in_flight.discard(job.pending_id)
                async with self._room:
                    self._queued_events -= sum(job.size for job in jobs)
                    self._room.notify_all()
                await self._finished(len(jobs))

    async def close(self, timeout: float = 30.0) -> None:
        """Index what is queued (up to ``timeout`` s), then stop; the rest stays pending."""
        task = self._task
        if task is None:
            return
        with contextlib.suppress(Exception):
            await self.caught_up(timeout)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._task = None
