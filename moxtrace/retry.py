"""When to send a failed request again, and how long to wait first: one policy for the
API client and the span exporter. I/O-free; the callers only wait and count.

Retriable: 408, 429, 5xx (but 501 and 505) and connection errors. The wait after failed
attempt ``n`` is what the server asked for in ``Retry-After`` (delay-seconds or an
HTTP-date; never less, optionally stretched at random so clients told the same moment do
not all come back at once), else exponential backoff with jitter. Nothing is attempted
past the deadline, and a wait that would end after it is not started.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

__all__ = ["RetryPolicy", "is_retriable_status", "parse_retry_after"]

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def is_retriable_status(status_code: int) -> bool:
    """408, 429 and 5xx (but 501 and 505, which will not change): may succeed later.

    >>> [is_retriable_status(s) for s in (408, 429, 503, 501, 404)]
    [True, True, True, False, False]
    """
    if status_code in (408, 429):
        return True
    return 500 <= status_code < 600 and status_code not in (501, 505)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date.

    ``None`` when absent or unreadable; a date in the past gives 0.

    >>> parse_retry_after("3")
    3.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
    ...                   now=datetime(2015, 10, 21, 7, 27, tzinfo=timezone.utc))
    60.0
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        # NaN and infinities are not waits a server can mean.
        if seconds != seconds or seconds in (float("inf"), float("-inf")):
            return None
        return max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max((when - now).total_seconds(), 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before sending a failed request again.

    Backoff after failed attempt ``n`` (from 0) is uniform in ``[c/2, c]`` with
    ``c = min(max_backoff, initial_backoff * multiplier**n)``. At most ``max_retries``
    retries (``None``: as many as ``deadline`` seconds allow).

    >>> policy = RetryPolicy(max_retries=3, initial_backoff=0.5)
    >>> policy.backoff(2, rand=lambda: 1.0)
    2.0
    """

    max_retries: int | None = 3
    deadline: float = 60.0
    """Seconds from the first attempt after which nothing more is attempted."""
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    multiplier: float = 2.0
    retry_after_jitter: float = 0.0
    """A wait the server asked for is stretched by up to this fraction, at random."""

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The jittered exponential wait after failed attempt ``attempt`` (0 for the first)."""
        ceiling = min(self.max_backoff, self.initial_backoff * self.multiplier ** min(attempt, 64))
        return ceiling / 2 + ceiling / 2 * rand()

    @staticmethod
    def may_resend(method: str, idempotency_key: str | None) -> bool:
        """Whether a request may be sent twice: idempotent methods, or with a key."""
        return method.upper() in _IDEMPOTENT_METHODS or bool(idempotency_key)

    def delay(
        self,
        attempt: int,
        retry_after: float | None,
        remaining: float,
        rand: Callable[[], float] = random.random,
        *,
        retriable: bool = True,
    ) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up now.

        ``attempt`` counts failed attempts so far minus one; ``remaining`` is the time
        left before the deadline. With ``retry_after`` the wait is never shorter.
        """
        if not retriable or (self.max_retries is not None and attempt >= self.max_retries):
            return None
        if retry_after is not None:
            if retry_after >= remaining:
                return None
            if self.retry_after_jitter:
                stretched = retry_after * (1 + self.retry_after_jitter * rand())
                return min(stretched, (retry_after + remaining) / 2)
            return retry_after
        wait = self.backoff(attempt, rand)
        return None if wait >= remaining else wait
