"""Putting a span's events back together when they arrive in different records.

``moxtrace serve --queue`` writes a batch's events one record per trace, so a span's
``span_start``, ``llm_call`` and ``span_end`` usually come in one record; but a batch
split by size, a sender that flushes starts and ends separately, or a span still open
when its first events were sent spreads them over several records of the trace's
partition. ``SpanReassembler`` holds such events until the span is whole (it has a
start and an end or error event), then releases them together.

Bounded: at most ``max_spans`` spans wait. A span that waited ``timeout`` seconds (a
span whose end never came: the process died) is released as it is — ``wire_to_span``
marks it partial — and so is the oldest one when the bound is reached; both are counted.
The spans waiting hold their records' tickets, so those offsets are not committed until
the spans are released and delivered: a crash re-reads them.

Spans are kept per *scope* (a Kafka partition): a rebalance that takes the partition away
forgets its spans (``forget``), and the consumer that gets it reads them again.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from moxtrace.pipeline.offsets import Ticket
from moxtrace.server.assemble import WireEvent
from moxtrace.types.telemetry import TelemetryEventType

__all__ = ["Assembled", "SpanReassembler"]

_START = TelemetryEventType.SPAN_START
_ENDS = frozenset({TelemetryEventType.SPAN_END, TelemetryEventType.SPAN_ERROR})


@dataclass
class Assembled:
    """The events of one span, released together, and the tickets of their records."""

    tenant: str
    events: list[WireEvent]
    tickets: list[Ticket]
    complete: bool
    """Whether the span has its start and its end (else it timed out or was evicted)."""


class _Waiting:
    __slots__ = ("events", "has_end", "has_start", "scope", "since", "tenant", "tickets")

    def __init__(self, scope: Hashable, tenant: str, since: float) -> None:
        self.scope = scope
        self.tenant = tenant
        self.since = since
        self.events: list[WireEvent] = []
        self.tickets: list[Ticket] = []
        self.has_start = False
        self.has_end = False


def _key_of(event: WireEvent) -> tuple[str, str]:
    model = event[0]
    return model.trace_id, model.span_id


class SpanReassembler:
    """Spans waiting for the rest of their events, oldest first (bounded, timed out)."""

    def __init__(
        self,
        max_spans: int = 20_000,
        timeout: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_spans < 1 or timeout <= 0:
            raise ValueError("max_spans must be >= 1 and timeout > 0")
        self.max_spans = max_spans
        self.timeout = timeout
        self._clock = clock
        self._waiting: OrderedDict[tuple[Hashable, str, str, str], _Waiting] = OrderedDict()
        self.timed_out = 0
        """Spans released without their start or end because they waited too long."""
        self.evicted = 0
        """Spans released early, incomplete, because ``max_spans`` were waiting."""
        self.forgotten = 0
        """Spans dropped because their partition was revoked (another consumer reads them)."""

    def __len__(self) -> int:
        return len(self._waiting)

    def add(
        self, scope: Hashable, tenant: str, events: Sequence[WireEvent], ticket: Ticket
    ) -> list[Assembled]:
        """Take a record's events; the spans they complete (or that had to make room).

        ``ticket`` gains one part per span the record has events of.
        """
        pieces: dict[tuple[str, str], list[WireEvent]] = {}
        for event in events:
            span_key = _key_of(event)
            piece = pieces.get(span_key)
            if piece is None:
                pieces[span_key] = [event]
            else:
                piece.append(event)
        ticket.add(len(pieces))
        out: list[Assembled] = []
        waiting = self._waiting
        for (trace_id, span_id), piece in pieces.items():
            has_start = any(e[0].event_type is _START for e in piece)
            has_end = any(e[0].event_type in _ENDS for e in piece)
            key = (scope, tenant, trace_id, span_id)
            entry = waiting.get(key)
            if entry is None:
                if has_start and has_end:
                    out.append(Assembled(tenant, piece, [ticket], True))
                    continue
                entry = waiting[key] = _Waiting(scope, tenant, self._clock())
            entry.events.extend(piece)
            entry.tickets.append(ticket)
            entry.has_start = entry.has_start or has_start
            entry.has_end = entry.has_end or has_end
            if entry.has_start and entry.has_end:
                del waiting[key]
                out.append(Assembled(tenant, entry.events, entry.tickets, True))
        while len(waiting) > self.max_spans:
            _, entry = waiting.popitem(last=False)
            self.evicted += 1
            out.append(Assembled(entry.tenant, entry.events, entry.tickets, False))
        return out

    def expire(self) -> list[Assembled]:
        """The spans that waited ``timeout`` seconds, released as they are."""
        out: list[Assembled] = []
        waiting = self._waiting
        deadline = self._clock() - self.timeout
        while waiting:
            entry = next(iter(waiting.values()))
            if entry.since > deadline:
                break
            waiting.popitem(last=False)
            self.timed_out += 1
            out.append(Assembled(entry.tenant, entry.events, entry.tickets, False))
        return out

    def forget(self, scopes: set[Hashable]) -> int:
        """Drop the spans of ``scopes`` (revoked partitions); how many were dropped."""
        doomed = [key for key, entry in self._waiting.items() if entry.scope in scopes]
        for key in doomed:
            del self._waiting[key]
        self.forgotten += len(doomed)
        return len(doomed)
