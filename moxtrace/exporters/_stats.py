"""``ExportStats``: what happened to the spans handed to an exporter."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from moxtrace.exporters._batch import Outcome

__all__ = ["ExportCounters", "ExportStats"]


@dataclass(frozen=True)
class ExportStats:
    """Span counts of one destination since it started.

    - ``exported``: acknowledged by the server (a span delivered twice, which
      at-least-once delivery allows, counts twice);
    - ``retried``: sent again after a failed attempt (one span retried three times
      counts three);
    - ``spooled``: written to the disk spool to be replayed later;
    - ``dropped``: given up on, never to be delivered (refused by the server, the
      spool full or off, the queue full);
    - ``in_spool``: waiting in the spool now;
    - ``queued``: waiting in the destination's batch processor now (from the client).
    """

    exported: int = 0
    retried: int = 0
    spooled: int = 0
    dropped: int = 0
    in_spool: int = 0
    queued: int = 0


class ExportCounters:
    """The exporter's counters; every wrapper adds to the same object, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.exported = 0
        self.retried = 0
        self.spooled = 0
        self.dropped = 0

    def add(self, outcome: Outcome) -> None:
        with self._lock:
            self.exported += outcome.exported
            self.spooled += outcome.spooled
            self.dropped += outcome.dropped

    def settle(self, outcome: Outcome, done: Callable[[], None]) -> None:
        """Run ``done`` (a spool file removed) and add ``outcome`` as one step: a snapshot
        sees a replayed batch either in the spool or in the counts, never both or neither."""
        with self._lock:
            done()
            self.exported += outcome.exported
            self.spooled += outcome.spooled
            self.dropped += outcome.dropped

    def count_retry(self, spans: int) -> None:
        with self._lock:
            self.retried += spans

    def snapshot(self, in_spool: int | Callable[[], int] = 0) -> ExportStats:
        with self._lock:
            return ExportStats(
                exported=self.exported,
                retried=self.retried,
                spooled=self.spooled,
                dropped=self.dropped,
                in_spool=in_spool if isinstance(in_spool, int) else in_spool(),
            )
