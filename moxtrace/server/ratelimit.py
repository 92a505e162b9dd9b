"""Per-tenant token buckets: the ingest rate limit behind 429 + ``Retry-After``."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["TenantRateLimiter", "TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = now

    def take(self, now: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens: 0.0 when granted, else the seconds until they would be."""
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= cost:
            self._tokens -= cost
            return 0.0
        return (cost - self._tokens) / self._rate


class TenantRateLimiter:
    """One ``TokenBucket`` per tenant, the least recently used forgotten past ``max_tenants``.

    A forgotten tenant comes back with a full bucket, which only ever errs on the side of
    letting requests through.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_tenants: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._max = max_tenants
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self.limited = 0
        """Requests refused so far."""

    @property
    def enabled(self) -> bool:
        """False when the rate is 0 (no limit)."""
        return self._rate > 0

    def check(self, tenant: str) -> int:
        """0 when ``tenant`` may proceed, else the ``Retry-After`` seconds (at least 1)."""
        if self._rate <= 0:
            return 0
        now = self._clock()
        bucket = self._buckets.get(tenant)
        if bucket is None:
            bucket = self._buckets[tenant] = TokenBucket(self._rate, self._burst, now)
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(tenant)
        wait = bucket.take(now)
        if wait <= 0:
            return 0
        self.limited += 1
        return max(1, math.ceil(wait))
