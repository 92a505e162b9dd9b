"""The indexer: writes the spans, LLM calls and metadata derived from committed events.

An ingest request is acknowledged once its events and its traces' rows are committed
(with a ``pending_batches`` row naming the events). The rest of what ingest derived from
them is written here, behind the acknowledgement, one batch at a time in commit order,
while the client prepares its next batch. Queries first wait (with a deadline) until every batch
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

from moxtrace.server.assemble import Derived, derive, from_wire
from moxtrace.server.broadcast import Broadcaster
from moxtrace.server.gcpause import gc_paused
from moxtrace.server.offload import off_loop
from moxtrace.server.store import Store
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
    derived: Derived
    numbers: Mapping[str, int] | None
    """The traces' numbers (None: a replay, whose trace rows are written again)."""
    pending_id: int | None
    size: int
    """The batch's events (the queue's bound)."""


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
    ) -> None:
        self._store = store
        self._broadcaster = broadcaster
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(queue_size)
        self._max_events = max_queued_events
        self._queued_events = 0
        self._room = asyncio.Condition()
        self._retries = retries
        self._sweep_interval = sweep_interval
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
        self,
        tenant: str,
        derived: Derived,
        numbers: Mapping[str, int],
        pending_id: int | None,
        size: int,
    ) -> None:
        """Queue what was derived from a committed batch of ``size`` events, with its
        traces' ``numbers`` (``EventsWritten``); waits while the queue is full."""
        if pending_id is not None:
            self._in_flight.add(pending_id)
        self._submitted += 1
        async with self._room:
            # Bounded in events too (memory): a batch waits unless the queue is empty.
            await self._room.wait_for(
                lambda: self._queued_events == 0 or self._queued_events + size <= self._max_events
            )
            self._queued_events += size
        await self._queue.put(_Job(tenant, derived, numbers, pending_id, size))

    async def caught_up(self, timeout: float = 10.0) -> bool:
        """Wait until what a previous run left pending and every batch submitted so far are
        indexed; False after ``timeout``."""
        target = self._submitted
        if self._done >= target and self._recovered.is_set():
            return True
        deadline = time.monotonic() + timeout
        try:
            await asyncio.wait_for(self._recovered.wait(), timeout)
            async with self._progress:
                await asyncio.wait_for(
                    self._progress.wait_for(lambda: self._done >= target),
                    max(0.0, deadline - time.monotonic()),
                )
        except asyncio.TimeoutError:
            return False
        return True

    @property
    def backlog(self) -> int:
        """Batches submitted and not yet indexed."""
        return self._submitted - self._done

    async def _finished(self) -> None:
        self._done += 1
        async with self._progress:
            self._progress.notify_all()

    async def _index(self, job: _Job) -> bool:
        for attempt in range(self._retries + 1):
            try:
                await self._store.telemetry.write_derived(job.derived, job.pending_id, job.numbers)
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
        for message in job.derived.tail:
            self._broadcaster.publish(job.tenant, "spans", message)
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
            await self._index(_Job(batch.tenant, derived, None, batch.id, len(events)))
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
            try:
                await self._index(job)
            except Exception:
                self.failed += 1
                _log.exception("indexing a batch failed; it stays pending")
            finally:
                if job.pending_id is not None:
                    self._in_flight.discard(job.pending_id)
                async with self._room:
                    self._queued_events -= job.size
                    self._room.notify_all()
                await self._finished()

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
