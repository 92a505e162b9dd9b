"""The per-tenant rate limiter (token buckets)."""

from __future__ import annotations

from moxtrace.server.ratelimit import TenantRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate() -> None:
    clock = Clock()
    limiter = TenantRateLimiter(rate=2.0, burst=3, clock=clock)

    assert [limiter.check("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.check("a") == 1  # half a second to the next token, rounded up
    clock.now += 0.5
    assert limiter.check("a") == 0
    assert limiter.check("a") == 1
    assert limiter.limited == 2


def test_retry_after_is_the_wait_for_one_token() -> None:
    clock = Clock()
    limiter = TenantRateLimiter(rate=0.25, burst=1, clock=clock)
    assert limiter.check("a") == 0
    assert limiter.check("a") == 4
    clock.now += 3.5
    assert limiter.check("a") == 1
    clock.now += 0.5
    assert limiter.check("a") == 0


def test_buckets_are_per_tenant_and_bounded() -> None:
    clock = Clock()
    limiter = TenantRateLimiter(rate=1.0, burst=1, max_tenants=2, clock=clock)
    assert limiter.check("a") == 0
    assert limiter.check("a") == 1
    assert limiter.check("b") == 0
    assert limiter.check("c") == 0  # evicts a (least recently used)
    assert limiter.check("a") == 0  # back with a full bucket


def test_zero_rate_means_no_limit() -> None:
    limiter = TenantRateLimiter(rate=0.0, burst=1)
    assert not limiter.enabled
    assert all(limiter.check("a") == 0 for _ in range(1000))
