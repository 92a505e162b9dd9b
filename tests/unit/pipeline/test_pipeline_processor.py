"""The processor: records to spans, through the plugins, with every part accounted for."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from moxtrace.exporters.events import WIRE_PARTIAL_ATTRIBUTE
from moxtrace.pipeline import CollectorPlugin, PluginChain, replace_span
from moxtrace.pipeline.processor import BatchProcessor, Processed
from moxtrace.pipeline.reassembly import SpanReassembler

from .factories import moxn_record, otlp_record, span, wire


def processor(*plugins: CollectorPlugin, **kwargs: Any) -> BatchProcessor:
    return BatchProcessor(PluginChain(plugins), SpanReassembler(**kwargs), default_tenant="dev")


def settle(result: Processed) -> None:
    """What the collector does once every sink has the spans."""
    for unit in result.deliver:
        for ticket in unit.tickets:
            ticket.release()
    for ticket in result.released:
        ticket.release()
    for record in result.records:
        record.ticket.release()


class Rename(CollectorPlugin):
    name = "rename"

    def process(self, spans: list[ReadableSpan]) -> list[ReadableSpan]:
        return [replace_span(s, name=s.name.upper()) for s in spans]


class DropOdd(CollectorPlugin):
    name = "drop_odd"

    def process(self, spans: list[ReadableSpan]) -> list[ReadableSpan]:
        return [s for s in spans if s.context.span_id % 2 == 0]


class HoldAll(CollectorPlugin):
    """Holds every span until told to release or drop them."""

    name = "hold_all"

    def __init__(self) -> None:
        super().__init__()
        self.held: list[ReadableSpan] = []
        self.release = False

    def process(self, spans: list[ReadableSpan]) -> list[ReadableSpan]:
        self.held.extend(spans)
        if not self.release:
            return []
        out, self.held = self.held, []
        return out

    def holds(self, trace_id: int, span_id: int) -> bool:
        return any(s.context.span_id == span_id for s in self.held)


def test_otlp_records_become_spans_and_their_tickets_complete() -> None:
    record = otlp_record([span(1, 1), span(1, 2)])
    result = processor().process([record])
    assert [u.span.context.span_id for u in result.deliver] == [1, 2]
    assert all(u.wire is None and u.tenant == "dev" for u in result.deliver)
    settle(result)
    assert record.ticket.done


def test_moxn_spans_keep_their_events_while_no_plugin_changes_them() -> None:
    record = moxn_record(wire(span(llm=True)), tenant="acme")
    (unit,) = processor().process([record]).deliver
    assert unit.tenant == "acme"
    assert unit.wire is not None and len(unit.wire) == 3
    (changed,) = processor(Rename()).process([moxn_record(wire(span()))]).deliver
    assert changed.span.name == "WORK" and changed.wire is None


def test_an_undecodable_record_is_marked_for_the_dead_letter_topic() -> None:
    bad = moxn_record([{"event_type": "span_start"}])
    good = otlp_record([span()])
    result = processor().process([bad, good])
    assert bad.ticket.dead_letter is not None and "trace_id" in bad.ticket.dead_letter
    assert len(result.deliver) == 1
    settle(result)
    assert bad.ticket.done and good.ticket.done


def test_spans_a_plugin_drops_are_done_without_delivery() -> None:
    record = otlp_record([span(1, 1), span(1, 2), span(1, 3)])
    proc = processor(DropOdd())
    result = proc.process([record])
    assert [u.span.context.span_id for u in result.deliver] == [2]
    assert len(result.released) == 2
    assert proc.counters.spans_dropped == 2
    settle(result)
    assert record.ticket.done


def test_a_record_of_a_held_span_stays_open_until_the_plugin_lets_it_go() -> None:
    hold = HoldAll()
    proc = processor(hold)
    record = otlp_record([span(1, 1), span(1, 2)])
    first = proc.process([record])
    assert first.deliver == [] and first.released == []
    settle(first)
    assert not record.ticket.done and proc.held == 2
    hold.release = True
    later = proc.tick()  # the plugin releases on a timer tick
    assert sorted(u.span.context.span_id for u in later.deliver) == [1, 2]
    settle(later)
    assert record.ticket.done and proc.held == 0


def test_a_held_span_the_plugin_then_drops_completes_its_record() -> None:
    hold = HoldAll()
    proc = processor(hold)
    record = otlp_record([span(1, 1)])
    settle(proc.process([record]))
    hold.held.clear()  # sampled out
    result = proc.tick()
    assert result.deliver == [] and len(result.released) == 1
    settle(result)
    assert record.ticket.done


def test_a_span_split_over_two_records_holds_both_until_delivered() -> None:
    proc = processor()
    start, llm, end = wire(span(llm=True))
    first = moxn_record([start], offset=1)
    second = moxn_record([llm, end], offset=2)
    result = proc.process([first])
    assert result.deliver == []
    settle(result)
    assert not first.ticket.done
    result = proc.process([second])
    (unit,) = result.deliver
    assert unit.tickets == [first.ticket, second.ticket]
    settle(result)
    assert first.ticket.done and second.ticket.done


def test_a_span_without_its_end_goes_out_partial_after_the_timeout() -> None:
    now = [0.0]
    proc = BatchProcessor(
        PluginChain([]), SpanReassembler(timeout=1.0, clock=lambda: now[0]), default_tenant="dev"
    )
    record = moxn_record([wire(span())[0]])
    settle(proc.process([record]))
    now[0] = 2.0
    (unit,) = proc.tick().deliver
    assert unit.span.attributes[WIRE_PARTIAL_ATTRIBUTE] == "span_start"


def test_forgetting_a_partition_drops_its_waiting_events() -> None:
    proc = processor()
    settle(proc.process([moxn_record([wire(span())[0]], scope=("t", 3))]))
    assert proc.forget([("t", 3)]) == 1


def test_shutdown_counts_what_plugins_still_hold() -> None:
    hold = HoldAll()
    proc = processor(hold)
    settle(proc.process([otlp_record([span(1, 1)])]))
    assert proc.shutdown() >= 1


def lone_tool_call() -> dict[str, Any]:
    """A valid event that cannot make a span: no lifecycle event, no timestamp."""
    event = {**wire(span())[0], "event_type": "tool_call", "sequence_number": 4}
    del event["timestamp"]
    return event


def test_events_that_cannot_make_a_span_for_the_plugins_are_dropped() -> None:
    now = [0.0]
    proc = BatchProcessor(
        PluginChain([Rename()]),
        SpanReassembler(timeout=1.0, clock=lambda: now[0]),
        default_tenant="dev",
    )
    record = moxn_record([lone_tool_call()])
    settle(proc.process([record]))
    assert not record.ticket.done
    now[0] = 2.0
    result = proc.tick()
    assert result.deliver == [] and result.released == [record.ticket]
    settle(result)
    assert record.ticket.done
    assert proc.counters.spans_unreadable == 1


def test_without_plugins_spans_are_only_rebuilt_when_read() -> None:
    now = [0.0]
    proc = BatchProcessor(
        PluginChain([]), SpanReassembler(timeout=1.0, clock=lambda: now[0]), default_tenant="dev"
    )
    settle(proc.process([moxn_record([lone_tool_call()])]))
    now[0] = 2.0
    (unit,) = proc.tick().deliver
    assert unit.wire is not None  # the store stores the event as sent
    assert unit.ids() == (unit.wire[0][0].trace_id, unit.wire[0][0].span_id)
    with pytest.raises(ValueError, match="no usable time"):
        unit.span  # noqa: B018
    (whole,) = proc.process([moxn_record(wire(span(llm=True)))]).deliver
    assert whole.span.name == "work"
