"""``EventBatch`` halving and ``SplitOnTooLarge``."""

from __future__ import annotations

from typing import Any

import pytest

from moxtrace.exporters._batch import EventBatch, Outcome
from moxtrace.exporters._errors import PayloadTooLarge, PermanentError, RetriableError
from moxtrace.exporters._split import SplitOnTooLarge
from tests.unit.exporters.factories import batch_of


def test_batch_counts_spans_and_halves_between_spans() -> None:
    batch = batch_of(5, key="abc")
    assert batch.spans == 5
    assert len(batch.events) == 15
    first, second = batch.halves()
    assert (first.spans, second.spans) == (2, 3)
    assert list(first.events) + list(second.events) == list(batch.events)
    assert (first.key, second.key) == ("abc.0", "abc.1")
    # No span is cut: each half holds all three events of its spans.
    assert len(first.events) == 6


def test_single_span_halves_cut_its_events() -> None:
    batch = batch_of(1)
    first, second = batch.halves()
    assert (len(first.events), len(second.events)) == (1, 2)
    assert first.spans == second.spans == 1


def test_one_event_cannot_be_halved() -> None:
    with pytest.raises(ValueError, match="one event"):
        EventBatch.of(batch_of(1).events[:1]).halves()


def test_outcome_worst() -> None:
    assert Outcome(exported=1).worst(Outcome(exported=1)) == Outcome(exported=1)
    assert Outcome(exported=1).worst(Outcome(spooled=1)) == Outcome(spooled=1)
    assert Outcome(spooled=1).worst(Outcome(dropped=1)) == Outcome(dropped=1)
    assert Outcome(1, 2, 3) + Outcome(1, 1, 1) == Outcome(2, 3, 4)


class LimitedServer:
    """Refuses with 413 any request of more than ``limit`` events, or any request holding
    an event of a span listed in ``huge`` (too large even alone)."""

    def __init__(self, limit: int, huge: set[str] | None = None) -> None:
        self.limit = limit
        self.huge = huge or set()
        self.delivered: list[dict[str, Any]] = []
        self.requests: list[EventBatch] = []

    def send(self, batch: EventBatch, deadline: float) -> Outcome:
        self.requests.append(batch)
        if len(batch.events) > self.limit or any(
            e["span_id"] in self.huge and e["event_type"] == "llm_call" for e in batch.events
        ):
            raise PayloadTooLarge("413: limit")
        self.delivered.extend(batch.events)
        return Outcome(exported=batch.spans)


def test_a_too_large_batch_is_delivered_in_halves() -> None:
    server = LimitedServer(limit=7)
    batch = batch_of(8)
    outcome = SplitOnTooLarge(server).send(batch, deadline=1e12)

    assert outcome == Outcome(exported=8)
    assert sorted(e["id"] for e in server.delivered) == sorted(e["id"] for e in batch.events)
    accepted = [b for b in server.requests if len(b.events) <= 7]
    assert all(len(b.events) % 3 == 0 for b in accepted)  # spans kept whole
    assert len({b.key for b in server.requests}) == len(server.requests)


def test_down_to_one_event_and_a_single_event_too_large_is_dropped() -> None:
    batch = batch_of(4)
    huge = batch.events[3]["span_id"]  # the second span's llm_call is too large alone
    server = LimitedServer(limit=100, huge={huge})

    outcome = SplitOnTooLarge(server).send(batch, deadline=1e12)

    assert outcome == Outcome(exported=3, dropped=1)
    delivered_ids = {e["id"] for e in server.delivered}
    expected = {
        e["id"]
        for e in batch.events
        if not (e["span_id"] == huge and e["event_type"] == "llm_call")
    }
    assert delivered_ids == expected
    assert min(len(b.events) for b in server.requests) == 1


class FailSecondHalf(LimitedServer):
    def send(self, batch: EventBatch, deadline: float) -> Outcome:
        if batch.key.endswith(".1"):
            raise PermanentError("400")
        return super().send(batch, deadline)


def test_a_part_failing_otherwise_is_dropped_and_the_rest_delivered() -> None:
    server = FailSecondHalf(limit=9)
    outcome = SplitOnTooLarge(server).send(batch_of(6), deadline=1e12)
    assert outcome == Outcome(exported=3, dropped=3)


def test_other_errors_of_the_whole_batch_pass_through() -> None:
    class Down:
        def send(self, batch: EventBatch, deadline: float) -> Outcome:
            raise RetriableError("refused")

    with pytest.raises(RetriableError):
        SplitOnTooLarge(Down()).send(batch_of(2), deadline=1e12)
