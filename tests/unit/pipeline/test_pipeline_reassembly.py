"""Reassembly: a span's events from several records released together, bounded, timed out."""

from __future__ import annotations

import pytest

from moxtrace.pipeline.offsets import Ticket
from moxtrace.pipeline.reassembly import SpanReassembler
from moxtrace.server.payloads import validate_events

from .factories import span, wire


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def events(*spans_events: list[dict[str, object]]) -> list[object]:
    return validate_events([e for group in spans_events for e in group])


def test_a_whole_span_in_one_record_goes_out_at_once() -> None:
    buffer = SpanReassembler()
    ticket = Ticket()
    (out,) = buffer.add("p0", "dev", events(wire(span(llm=True))), ticket)
    assert out.complete and out.tickets == [ticket]
    assert [e.event_type.value for e, _ in out.events] == ["span_start", "llm_call", "span_end"]
    assert ticket.refs == 2  # the decode hold and the span
    assert len(buffer) == 0


def test_events_split_over_records_wait_for_the_end_and_hold_both_tickets() -> None:
    buffer = SpanReassembler()
    start, llm, end = wire(span(llm=True))
    first, second = Ticket(1), Ticket(2)
    assert buffer.add("p0", "dev", events([start]), first) == []
    assert len(buffer) == 1
    (out,) = buffer.add("p0", "dev", events([llm, end]), second)
    assert out.complete
    assert out.tickets == [first, second]
    assert [e.event_type.value for e, _ in out.events] == ["span_start", "llm_call", "span_end"]


def test_a_span_that_waited_too_long_goes_out_partial() -> None:
    clock = Clock()
    buffer = SpanReassembler(timeout=5, clock=clock)
    start, _ = wire(span())
    buffer.add("p0", "dev", events([start]), Ticket())
    clock.now += 4.9
    assert buffer.expire() == []
    clock.now += 0.2
    (out,) = buffer.expire()
    assert not out.complete
    assert buffer.timed_out == 1 and len(buffer) == 0


def test_the_oldest_span_makes_room_when_the_buffer_is_full() -> None:
    buffer = SpanReassembler(max_spans=2)
    starts = [wire(span(1, i))[0] for i in range(1, 4)]
    assert buffer.add("p0", "dev", events([starts[0]]), Ticket()) == []
    assert buffer.add("p0", "dev", events([starts[1]]), Ticket()) == []
    (evicted,) = buffer.add("p0", "dev", events([starts[2]]), Ticket())
    assert evicted.events[0][0].span_id == f"{1:016x}"
    assert buffer.evicted == 1 and len(buffer) == 2


def test_spans_of_a_revoked_partition_are_forgotten() -> None:
    buffer = SpanReassembler()
    buffer.add("p0", "dev", events([wire(span(1, 1))[0]]), Ticket())
    buffer.add("p1", "dev", events([wire(span(1, 2))[0]]), Ticket())
    assert buffer.forget({"p0"}) == 1
    assert len(buffer) == 1 and buffer.forgotten == 1


def test_tenants_and_partitions_do_not_mix() -> None:
    buffer = SpanReassembler()
    start, end = wire(span())
    assert buffer.add("p0", "acme", events([start]), Ticket()) == []
    assert buffer.add("p0", "other", events([end]), Ticket()) == []
    assert buffer.add("p1", "acme", events([end]), Ticket()) == []
    assert len(buffer) == 3


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_spans"):
        SpanReassembler(max_spans=0)
