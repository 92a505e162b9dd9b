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
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Protocol

from moxtrace.exporters._batch import EventBatch, Outcome
from moxtrace.exporters._errors import DeliveryError
from moxtrace.exporters._stats import ExportCounters

__all__ = ["BatchSender", "RetryPolicy", "Retrying", "is_retriable_status", "parse_retry_after"]

_logger = logging.getLogger("moxtrace.exporters")


class BatchSender(Protocol):
    """One link of the exporter's chain: deliver ``batch`` before ``deadline``.

    ``deadline`` is a ``time.monotonic()`` value. Returns what became of the batch's
    spans; raises ``DeliveryError`` when it could not deliver (or keep) them.
    """

    def send(self, batch: EventBatch, deadline: float) -> Outcome: ...


def is_retriable_status(status_code: int) -> bool:
    """408, 429 and 5xx: the same request may succeed later."""
    return status_code in (408, 429) or 500 <= status_code < 600


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date.

    ``None`` when absent or unreadable; a date in the past gives 0.

    >>> parse_retry_after("3")
    3.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=datetime(2015, 10, 21, 7, 27,
    ...     tzinfo=timezone.utc))
    60.0
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if seconds == seconds else None  # NaN is unreadable
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max((when - now).total_seconds(), 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped; ``Retry-After`` wins when given.

    The n-th wait (n from 0) is uniform in ``[0, min(max_backoff,
    initial_backoff * multiplier**n)]``.
    """

    initial_backoff: float = 0.5
    max_backoff: float = 10.0
    multiplier: float = 2.0
    retry_after_jitter: float = 0.5
    """A wait the server asked for is stretched by up to this fraction, at random, so
    that clients told the same moment do not all return at once."""

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The wait after failed attempt number ``attempt`` (0 for the first)."""
        ceiling = min(self.max_backoff, self.initial_backoff * self.multiplier ** min(attempt, 64))
        return ceiling * rand()

    def delay(
        self,
        attempt: int,
        retry_after: float | None,
        remaining: float,
        rand: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds to wait before trying again, or ``None`` to give up now.

        With ``retry_after``, never less than it (plus jitter, kept before the deadline).
        Gives up when the wait would end at or after the deadline (``remaining``
        seconds away): an attempt needs time too.
        """
        if retry_after is not None:
            if retry_after >= remaining:
                return None
            stretched = retry_after * (1 + self.retry_after_jitter * rand())
            return min(stretched, (retry_after + remaining) / 2)
        wait = self.backoff(attempt, rand)
        if wait >= remaining:
            return None
        return wait


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
        self.policy = policy or RetryPolicy()
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
