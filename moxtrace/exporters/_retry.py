"""``Retrying``: send a batch again after 408, 429, 5xx and connection errors.

The policy is I/O-free (``RetryPolicy``, ``parse_retry_after``); the wrapper only waits
and counts. Waits are exponential backoff with full jitter, or what the server asked for
in ``Retry-After`` (never less; stretched at random by up to half). Nothing is attempted
past the batch's deadline, and a wait that would end after it is not started. Every
attempt sends the same batch, so the same ``X-Moxn-Idempotency-Key``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Protocol

from moxtrace.exporters._batch import EventBatch, Outcome
from moxtrace.exporters._errors import DeliveryError
from moxtrace.exporters._stats import ExportCounters
from moxtrace.retry import RetryPolicy

EXPORT_RETRY_POLICY = RetryPolicy(max_retries=None, max_backoff=10.0, retry_after_jitter=0.5)
"""The exporter's: as many retries as the batch's deadline allows; waits the server asked
for are stretched by up to half so that throttled clients do not return all at once."""

__all__ = ["EXPORT_RETRY_POLICY", "BatchSender", "Retrying"]

_logger = logging.getLogger("moxtrace.exporters")


class BatchSender(Protocol):
    """One link of the exporter's chain: deliver ``batch`` before ``deadline``.

    ``deadline`` is a ``time.monotonic()`` value. Returns what became of the batch's
    spans; raises ``DeliveryError`` when it could not deliver (or keep) them.
    """

    def send(self, batch: EventBatch, deadline: float) -> Outcome: ...


class Retrying:
    """Sends through ``inner`` again after retriable failures, until the deadline.

    ``stop`` (set at shutdown) interrupts a wait: the failure is then passed on at
    once, so the caller can keep the batch in the spool. ``retried`` counts the spans
    of every repeated attempt. ``clock``, ``rand`` and ``wait`` are for tests.
    """

    def __init__(
        self,
        inner: BatchSender,
        counters: ExportCounters,
        policy: RetryPolicy | None = None,
        *,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self._inner = inner
        self._counters = counters
        self.policy = policy or EXPORT_RETRY_POLICY
        self._stop = stop or threading.Event()
        self._clock = clock
        self._rand = rand
        # Waiting on the stop event: shutdown ends a wait at once (True means stopped).
        self._wait = wait or self._stop.wait

    def send(self, batch: EventBatch, deadline: float) -> Outcome:
        attempt = 0
        while True:
            try:
                return self._inner.send(batch, deadline)
            except DeliveryError as exc:
                if not exc.retriable or self._stop.is_set():
                    raise
                wait = self.policy.delay(
                    attempt, exc.retry_after, deadline - self._clock(), self._rand
                )
                if wait is None:
                    raise
                _logger.debug(
                    "moxtrace: batch %s failed (%s); retrying in %.2fs", batch.key, exc, wait
                )
                if self._wait(wait):
                    raise
                self._counters.count_retry(batch.spans)
                attempt += 1
