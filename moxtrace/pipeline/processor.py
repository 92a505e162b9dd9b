"""The CPU side of the collector: records in, spans through the plugin chain, spans out.

``BatchProcessor`` decodes a batch of records (``moxtrace.pipeline.records``), puts Moxn
events back together into spans (``SpanReassembler``, ``wire_to_span``), runs the plugin
chain over the batch and says which spans to deliver and which parts of which records
are done without delivery (dropped by a plugin). It keeps the spans a plugin holds back
(``CollectorPlugin.holds``) with their tickets until the plugin returns or drops them.

It is not thread-safe and does no I/O: the collector calls it from one worker thread,
so plugins always run on that thread and the event loop stays free.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan

from moxtrace._ratelimit import RateLimitedLogger
from moxtrace.exporters.events import wire_to_span
from moxtrace.pipeline.offsets import Ticket
from moxtrace.pipeline.plugin import PluginChain
from moxtrace.pipeline.reassembly import Assembled, SpanReassembler
from moxtrace.pipeline.records import UndecodableRecord, decode_record
from moxtrace.server.assemble import WireEvent

__all__ = ["BatchProcessor", "InRecord", "Processed", "ProcessorCounters", "Unit"]

_logger = logging.getLogger("moxtrace.pipeline")
_warn = RateLimitedLogger(_logger)
_SpanKey = tuple[int, int]


class Unit:
    """A span on its way to the sinks, and the tickets of the records it came from.

    A span that came as Moxn events keeps them in ``wire`` while no plugin changes it:
    the store sink stores them as they were sent, and the span itself is only rebuilt
    (``wire_to_span``) when something reads ``span`` — with no plugins and only store
    sinks, never.
    """

    __slots__ = ("_span", "tenant", "tickets", "wire")

    def __init__(
        self,
        span: ReadableSpan | None,
        tenant: str,
        tickets: Sequence[Ticket],
        wire: list[WireEvent] | None = None,
    ) -> None:
        if span is None and not wire:
            raise ValueError("a unit needs a span or the events to rebuild it from")
        self._span = span
        self.tenant = tenant
        self.tickets = tickets
        self.wire = wire

    @property
    def span(self) -> ReadableSpan:
        """The span; rebuilt from ``wire`` on first use (``ValueError`` if it cannot be)."""
        span = self._span
        if span is None:
            assert self.wire is not None
            span = self._span = wire_to_span([raw for _, raw in self.wire])
        return span

    @span.setter
    def span(self, value: ReadableSpan) -> None:
        self._span = value

    def ids(self) -> tuple[str, str]:
        """(trace id, span id) in hex, without rebuilding the span."""
        if self._span is None and self.wire:
            event = self.wire[0][0]
            return event.trace_id, event.span_id
        context = self.span.context
        return format(context.trace_id, "032x"), format(context.span_id, "016x")


@dataclass
class InRecord:
    """A record to decode: its value, headers, ticket and scope (its partition)."""

    ticket: Ticket
    scope: Hashable
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    key: bytes | None = None
    dead_letters: bool = True
    """Whether an undecodable record goes to the dead-letter topic (Kafka records) or
    is answered to its sender (OTLP/HTTP requests)."""


@dataclass
class Processed:
    """What a call of the processor produced."""

    deliver: list[Unit] = field(default_factory=list)
    """Spans for the sinks; each unit's tickets are released once every sink has them."""
    released: list[Ticket] = field(default_factory=list)
    """One part of each of these tickets is done without delivery (a dropped span)."""
    records: list[InRecord] = field(default_factory=list)
    """The records decoded by this call (their decode hold is to be released; those with
    ``ticket.dead_letter`` set go to the dead-letter topic first)."""


@dataclass
class ProcessorCounters:
    """What the processor did since it started."""

    records: int = 0
    dead_letters: int = 0
    spans_in: int = 0
    spans_out: int = 0
    spans_dropped: int = 0
    """Spans a plugin dropped (sampled out, filtered)."""
    spans_unreadable: int = 0
    """Spans whose events could not be turned into a span (logged, dropped)."""
    spans_added: int = 0
    """Spans a plugin made that were not in its input."""


class BatchProcessor:
    """Decode, reassemble and run the plugin chain; one thread at a time."""

    def __init__(
        self,
        chain: PluginChain,
        reassembler: SpanReassembler,
        *,
        default_tenant: str = "dev",
    ) -> None:
        self.chain = chain
        self.reassembler = reassembler
        self.default_tenant = default_tenant
        self.counters = ProcessorCounters()
        self._held: dict[_SpanKey, list[Unit]] = {}

    @property
    def held(self) -> int:
        """Spans a plugin is holding back (their records stay uncommitted)."""
        return sum(len(units) for units in self._held.values())

    def process(self, records: Sequence[InRecord]) -> Processed:
        """Decode ``records`` and run what they complete through the plugins."""
        counters = self.counters
        units: list[Unit] = []
        unreadable: list[Ticket] = []
        for record in records:
            counters.records += 1
            ticket = record.ticket
            try:
                decoded = decode_record(record.value, record.headers, self.default_tenant)
            except UndecodableRecord as exc:
                ticket.dead_letter = str(exc)
                counters.dead_letters += 1
                continue
            if decoded.spans is not None:
                ticket.add(len(decoded.spans))
                units.extend(Unit(span, decoded.tenant, (ticket,)) for span in decoded.spans)
                continue
            assert decoded.events is not None
            assembled = self.reassembler.add(record.scope, decoded.tenant, decoded.events, ticket)
            self._rebuild(assembled, units, unreadable)
        self._rebuild(self.reassembler.expire(), units, unreadable)
        result = self._through_chain(units, polled=False)
        result.released.extend(unreadable)
        result.records = list(records)
        return result

    def tick(self) -> Processed:
        """Release timed-out spans and what plugins release on a timer; drop the spans
        plugins no longer hold (they were sampled out)."""
        units: list[Unit] = []
        unreadable: list[Ticket] = []
        self._rebuild(self.reassembler.expire(), units, unreadable)
        result = self._through_chain(units, polled=True)
        result.released.extend(unreadable)
        for key in [k for k in self._held if not self.chain.holds(*k)]:
            for unit in self._held.pop(key):
                self.counters.spans_dropped += 1
                result.released.extend(unit.tickets)
        return result

    def forget(self, scopes: Iterable[Hashable]) -> int:
        """Drop waiting events of ``scopes`` (revoked partitions); how many spans."""
        return self.reassembler.forget(set(scopes))

    def shutdown(self) -> int:
        """Flush and shut the plugins down; how many held spans are left undelivered
        (their records were not committed, so they are read again)."""
        left = len(self.chain.flush()) + self.held
        self.chain.shutdown()
        self._held.clear()
        return left

    def _rebuild(
        self, assembled: Iterable[Assembled], units: list[Unit], unreadable: list[Ticket]
    ) -> None:
        lazy = not self.chain.plugins
        for item in assembled:
            if lazy:
                units.append(Unit(None, item.tenant, item.tickets, item.events))
                continue
            raws = [raw for _, raw in item.events]
            try:
                span = wire_to_span(raws)
            except ValueError as exc:
                # Nothing of it can be delivered: its parts are done.
                self.counters.spans_unreadable += 1
                _warn.warning("unreadable-span", "moxtrace collector: dropping a span: %s", exc)
                unreadable.extend(item.tickets)
                continue
            units.append(Unit(span, item.tenant, item.tickets, item.events))

    def _through_chain(self, units: list[Unit], *, polled: bool) -> Processed:
        counters = self.counters
        counters.spans_in += len(units)
        result = Processed()
        chain = self.chain
        if not chain.plugins:
            result.deliver = units
            counters.spans_out += len(units)
            return result
        out = chain.process([unit.span for unit in units]) if units else []
        if polled:
            out.extend(chain.poll())
        waiting: dict[_SpanKey, list[Unit]] = {}
        for unit in units:
            context = unit.span.context
            waiting.setdefault((context.trace_id, context.span_id), []).append(unit)
        for span in out:
            context = span.context
            key = (context.trace_id, context.span_id)
            found = _take(waiting, key) or _take(self._held, key)
            if found is None:
                counters.spans_added += 1
                found = Unit(span, self.default_tenant, ())
            elif span is not found.span:
                found.span = span
                found.wire = None
            result.deliver.append(found)
        for key, left in waiting.items():
            if chain.holds(*key):
                self._held.setdefault(key, []).extend(left)
                continue
            for unit in left:
                counters.spans_dropped += 1
                result.released.extend(unit.tickets)
        counters.spans_out += len(result.deliver)
        return result


def _take(units: dict[_SpanKey, list[Unit]], key: _SpanKey) -> Unit | None:
    found = units.get(key)
    if not found:
        return None
    unit = found.pop(0)
    if not found:
        del units[key]
    return unit
