"""The disk spool: batches that could not be delivered wait on disk and are sent again.

``DiskSpool`` is the directory: each batch one gzip'd JSON file, written atomically
(temporary file, fsync, rename), named so that names sort oldest first, bounded in total
bytes (the oldest files are dropped, and counted, to make room). ``Spooling`` is the
wrapper: a batch that fails for a reason that may pass (connection refused, 5xx, 429
past the deadline) is written to the spool instead of being dropped, and a replay
thread sends spooled batches again on a timer, and at once on start, so batches left
by a process that died are delivered by the next one. Delivery is at least once: a
batch the server stored but never acknowledged is sent again, and the server's
idempotent ingest stores it once.

While the server is failing and the spool already holds batches, new batches go
straight to the spool: the exporter's worker never waits out a deadline per batch
during an outage, so the span queue does not overflow.

One process per spool directory is the intended use; two processes sharing one only
risk sending a batch twice.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import logging
import os
import re
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from moxtrace._ratelimit import RateLimitedLogger
from moxtrace.exporters._batch import EventBatch, Outcome
from moxtrace.exporters._errors import DeliveryError, PayloadTooLarge
from moxtrace.exporters._http import suppressed
from moxtrace.exporters._retry import BatchSender
from moxtrace.exporters._stats import ExportCounters

__all__ = ["DiskSpool", "SpoolEntry", "Spooling"]

_logger = logging.getLogger("moxtrace.exporters")
_warn = RateLimitedLogger(_logger)
_NAME = re.compile(r"^(\d{20})-(\d+)-(\d+)-(\d+)\.batch$")
_TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class SpoolEntry:
    """One spooled batch on disk."""

    path: Path
    stamp: int
    size: int
    spans: int


class DiskSpool:
    """A directory of undelivered batches, at most ``max_bytes`` in total.

    Thread-safe within a process. ``put`` makes room by dropping the oldest batches
    (it returns how many spans that cost); a batch larger than the whole spool is
    refused with ``OSError``.
    """

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("the spool's max_bytes must be positive")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._claimed: set[Path] = set()
        self._entries: dict[Path, SpoolEntry] = {}
        self._remove_stale_temporaries()
        self.rescan()

    # -- the index -------------------------------------------------------------------
    def rescan(self) -> None:
        """Re-read the directory (another process may have added or replayed files)."""
        entries: dict[Path, SpoolEntry] = {}
        for path in self.directory.iterdir():
            match = _NAME.match(path.name)
            if match is None:
                continue
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            entries[path] = SpoolEntry(path, int(match.group(1)), size, int(match.group(4)))
        with self._lock:
            self._entries = entries

    def entries(self) -> list[SpoolEntry]:
        """The spooled batches, oldest first."""
        with self._lock:
            return sorted(self._entries.values(), key=lambda e: e.path.name)

    @property
    def spans(self) -> int:
        """Spans waiting in the spool."""
        with self._lock:
            return sum(e.spans for e in self._entries.values())

    @property
    def size(self) -> int:
        """Bytes the spool's files take."""
        with self._lock:
            return sum(e.size for e in self._entries.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    # -- files -----------------------------------------------------------------------
    def put(self, batch: EventBatch, stamp: int | None = None) -> int:
        """Write ``batch`` as the newest file (or at ``stamp``); return spans evicted."""
        data = gzip.compress(
            orjson.dumps(
                {"key": batch.key, "spans": batch.spans, "events": list(batch.events)},
                default=str,
            ),
            compresslevel=1,
            mtime=0,
        )
        if len(data) > self.max_bytes:
            raise OSError(
                f"a batch of {len(data)} bytes does not fit in a spool of {self.max_bytes}"
            )
        stamp = time.time_ns() if stamp is None else stamp
        name = f"{stamp:020d}-{os.getpid()}-{next(self._seq)}-{batch.spans}.batch"
        path = self.directory / name
        tmp = self.directory / f"{_TMP_PREFIX}{os.getpid()}-{name}"
        evicted = self._make_room(len(data))
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_directory(self.directory)
        with self._lock:
            self._entries[path] = SpoolEntry(path, stamp, len(data), batch.spans)
        return evicted

    def _make_room(self, size: int) -> int:
        evicted = 0
        with self._lock:
            total = sum(e.size for e in self._entries.values())
            # Oldest first; a batch being replayed right now is left alone.
            for entry in sorted(self._entries.values(), key=lambda e: e.path.name):
                if total + size <= self.max_bytes:
                    break
                if entry.path in self._claimed:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    entry.path.unlink()
                del self._entries[entry.path]
                total -= entry.size
                evicted += entry.spans
        if evicted:
            _warn.warning(
                "spool-full",
                "moxtrace: the spool %s is full (%d bytes); dropped the oldest batches",
                self.directory,
                self.max_bytes,
            )
        return evicted

    def claim(self, entry: SpoolEntry) -> EventBatch | None:
        """Read ``entry`` and protect it from eviction until ``release``; ``None`` if it
        is gone. A file that cannot be read raises ``ValueError`` (and stays claimed)."""
        with self._lock:
            if entry.path not in self._entries:
                return None
            self._claimed.add(entry.path)
        try:
            raw = gzip.decompress(entry.path.read_bytes())
        except FileNotFoundError:
            self.release(entry, remove=True)
            return None
        except (OSError, EOFError) as exc:
            raise ValueError(f"unreadable spool file {entry.path}: {exc}") from exc
        try:
            body: Any = orjson.loads(raw)
            return EventBatch(list(body["events"]), str(body["key"]), int(body["spans"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"unreadable spool file {entry.path}: {exc}") from exc

    def release(self, entry: SpoolEntry, *, remove: bool) -> None:
        """End a claim; ``remove`` deletes the file (delivered, or given up on)."""
        if remove:
            with contextlib.suppress(FileNotFoundError):
                entry.path.unlink()
        with self._lock:
            self._claimed.discard(entry.path)
            if remove:
                self._entries.pop(entry.path, None)

    def _remove_stale_temporaries(self) -> None:
        # Left by a process that died mid-write; never a finished batch.
        for path in self.directory.glob(f"{_TMP_PREFIX}*"):
            pid = path.name[len(_TMP_PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and _alive(int(pid)) and int(pid) != os.getpid():
                continue
            with contextlib.suppress(OSError):
                path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_directory(directory: Path) -> None:
    # The rename is only durable once the directory entry is on disk.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Spooling:
    """Keeps batches that failed for a passing reason in ``spool``; replays them.

    Args:
        inner: where batches go (the retrying sender).
        spool: the directory.
        counters: the exporter's counters (replayed batches count as exported, evicted
            ones as dropped).
        replay_interval: seconds between replay rounds while the spool holds batches.
        replay_deadline: seconds one replayed batch may take, retries included.
    """

    def __init__(
        self,
        inner: BatchSender,
        spool: DiskSpool,
        counters: ExportCounters,
        *,
        replay_interval: float = 5.0,
        replay_deadline: float = 10.0,
        stop: threading.Event | None = None,
    ) -> None:
        self._inner = inner
        self.spool = spool
        self._counters = counters
        self._interval = replay_interval
        self._replay_deadline = replay_deadline
        self._stop = stop or threading.Event()
        self._failing = False
        self._replay_lock = threading.Lock()
        self._wake = threading.Event()
        self._start_thread()
        if hasattr(os, "register_at_fork"):
            ref = weakref.WeakMethod(self._at_fork_in_child)
            os.register_at_fork(after_in_child=lambda: (m := ref()) and m())

    def _at_fork_in_child(self) -> None:
        if not self._stop.is_set():
            self._start_thread()

    def _start_thread(self) -> None:
        self._replay_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="moxtrace-spool-replay", daemon=True)
        self._thread.start()

    # -- the export path ----------------------------------------------------------------
    def send(self, batch: EventBatch, deadline: float) -> Outcome:
        if self._failing and len(self.spool):
            return self._keep(batch)
        try:
            outcome = self._inner.send(batch, deadline)
        except DeliveryError as exc:
            if not exc.retriable:
                raise
            self._failing = True
            _warn.warning(
                "spooling",
                "moxtrace: could not deliver spans (%s); keeping them in the spool %s",
                exc,
                self.spool.directory,
            )
            return self._keep(batch)
        if len(self.spool):
            self._wake.set()
        return outcome

    def _keep(self, batch: EventBatch, stamp: int | None = None) -> Outcome:
        try:
            evicted = self.spool.put(batch, stamp)
        except OSError as exc:
            _warn.error("spool-write", "moxtrace: could not write to the spool: %s", exc)
            return Outcome(dropped=batch.spans)
        if evicted:
            self._counters.add(Outcome(dropped=evicted))
        return Outcome(spooled=batch.spans)

    # -- replay ------------------------------------------------------------------------
    def _run(self) -> None:
        with suppressed():
            while not self._stop.is_set():
                if len(self.spool):
                    try:
                        self.replay()
                    except Exception:
                        _logger.debug("moxtrace: spool replay raised", exc_info=True)
                self._wake.wait(self._interval)
                self._wake.clear()

    def replay(self, deadline: float | None = None) -> bool:
        """Send spooled batches, oldest first, until one fails again or ``deadline``.

        Returns whether the spool is empty afterwards.
        """
        wait = -1.0 if deadline is None else max(deadline - time.monotonic(), 0.0)
        if not self._replay_lock.acquire(timeout=wait):
            return False
        try:
            with suppressed():
                self.spool.rescan()
                for entry in self.spool.entries():
                    now = time.monotonic()
                    if self._stop.is_set() or (deadline is not None and now >= deadline):
                        break
                    until = now + self._replay_deadline
                    if not self._replay_one(
                        entry, until if deadline is None else min(until, deadline)
                    ):
                        break
        finally:
            self._replay_lock.release()
        return len(self.spool) == 0

    def _replay_one(self, entry: SpoolEntry, deadline: float) -> bool:
        """Send one spooled batch; False when the server is still failing."""
        try:
            batch = self.spool.claim(entry)
        except ValueError as exc:
            _warn.error("spool-corrupt", "moxtrace: dropping a spool file: %s", exc)
            self._settle(entry, Outcome(dropped=entry.spans))
            return True
        if batch is None:
            return True
        try:
            outcome = self._inner.send(batch, deadline)
        except PayloadTooLarge:
            self._split(entry, batch)
            return True
        except DeliveryError as exc:
            if exc.retriable:
                self._failing = True
                self.spool.release(entry, remove=False)
                return False
            _warn.error(
                "spool-refused",
                "moxtrace: the server refused spooled spans; dropping them: %s",
                exc,
            )
            self._settle(entry, Outcome(dropped=batch.spans))
            return True
        self._settle(entry, outcome)
        self._failing = False
        return True

    def _settle(self, entry: SpoolEntry, outcome: Outcome) -> None:
        self._counters.settle(outcome, lambda: self.spool.release(entry, remove=True))

    def _split(self, entry: SpoolEntry, batch: EventBatch) -> None:
        # Put the halves back in the batch's place in the queue; they go next round.
        if len(batch.events) < 2:
            _warn.warning(
                "event-too-large",
                "moxtrace: dropped a spooled event the server refuses as too large",
            )
            self._settle(entry, Outcome(dropped=batch.spans))
            return
        for half in batch.halves():
            outcome = self._keep(half, stamp=entry.stamp)
            if outcome.dropped:  # spooled already counted when the whole batch was
                self._counters.add(outcome)
        self.spool.release(entry, remove=True)

    def close(self, timeout: float = 1.0) -> None:
        """Stop the replay thread (the spool's files stay for the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def failing(self) -> bool:
        """Whether the last attempt failed and batches are being spooled."""
        return self._failing
