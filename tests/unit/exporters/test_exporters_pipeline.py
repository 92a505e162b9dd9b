"""``Pipeline``: the parts of one export in flight together, each sent once it is built."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from moxtrace.exporters._batch import EventBatch, Outcome
from moxtrace.exporters._errors import PermanentError
from moxtrace.exporters._pipeline import Pipeline


def _batch(name: str, spans: int = 1) -> EventBatch:
    return EventBatch([{"trace_id": name, "span_id": name}], name, spans)


class Recorder:
    """An inner sender that notes which batches it was given, by which thread, how many at
    once; it refuses the batches named in ``refuse``."""

    def __init__(self, refuse: tuple[str, ...] = (), hold: float = 0.0) -> None:
        self.refuse = refuse
        self.hold = hold
        self.sent: list[str] = []
        self.threads: list[int] = []
        self.started = {name: threading.Event() for name in ("a", "b", "c", "d")}
        self._lock = threading.Lock()
        self._now = 0
        self.most_at_once = 0

    def send(self, batch: EventBatch, deadline: float) -> Outcome:
        with self._lock:
            self._now += 1
            self.most_at_once = max(self.most_at_once, self._now)
            self.sent.append(batch.key)
            self.threads.append(threading.get_ident())
        self.started[batch.key].set()
        try:
            if self.hold:
                threading.Event().wait(self.hold)
            if batch.key in self.refuse:
                raise PermanentError(f"{batch.key} refused")
            return Outcome(exported=batch.spans)
        finally:
            with self._lock:
                self._now -= 1


def test_each_part_is_sent_before_the_next_one_is_built() -> None:
    # The server starts on part a while this thread builds part b: b is only built once
    # a's send has begun (a pipeline holding a back until b exists would time out here).
    recorder = Recorder()
    seen_before_b: list[bool] = []

    def parts() -> Iterator[EventBatch]:
        yield _batch("a", 2)
        seen_before_b.append(recorder.started["a"].wait(5))
        yield _batch("b", 3)

    pipeline = Pipeline(recorder, depth=2)
    try:
        outcome = pipeline.send_all(parts(), deadline=float("inf"), parts=2)
    finally:
        pipeline.close()
    assert seen_before_b == [True]
    assert outcome == Outcome(exported=5)
    assert sorted(recorder.sent) == ["a", "b"]


def test_one_part_is_sent_in_the_calling_thread() -> None:
    recorder = Recorder()
    pipeline = Pipeline(recorder, depth=2)
    outcome = pipeline.send_all(iter([_batch("a", 4)]), deadline=float("inf"), parts=1)
    assert outcome == Outcome(exported=4)
    assert recorder.threads == [threading.get_ident()]


@pytest.mark.parametrize("parts", [4, 8])
def test_no_more_than_depth_parts_are_in_flight_and_every_outcome_counts(
    parts: int,
) -> None:
    recorder = Recorder(refuse=("c",), hold=0.05)
    batches = [_batch(name, spans) for name, spans in zip("abcd", (1, 2, 3, 4), strict=True)]
    pipeline = Pipeline(recorder, depth=2)
    try:
        outcome = pipeline.send_all(iter(batches), deadline=float("inf"), parts=parts)
    finally:
        pipeline.close()
    assert recorder.most_at_once == 2
    assert sorted(recorder.sent) == ["a", "b", "c", "d"]
    # The refused part's spans are dropped; the other parts' are exported.
    assert outcome == Outcome(exported=1 + 2 + 4, dropped=3)
