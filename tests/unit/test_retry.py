"""The one retry policy of the API client and the exporter (I/O-free)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from moxtrace.retry import RetryPolicy, is_retriable_status, parse_retry_after


@pytest.mark.parametrize(
    ("status", "retriable"),
    [
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (599, True),
        (501, False),
        (505, False),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (413, False),
        (422, False),
    ],
)
def test_retriable_statuses(status: int, retriable: bool) -> None:
    assert is_retriable_status(status) is retriable


NOW = datetime(2015, 10, 21, 7, 27, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0", 0.0),
        (" 12 ", 12.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
        ("Wednesday, 21-Oct-15 07:27:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_backoff_is_exponential_capped_and_jittered_within_half_to_full() -> None:
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=4.0, multiplier=2.0)
    assert [policy.backoff(n, rand=lambda: 0.0) for n in range(5)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert [policy.backoff(n, rand=lambda: 1.0) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.backoff(10_000, rand=lambda: 1.0) == 4.0  # no overflow


def test_delay_honours_retry_after_the_deadline_and_the_count() -> None:
    policy = RetryPolicy(max_retries=3, initial_backoff=1.0, retry_after_jitter=0.5)
    assert policy.delay(0, None, remaining=30, rand=lambda: 0.0) == 0.5
    # Retry-After wins over backoff, never shortened, stretched by up to half.
    assert policy.delay(0, 7.0, remaining=30, rand=lambda: 0.0) == 7.0
    assert policy.delay(0, 7.0, remaining=30, rand=lambda: 1.0) == 10.5
    # Jitter never pushes the wait to the deadline; Retry-After at the deadline gives up.
    assert policy.delay(0, 7.0, remaining=8, rand=lambda: 1.0) == 7.5
    assert policy.delay(0, 30.0, remaining=30) is None
    assert policy.delay(2, None, remaining=2.0, rand=lambda: 0.9) is None
    assert policy.delay(3, None, remaining=300) is None  # max_retries spent
    assert policy.delay(0, None, remaining=30, retriable=False) is None
    assert RetryPolicy(max_retries=None).delay(1000, 1.0, remaining=30) == 1.0


def test_retry_after_without_jitter_is_exact() -> None:
    assert RetryPolicy().delay(2, 2.0, remaining=30, rand=lambda: 1.0) == 2.0


def test_only_idempotent_requests_or_keyed_ones_are_resent() -> None:
    assert RetryPolicy.may_resend("GET", None)
    assert RetryPolicy.may_resend("DELETE", None)
    assert not RetryPolicy.may_resend("POST", None)
    assert not RetryPolicy.may_resend("PATCH", "")
    assert RetryPolicy.may_resend("PATCH", "k")
