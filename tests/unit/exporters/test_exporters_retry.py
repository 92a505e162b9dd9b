"""The exporter's ``Retrying`` wrapper, with a fake clock (the policy: tests/unit/test_retry.py)."""

from __future__ import annotations

import threading

import pytest

from moxtrace.exporters._batch import EventBatch, Outcome
from moxtrace.exporters._errors import (
    DeliveryError,
    PayloadTooLarge,
    PermanentError,
    RetriableError,
)
from moxtrace.exporters._retry import EXPORT_RETRY_POLICY, Retrying
from moxtrace.exporters._stats import ExportCounters
from moxtrace.retry import RetryPolicy
from tests.unit.exporters.factories import batch_of


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


class Scripted:
    """An inner sender that fails as scripted, then succeeds; records each batch."""

    def __init__(self, *failures: DeliveryError) -> None:
        self.failures = list(failures)
        self.seen: list[EventBatch] = []

    def send(self, batch: EventBatch, deadline: float) -> Outcome:
        self.seen.append(batch)
        if self.failures:
            raise self.failures.pop(0)
        return Outcome(exported=batch.spans)


def retrying(
    inner: Scripted, clock: FakeClock, **kwargs: object
) -> tuple[Retrying, ExportCounters]:
    counters = ExportCounters()
    r = Retrying(
        inner,
        counters,
        RetryPolicy(max_retries=None, initial_backoff=1.0, max_backoff=8.0, retry_after_jitter=0.5),
        clock=clock,
        rand=lambda: 1.0,
        wait=clock.wait,
        **kwargs,  # type: ignore[arg-type]
    )
    return r, counters


def test_retries_with_backoff_then_succeeds_with_the_same_batch() -> None:
    clock = FakeClock()
    inner = Scripted(RetriableError("503"), RetriableError("refused"), RetriableError("503"))
    r, counters = retrying(inner, clock)
    batch = batch_of(4)

    assert r.send(batch, deadline=clock.now + 60) == Outcome(exported=4)
    assert clock.waits == [1.0, 2.0, 4.0]
    assert [b.key for b in inner.seen] == [batch.key] * 4
    assert all(b is batch for b in inner.seen)
    assert counters.snapshot().retried == 12  # 3 retries x 4 spans


def test_retry_after_is_waited_at_least() -> None:
    clock = FakeClock()
    inner = Scripted(RetriableError("429", status_code=429, retry_after=3.0))
    r, _ = retrying(inner, clock)  # rand() == 1: the most jitter
    r.send(batch_of(1), deadline=clock.now + 60)
    assert clock.waits == [4.5]


def test_gives_up_when_the_next_wait_would_pass_the_deadline() -> None:
    clock = FakeClock()
    inner = Scripted(*(RetriableError(f"fail {i}") for i in range(10)))
    r, counters = retrying(inner, clock)
    with pytest.raises(RetriableError, match="fail 3"):
        r.send(batch_of(1), deadline=clock.now + 10)
    assert clock.waits == [1.0, 2.0, 4.0]  # 8 more would end past the deadline
    assert clock.now <= 100 + 10
    assert counters.snapshot().retried == 3


def test_retry_after_beyond_the_deadline_gives_up_at_once() -> None:
    clock = FakeClock()
    inner = Scripted(RetriableError("429", retry_after=120.0))
    r, _ = retrying(inner, clock)
    with pytest.raises(RetriableError):
        r.send(batch_of(1), deadline=clock.now + 30)
    assert clock.waits == []


@pytest.mark.parametrize("error", [PermanentError("401"), PayloadTooLarge("413")])
def test_non_retriable_errors_pass_through_at_once(error: DeliveryError) -> None:
    clock = FakeClock()
    inner = Scripted(error)
    r, counters = retrying(inner, clock)
    with pytest.raises(type(error)):
        r.send(batch_of(1), deadline=clock.now + 30)
    assert len(inner.seen) == 1
    assert clock.waits == []
    assert counters.snapshot().retried == 0


def test_stop_interrupts_retrying() -> None:
    stop = threading.Event()
    stop.set()
    clock = FakeClock()
    inner = Scripted(RetriableError("503"))
    r, _ = retrying(inner, clock, stop=stop)
    with pytest.raises(RetriableError):
        r.send(batch_of(1), deadline=clock.now + 30)
    assert len(inner.seen) == 1


def test_a_wait_ended_by_shutdown_passes_the_failure_on() -> None:
    stop = threading.Event()
    inner = Scripted(RetriableError("503"), RetriableError("503"))
    waited: list[float] = []

    def wait(seconds: float) -> bool:
        waited.append(seconds)
        stop.set()
        return True  # the stop event fired during the wait

    r = Retrying(inner, ExportCounters(), RetryPolicy(), stop=stop, wait=wait)
    with pytest.raises(RetriableError):
        r.send(batch_of(1), deadline=1e12)
    assert len(waited) == 1
    assert len(inner.seen) == 1


def test_real_waits_use_the_stop_event() -> None:
    # Without an injected wait, shutdown (the stop event) ends a long wait at once.
    stop = threading.Event()
    inner = Scripted(RetriableError("503", retry_after=30.0))
    r = Retrying(inner, ExportCounters(), RetryPolicy(), stop=stop)
    timer = threading.Timer(0.05, stop.set)
    timer.start()
    try:
        with pytest.raises(RetriableError):
            r.send(batch_of(1), deadline=float("inf"))
    finally:
        timer.cancel()
    assert len(inner.seen) == 1


def test_the_exporter_retries_until_its_deadline_not_a_count() -> None:
    assert EXPORT_RETRY_POLICY.max_retries is None
    assert EXPORT_RETRY_POLICY.delay(50, None, remaining=30, rand=lambda: 0.0) == 5.0
    assert EXPORT_RETRY_POLICY.delay(0, 7.0, remaining=30, rand=lambda: 1.0) == 10.5
