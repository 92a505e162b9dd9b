"""The disk spool (``DiskSpool``) and the ``Spooling`` wrapper."""

from __future__ import annotations

import gzip
import os
import threading
import time
from pathlib import Path

import pytest

from moxtrace.exporters._batch import EventBatch, Outcome
from moxtrace.exporters._errors import PayloadTooLarge, PermanentError, RetriableError
from moxtrace.exporters._spool import DiskSpool, Spooling
from moxtrace.exporters._stats import ExportCounters
from tests.unit.exporters.factories import batch_of


def poll(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


# -- DiskSpool ---------------------------------------------------------------------------


def test_put_writes_files_that_read_back_oldest_first(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path / "spool", max_bytes=10_000_000)
    batches = [batch_of(2, first=10 * i, key=f"k{i}") for i in range(3)]
    for batch in batches:
        assert spool.put(batch) == 0

    entries = spool.entries()
    assert len(spool) == 3
    assert spool.spans == 6
    assert spool.size == sum(e.size for e in entries) > 0
    read = [spool.claim(e) for e in entries]
    assert read == batches  # same events, keys and span counts, in order
    assert not [p for p in (tmp_path / "spool").iterdir() if p.name.startswith(".tmp")]


def test_a_new_spool_on_the_same_directory_finds_the_batches(tmp_path: Path) -> None:
    DiskSpool(tmp_path, max_bytes=10_000_000).put(batch_of(3, key="left-behind"))
    again = DiskSpool(tmp_path, max_bytes=10_000_000)
    (entry,) = again.entries()
    assert entry.spans == 3
    batch = again.claim(entry)
    assert batch is not None
    assert batch.key == "left-behind"


def test_full_spool_drops_the_oldest_and_counts_their_spans(tmp_path: Path) -> None:
    probe = DiskSpool(tmp_path / "probe", max_bytes=10_000_000)
    probe.put(batch_of(2))
    size = probe.size
    spool = DiskSpool(tmp_path / "spool", max_bytes=int(size * 2.5))
    assert spool.put(batch_of(2, first=0, key="a")) == 0
    assert spool.put(batch_of(2, first=10, key="b")) == 0
    assert spool.put(batch_of(2, first=20, key="c")) == 2  # "a" made room

    keys = [b.key for b in (spool.claim(e) for e in spool.entries()) if b]
    assert keys == ["b", "c"]
    assert spool.size <= spool.max_bytes


def test_a_batch_larger_than_the_spool_is_refused(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, max_bytes=100)
    with pytest.raises(OSError, match="does not fit"):
        spool.put(batch_of(5))
    assert len(spool) == 0


def test_a_batch_being_replayed_is_not_evicted(tmp_path: Path) -> None:
    probe = DiskSpool(tmp_path / "probe", max_bytes=10_000_000)
    probe.put(batch_of(2))
    spool = DiskSpool(tmp_path / "spool", max_bytes=int(probe.size * 2.5))
    spool.put(batch_of(2, first=0, key="a"))
    spool.put(batch_of(2, first=10, key="b"))
    oldest = spool.entries()[0]
    assert spool.claim(oldest) is not None
    spool.put(batch_of(2, first=20, key="c"))
    names = [e.path for e in spool.entries()]
    assert oldest.path in names
    assert len(names) == 2


def test_stale_temporary_files_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / ".tmp-999999999-x.batch"
    dead.write_bytes(b"partial")
    DiskSpool(tmp_path, max_bytes=1000)
    assert not dead.exists()


def test_unrelated_files_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("not a batch")
    assert DiskSpool(tmp_path, max_bytes=1000).entries() == []


def test_max_bytes_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        DiskSpool(tmp_path, max_bytes=0)


# -- Spooling ----------------------------------------------------------------------------


class Switchable:
    """An inner sender that is down (retriable error), refusing, or up."""

    def __init__(self) -> None:
        self.mode = "down"
        self.delivered: list[EventBatch] = []
        self.calls = 0
        self.lock = threading.Lock()

    def send(self, batch: EventBatch, deadline: float) -> Outcome:
        with self.lock:
            self.calls += 1
            if self.mode == "down":
                raise RetriableError("connection refused")
            if self.mode == "refuse":
                raise PermanentError("400 invalid_payload")
            if self.mode == "too-large" and len(batch.events) > 3:
                raise PayloadTooLarge("413")
            self.delivered.append(batch)
            return Outcome(exported=batch.spans)


@pytest.fixture
def counters() -> ExportCounters:
    return ExportCounters()


def make_spooling(
    inner: Switchable, path: Path, counters: ExportCounters, interval: float = 3600
) -> Spooling:
    return Spooling(
        inner, DiskSpool(path, 50_000_000), counters, replay_interval=interval, replay_deadline=1
    )


def test_undeliverable_batches_are_spooled_then_replayed_in_order(
    tmp_path: Path, counters: ExportCounters
) -> None:
    inner = Switchable()
    spooling = make_spooling(inner, tmp_path, counters)
    try:
        assert spooling.send(batch_of(2, key="a"), 1e12) == Outcome(spooled=2)
        assert spooling.failing
        calls = inner.calls
        # While failing, new batches go straight to disk: no waiting out a deadline.
        assert spooling.send(batch_of(3, first=10, key="b"), 1e12) == Outcome(spooled=3)
        assert inner.calls == calls
        assert spooling.spool.spans == 5

        inner.mode = "up"
        assert spooling.replay(time.monotonic() + 5)
        assert [b.key for b in inner.delivered] == ["a", "b"]  # same keys as first sent
        assert counters.snapshot().exported == 5
        assert not spooling.failing
        assert len(spooling.spool) == 0
        assert list(tmp_path.iterdir()) == []
        assert spooling.send(batch_of(1, first=30), 1e12) == Outcome(exported=1)
    finally:
        spooling.close()


def test_replay_stops_at_the_first_failure_and_keeps_the_rest(
    tmp_path: Path, counters: ExportCounters
) -> None:
    inner = Switchable()
    spooling = make_spooling(inner, tmp_path, counters)
    try:
        spooling.send(batch_of(1, key="a"), 1e12)
        spooling.send(batch_of(1, first=5, key="b"), 1e12)
        calls = inner.calls
        assert not spooling.replay(time.monotonic() + 5)
        assert inner.calls == calls + 1
        assert len(spooling.spool) == 2
    finally:
        spooling.close()


def test_permanent_errors_are_not_spooled(tmp_path: Path, counters: ExportCounters) -> None:
    inner = Switchable()
    inner.mode = "refuse"
    spooling = make_spooling(inner, tmp_path, counters)
    try:
        with pytest.raises(PermanentError):
            spooling.send(batch_of(1), 1e12)
        assert len(spooling.spool) == 0
    finally:
        spooling.close()


def test_refused_on_replay_is_dropped_and_counted(tmp_path: Path, counters: ExportCounters) -> None:
    inner = Switchable()
    spooling = make_spooling(inner, tmp_path, counters)
    try:
        spooling.send(batch_of(2), 1e12)
        inner.mode = "refuse"
        assert spooling.replay(time.monotonic() + 5)
        assert counters.snapshot().dropped == 2
    finally:
        spooling.close()


def test_too_large_on_replay_is_split_in_the_spool(
    tmp_path: Path, counters: ExportCounters
) -> None:
    inner = Switchable()
    spooling = make_spooling(inner, tmp_path, counters)
    try:
        spooling.send(batch_of(4, key="big"), 1e12)
        inner.mode = "too-large"
        deadline = time.monotonic() + 5
        while not spooling.replay(deadline):
            pass
        delivered = [e["id"] for b in inner.delivered for e in b.events]
        assert sorted(delivered) == sorted(e["id"] for e in batch_of(4).events)
        assert all(len(b.events) <= 3 for b in inner.delivered)
        assert all(b.key.startswith("big.") for b in inner.delivered)
        assert counters.snapshot().exported == 4
        assert counters.snapshot().dropped == 0
    finally:
        spooling.close()


def test_corrupt_spool_files_are_dropped_and_counted(
    tmp_path: Path, counters: ExportCounters
) -> None:
    (tmp_path / f"{time.time_ns():020d}-1-0-7.batch").write_bytes(gzip.compress(b"{not json"))
    (tmp_path / f"{time.time_ns():020d}-1-1-2.batch").write_bytes(b"not gzip")
    inner = Switchable()
    inner.mode = "up"
    spooling = make_spooling(inner, tmp_path, counters)
    try:
        poll(lambda: len(spooling.spool) == 0)
        assert counters.snapshot().dropped == 9
        assert inner.delivered == []
    finally:
        spooling.close()


def test_spool_left_by_a_previous_process_is_replayed_at_start(
    tmp_path: Path, counters: ExportCounters
) -> None:
    first = make_spooling(Switchable(), tmp_path, ExportCounters())
    first.send(batch_of(3, key="before-restart"), 1e12)
    first.close()

    inner = Switchable()
    inner.mode = "up"
    second = make_spooling(inner, tmp_path, counters, interval=3600)
    try:
        poll(lambda: counters.snapshot().exported == 3)  # no timer tick needed: at start
        assert [b.key for b in inner.delivered] == ["before-restart"]
        assert len(second.spool) == 0
    finally:
        second.close()


def test_replayed_on_a_timer(tmp_path: Path, counters: ExportCounters) -> None:
    inner = Switchable()
    spooling = make_spooling(inner, tmp_path, counters, interval=0.05)
    try:
        spooling.send(batch_of(2), 1e12)
        inner.mode = "up"
        poll(lambda: counters.snapshot().exported == 2)
        assert len(spooling.spool) == 0
    finally:
        spooling.close()


def test_spool_write_failure_drops_and_counts(tmp_path: Path, counters: ExportCounters) -> None:
    inner = Switchable()
    spooling = Spooling(inner, DiskSpool(tmp_path, 200), counters, replay_interval=3600)
    try:
        assert spooling.send(batch_of(5), 1e12) == Outcome(dropped=5)
    finally:
        spooling.close()


def test_files_are_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = DiskSpool(tmp_path, 10_000_000)
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        replaced.append((os.path.basename(src), os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    spool.put(batch_of(1))
    ((src, dst),) = replaced
    assert src.startswith(".tmp-")
    assert dst.endswith(".batch")
