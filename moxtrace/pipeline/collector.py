"""``Collector``: the delivery core every source feeds — process, deliver, acknowledge.

::

    source (Kafka records, OTLP/HTTP requests)
      └─ submit(records) ── worker thread: decode, reassemble, plugins (BatchProcessor)
           └─ delivery task (at most max_inflight_batches at once)
                ├─ dead letters ──────────────► the source's dead-letter topic
                └─ spans, in batch_spans chunks ─► every sink at once, each retried with
                                                   backoff until it has them
                     └─ tickets released ──► the source commits what is done

``submit`` waits while every delivery slot is busy: a slow sink slows the sources down
instead of filling memory. Plugins and decoding run on one worker thread, so the event
loop keeps heartbeating to Kafka and answering health checks. Every second a tick
releases timed-out partial spans and what plugins release on a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any, TypeVar

from moxtrace._ratelimit import RateLimitedLogger
from moxtrace.pipeline.processor import BatchProcessor, InRecord, Processed, Unit
from moxtrace.pipeline.sinks.base import Sink, SinkUnavailable

__all__ = ["Collector"]

_logger = logging.getLogger("moxtrace.pipeline")
_warn = RateLimitedLogger(_logger)
_T = TypeVar("_T")
DeadLetterHandler = Callable[[Sequence[InRecord]], Awaitable[None]]


class Collector:
    """Runs a ``BatchProcessor`` on a worker thread and delivers to ``sinks``."""

    def __init__(
        self,
        processor: BatchProcessor,
        sinks: Sequence[Sink],
        *,
        max_inflight_batches: int = 4,
        batch_spans: int = 2000,
        sink_retry_max: float = 30.0,
        tick_interval: float = 1.0,
    ) -> None:
        if not sinks:
            raise ValueError("a collector needs at least one sink")
        self.processor = processor
        self.sinks = list(sinks)
        self.batch_spans = batch_spans
        self.sink_retry_max = sink_retry_max
        self.tick_interval = tick_interval
        self.dead_letter: DeadLetterHandler | None = None
        """Sends records that could not be decoded to the dead-letter topic (set by the
        Kafka source; records of other sources answer their sender instead)."""
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="moxtrace-collector")
        self._slots = asyncio.Semaphore(max_inflight_batches)
        self._max_inflight = max_inflight_batches
        self._deliveries: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = asyncio.Event()
        self._ticker: asyncio.Task[None] | None = None
        self.delivered_batches = 0
        self.abandoned_batches = 0
        """Deliveries cut short by shutdown (their records are read again)."""
        self.started_at = time.time()

    @property
    def in_flight(self) -> int:
        """Deliveries running now."""
        return len(self._deliveries)

    def has_capacity(self) -> bool:
        """Whether ``submit`` would start at once (a delivery slot is free)."""
        return len(self._deliveries) < self._max_inflight

    async def in_worker(self, func: Callable[[], _T]) -> _T:
        """Run ``func`` on the worker thread (where the plugins and the processor live)."""
        return await asyncio.get_running_loop().run_in_executor(self._worker, func)

    async def submit(self, records: Sequence[InRecord]) -> None:
        """Decode and process ``records`` on the worker, then deliver them in the
        background; waits for a free delivery slot first (backpressure).

        Cancelling it is safe: records that were not delivered stay uncommitted.
        """
        if self._stopping.is_set():
            raise RuntimeError("the collector is stopping")
        await self._slots.acquire()
        try:
            processed = await self.in_worker(lambda: self.processor.process(records))
        except BaseException:
            self._slots.release()
            raise
        self._start_delivery(processed)

    def start(self) -> None:
        """Start the timer tick (timed-out spans, plugin timers)."""
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())

    async def _tick_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.tick_interval)
            if self._stopping.is_set():
                return
            await self._slots.acquire()
            try:
                processed = await self.in_worker(self.processor.tick)
            except BaseException:
                self._slots.release()
                raise
            if processed.deliver or processed.released:
                self._start_delivery(processed)
            else:
                self._slots.release()

    def _start_delivery(self, processed: Processed) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(processed))
        self._deliveries.add(task)
        self._idle.clear()
        task.add_done_callback(self._delivery_done)

    def _delivery_done(self, task: asyncio.Task[None]) -> None:
        self._deliveries.discard(task)
        self._slots.release()
        if not self._deliveries:
            self._idle.set()
        if not task.cancelled() and task.exception() is not None:
            _logger.error("moxtrace collector: a delivery failed", exc_info=task.exception())

    async def _deliver(self, processed: Processed) -> None:
        try:
            handler = self.dead_letter
            dead = [r for r in processed.records if r.ticket.dead_letter and r.dead_letters]
            if dead and handler is not None:
                await self._retrying("dead-letter topic", lambda: handler(dead))
            units = processed.deliver
            for start in range(0, len(units), self.batch_spans):
                chunk = units[start : start + self.batch_spans]
                await asyncio.gather(*(self._write(sink, chunk) for sink in self.sinks))
        except asyncio.CancelledError:
            self.abandoned_batches += 1
            raise
        for unit in processed.deliver:
            for ticket in unit.tickets:
                ticket.release()
        for ticket in processed.released:
            ticket.release()
        for record in processed.records:
            record.ticket.release()
        self.delivered_batches += 1

    async def _write(self, sink: Sink, units: Sequence[Unit]) -> None:
        await self._retrying(sink.name, lambda: sink.write(units))

    async def _retrying(self, what: str, attempt: Callable[[], Awaitable[None]]) -> None:
        delay = 0.1
        while True:
            try:
                await attempt()
                return
            except SinkUnavailable as exc:
                reason = str(exc)
            except Exception as exc:
                _logger.debug("moxtrace collector: %s raised", what, exc_info=True)
                reason = f"{type(exc).__name__}: {exc}"
            _warn.warning(
                f"retry-{what}",
                "moxtrace collector: %s failed (%s); retrying in %.1fs (offsets wait)",
                what,
                reason,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.sink_retry_max)

    async def idle(self, timeout: float) -> bool:
        """Wait until no delivery is running; False after ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def forget(self, scopes: Iterable[Hashable]) -> int:
        """Drop the waiting events of ``scopes`` (revoked partitions)."""
        doomed = list(scopes)
        return await self.in_worker(lambda: self.processor.forget(doomed))

    async def stop(self, timeout: float) -> int:
        """Stop the tick, give deliveries ``timeout`` seconds, cancel what is left; how
        many deliveries were cut short."""
        self._stopping.set()
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            # It may be waiting for a slot a stuck delivery holds.
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await ticker
        if await self.idle(timeout):
            return 0
        left = list(self._deliveries)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        return len(left)

    async def close(self) -> None:
        """Shut the plugins down (on the worker) and stop the worker thread."""
        with contextlib.suppress(Exception):
            left = await self.in_worker(self.processor.shutdown)
            if left:
                _logger.info(
                    "moxtrace collector: %d spans held by plugins left for redelivery", left
                )
        self._worker.shutdown(wait=False)

    def stats(self) -> dict[str, Any]:
        """Counters of the processor, the reassembly buffer and every sink."""
        processor = self.processor
        reassembler = processor.reassembler
        return {
            "uptime_seconds": round(time.time() - self.started_at, 3),
            "deliveries_in_flight": self.in_flight,
            "delivered_batches": self.delivered_batches,
            "abandoned_batches": self.abandoned_batches,
            "processor": asdict(processor.counters),
            "held_by_plugins": processor.held,
            "reassembly": {
                "waiting_spans": len(reassembler),
                "timed_out": reassembler.timed_out,
                "evicted": reassembler.evicted,
                "forgotten": reassembler.forgotten,
            },
            "sinks": {sink.name: sink.counters.as_dict() for sink in self.sinks},
        }
