"""``Pipeline``: the parts of one export in flight together, a bounded number at a time.

The batch processor hands ``MoxnSpanExporter.export`` a few hundred spans and waits for the
result. Sent as one request, the three steps run one after the other: the exporter encodes
every span, then the server parses, then it commits. Cut into parts, they overlap: the
exporter encodes part 2 while the server parses part 1, and the server parses part 2 while
it commits part 1. Each part is its own request (stored whole or not at all, its own
idempotency key); ``export`` still returns only once every part was delivered or given up
on, so its result means what it meant.

Parts are built lazily by the caller's iterator, in the calling thread; up to ``depth``
requests are in flight on worker threads (started on first use, again after a fork).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from moxtrace._ratelimit import RateLimitedLogger
from moxtrace.exporters._batch import EventBatch, Outcome
from moxtrace.exporters._errors import DeliveryError
from moxtrace.exporters._retry import BatchSender

__all__ = ["Pipeline"]

_logger = logging.getLogger("moxtrace.exporters")
_warn = RateLimitedLogger(_logger)


class Pipeline:
    """Sends batches through ``inner``, up to ``depth`` at a time; ``depth=1``: in turn."""

    def __init__(self, inner: BatchSender, depth: int = 2) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._inner = inner
        self.depth = depth
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False
        if hasattr(os, "register_at_fork"):
            ref = weakref.WeakMethod(self._at_fork_in_child)
            os.register_at_fork(after_in_child=lambda: (m := ref()) and m())

    def _at_fork_in_child(self) -> None:
        # The parent's worker threads do not exist in the child.
        self._lock = threading.Lock()
        self._pool = None

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.depth, thread_name_prefix="moxtrace-export")
            return self._pool

    def _send(self, batch: EventBatch, deadline: float) -> Outcome:
        try:
            return self._inner.send(batch, deadline)
        except DeliveryError as exc:
            _warn.error(
                "export-failed",
                "moxtrace: dropped %d spans the Moxn API did not accept: %s",
                batch.spans,
                exc,
            )
            return Outcome(dropped=batch.spans)

    def send_all(self, batches: Iterable[EventBatch], deadline: float, parts: int) -> Outcome:
        """Send every batch ``batches`` yields, each as soon as it is built (the next is
        built while earlier ones are in flight); what became of their spans. Never raises
        ``DeliveryError``.

        ``parts``: how many batches there will be at most; one is sent in the calling
        thread (no thread hop).
        """
        outcome = Outcome()
        if self.depth == 1 or self._closed or parts <= 1:
            for batch in batches:
                outcome += self._send(batch, deadline)
            return outcome
        in_flight: deque[Future[Outcome]] = deque()
        try:
            for batch in batches:
                if len(in_flight) >= self.depth:
                    outcome += in_flight.popleft().result()
                in_flight.append(self._executor().submit(self._send, batch, deadline))
        finally:
            # Even when building a batch raised: what was sent is waited for and counted.
            while in_flight:
                outcome += in_flight.popleft().result()
        return outcome

    def close(self) -> None:
        """Let the worker threads end once idle (without waiting for them: closing the
        HTTP client is what ends a request in flight). Idempotent."""
        self._closed = True
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)
