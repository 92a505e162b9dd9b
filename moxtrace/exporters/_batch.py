"""``EventBatch``: the unit the exporter's wrappers pass around, and ``Outcome``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["EventBatch", "Outcome"]


@dataclass(frozen=True)
class EventBatch:
    """Wire events (dicts, see ``span_to_wire``) sent together under one idempotency key.

    ``spans`` is how many spans the events belong to: the counters count spans. Every
    attempt to send the batch carries the same ``key``; parts of a split batch get keys
    derived from it.
    """

    events: Sequence[dict[str, Any]]
    key: str
    spans: int

    @classmethod
    def of(cls, events: Sequence[dict[str, Any]], key: str | None = None) -> EventBatch:
        """A batch of ``events`` (grouped by span, as ``span_to_wire`` makes them)."""
        return cls(events, key or uuid.uuid4().hex, len(_span_starts(events)))

    def halves(self) -> tuple[EventBatch, EventBatch]:
        """Two batches with the first and second half of the events.

        A batch of several spans is cut between spans, so each span stays whole; a
        single span's events are cut in the middle (both halves then count that span).
        """
        events = self.events
        if len(events) < 2:
            raise ValueError("a batch of one event cannot be split")
        starts = _span_starts(events)
        cut = starts[len(starts) // 2] if len(starts) > 1 else len(events) // 2
        first, second = events[:cut], events[cut:]
        return (
            EventBatch(first, f"{self.key}.0", len(_span_starts(first))),
            EventBatch(second, f"{self.key}.1", len(_span_starts(second))),
        )


def _span_starts(events: Sequence[dict[str, Any]]) -> list[int]:
    """Indexes where a new span's events begin."""
    starts: list[int] = []
    last: tuple[Any, Any] | None = None
    for i, event in enumerate(events):
        ident = (event.get("trace_id"), event.get("span_id"))
        if ident != last:
            starts.append(i)
            last = ident
    return starts


@dataclass(frozen=True)
class Outcome:
    """What became of a batch's spans: delivered, kept in the spool, or given up on."""

    exported: int = 0
    spooled: int = 0
    dropped: int = 0

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(
            self.exported + other.exported,
            self.spooled + other.spooled,
            self.dropped + other.dropped,
        )

    def worst(self, other: Outcome) -> Outcome:
        """For two parts of one span: the span is only as delivered as its worse part."""
        if self.dropped or other.dropped:
            return Outcome(dropped=max(self.dropped, other.dropped))
        if self.spooled or other.spooled:
            return Outcome(spooled=max(self.spooled, other.spooled))
        return Outcome(exported=max(self.exported, other.exported))
