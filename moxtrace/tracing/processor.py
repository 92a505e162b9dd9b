"""``BatchSpanProcessor``: a batch span processor whose flush keeps its deadline.

The span-end path is constant time and takes no lock: it checks sampling, appends to a
bounded deque, and wakes the worker only when a batch is full. The worker thread
exports with instrumentation suppressed (the exporter's own HTTP calls are never
traced). Unlike the OpenTelemetry SDK's processor, ``flush(timeout)`` returns within
its timeout even while the exporter hangs, and reports how many spans were still
pending. Spans that do not fit in the queue are dropped and counted, never blocked on.
The worker restarts in a forked child.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from moxtrace._ratelimit import RateLimitedLogger

__all__ = ["BatchSpanProcessor", "ProcessorStats"]

_logger = logging.getLogger("moxtrace.tracing")
_warn = RateLimitedLogger(_logger)
_SUPPRESS_INSTRUMENTATION = otel_context._SUPPRESS_INSTRUMENTATION_KEY


@dataclass(frozen=True)
class ProcessorStats:
    """Span counts of one processor since it started."""

    queued: int
    exported: int
    failed: int
    dropped: int


class BatchSpanProcessor(SpanProcessor):
    """Batches finished spans for ``exporter`` on a worker thread of its own.

    Args:
        exporter: where batches go.
        max_queue_size: spans held at most; more are dropped and counted.
        schedule_delay: seconds between exports when batches are not full.
        max_export_batch_size: spans per ``export`` call.
        export_timeout: seconds the exporter is told it may take (exporters that take a
            ``timeout_millis`` argument to ``force_flush`` get it; ``export`` itself is
            expected to honour its own deadline).
        name: shown in logs and thread names.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue_size: int = 2048,
        schedule_delay: float = 5.0,
        max_export_batch_size: int = 512,
        export_timeout: float = 30.0,
        name: str | None = None,
    ) -> None:
        if max_queue_size <= 0 or max_export_batch_size <= 0:
            raise ValueError("max_queue_size and max_export_batch_size must be positive")
        if max_export_batch_size > max_queue_size:
            raise ValueError("max_export_batch_size must not exceed max_queue_size")
        self.exporter = exporter
        self.name = name or type(exporter).__name__
        self._max_queue_size = max_queue_size
        self._batch_size = max_export_batch_size
        self._schedule_delay = schedule_delay
        self._export_timeout = export_timeout
        self._shutdown = False
        self._stats_lock = threading.Lock()
        self._exported = 0
        self._failed = 0
        self._dropped = 0
        self._init_worker()
        if hasattr(os, "register_at_fork"):
            ref = weakref.WeakMethod(self._at_fork_in_child)
            os.register_at_fork(after_in_child=lambda: (m := ref()) and m())

    def _init_worker(self) -> None:
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._wake = threading.Event()
        self._done = threading.Condition(threading.Lock())
        self._flush_waiters: list[threading.Event] = []
        self._in_flight = 0
        self._worker = threading.Thread(target=self._run, name=f"moxtrace-{self.name}", daemon=True)
        self._worker.start()

    def _at_fork_in_child(self) -> None:
        # The parent's queue belongs to the parent: exporting it here would send it twice.
        if not self._shutdown:
            self._init_worker()

    # -- the span path -------------------------------------------------------------
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if self._shutdown:
            return
        ctx = span.context
        if ctx is None or not ctx.trace_flags.sampled:
            return
        queue = self._queue
        if len(queue) >= self._max_queue_size:
            with self._stats_lock:
                self._dropped += 1
            _warn.warning(
                f"queue-full-{id(self)}",
                "moxtrace: the %s span queue is full (%d spans); dropping spans",
                self.name,
                self._max_queue_size,
            )
            return
        queue.append(span)
        if len(queue) >= self._batch_size:
            self._wake.set()

    # -- the worker ------------------------------------------------------------------
    def _run(self) -> None:
        otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION, True))
        while True:
            self._wake.wait(self._schedule_delay)
            self._wake.clear()
            with self._done:
                waiters, self._flush_waiters = self._flush_waiters, []
            stopping = self._shutdown
            if waiters or stopping:
                self._export_all()
            else:
                self._export_full_batches()
            for waiter in waiters:
                waiter.set()
            if stopping:
                return

    def _export_full_batches(self) -> None:
        # Timer tick: at least one batch, then more while full batches are waiting.
        self._export_batch()
        while len(self._queue) >= self._batch_size and not self._shutdown:
            self._export_batch()

    def _export_all(self) -> None:
        while self._queue:
            self._export_batch()

    def _export_batch(self) -> None:
        queue = self._queue
        batch: list[ReadableSpan] = []
        while queue and len(batch) < self._batch_size:
            batch.append(queue.popleft())
        if not batch:
            return
        self._in_flight = len(batch)
        try:
            result = self.exporter.export(batch)
        except Exception:
            _logger.debug("moxtrace: %s export raised", self.name, exc_info=True)
            _warn.error(f"export-raised-{id(self)}", "moxtrace: %s export failed", self.name)
            result = SpanExportResult.FAILURE
        with self._stats_lock:
            if result is SpanExportResult.SUCCESS:
                self._exported += len(batch)
            else:
                self._failed += len(batch)
        self._in_flight = 0

    # -- lifecycle -------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> int:
        """Export what is queued now; wait at most ``timeout`` seconds.

        Returns the number of spans still pending (queued or being exported) when it
        returned: 0 means everything handed over before the call has been exported
        or has definitely failed.
        """
        if self._shutdown or not self._worker.is_alive():
            return len(self._queue) + self._in_flight
        waiter = threading.Event()
        with self._done:
            self._flush_waiters.append(waiter)
        self._wake.set()
        if waiter.wait(timeout):
            return 0
        return len(self._queue) + self._in_flight

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.flush(timeout_millis / 1000) == 0

    def shutdown(self) -> None:
        self.close()

    def close(self, timeout: float | None = 30.0) -> int:
        """Export what is queued, stop the worker and shut the exporter down.

        Idempotent; returns within ``timeout`` (plus the exporter's own shutdown) with
        the number of spans left unexported.
        """
        if self._shutdown:
            return 0
        deadline = None if timeout is None else time.monotonic() + timeout
        self._shutdown = True
        self._wake.set()
        self._worker.join(timeout)
        left = len(self._queue) + self._in_flight
        try:
            self.exporter.shutdown()
        except Exception:
            _logger.debug("moxtrace: %s exporter shutdown raised", self.name, exc_info=True)
        if deadline is not None and left and time.monotonic() > deadline:
            _logger.warning("moxtrace: %s shut down with %d spans unexported", self.name, left)
        return left

    @property
    def stats(self) -> ProcessorStats:
        """Counts of spans exported, failed and dropped, and the current queue length."""
        with self._stats_lock:
            return ProcessorStats(
                queued=len(self._queue) + self._in_flight,
                exported=self._exported,
                failed=self._failed,
                dropped=self._dropped,
            )
