"""The delivery core: every sink acknowledges before a record is done; backpressure; retries."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from moxtrace.pipeline import PluginChain
from moxtrace.pipeline.collector import Collector
from moxtrace.pipeline.processor import BatchProcessor, InRecord, Unit
from moxtrace.pipeline.reassembly import SpanReassembler
from moxtrace.pipeline.sinks import Sink, SinkUnavailable

from .factories import otlp_record, span


class GateSink(Sink):
    """Takes spans when its gate is open; fails ``failures`` times first."""

    def __init__(self, name: str, *, failures: int = 0) -> None:
        super().__init__()
        self.name = name
        self.failures = failures
        self.gate = asyncio.Event()
        self.gate.set()
        self.received: list[int] = []

    async def write(self, units: Sequence[Unit]) -> None:
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise SinkUnavailable("not now")
        self.received.extend(u.span.context.span_id for u in units)


def collector(*sinks: Sink, inflight: int = 4) -> Collector:
    processor = BatchProcessor(PluginChain([]), SpanReassembler(), default_tenant="dev")
    return Collector(processor, sinks, max_inflight_batches=inflight, sink_retry_max=0.01)


async def test_a_record_is_done_once_every_sink_has_its_spans() -> None:
    fast, slow = GateSink("fast"), GateSink("slow")
    slow.gate.clear()
    core = collector(fast, slow)
    record = otlp_record([span(1, 1), span(1, 2)])
    await core.submit([record])
    assert not await core.idle(0.2)
    assert fast.received == [1, 2] and not record.ticket.done
    slow.gate.set()
    assert await core.idle(5)
    assert slow.received == [1, 2] and record.ticket.done
    await core.close()


async def test_a_failing_sink_is_retried_until_it_takes_the_batch() -> None:
    flaky = GateSink("flaky", failures=3)
    core = collector(flaky)
    record = otlp_record([span(1, 1)])
    await core.submit([record])
    assert await core.idle(5)
    assert flaky.received == [1] and record.ticket.done
    await core.close()


async def test_submit_waits_while_every_delivery_slot_is_busy() -> None:
    stuck = GateSink("stuck")
    stuck.gate.clear()
    core = collector(stuck, inflight=1)
    await core.submit([otlp_record([span(1, 1)])])
    assert not core.has_capacity()
    second = asyncio.ensure_future(core.submit([otlp_record([span(1, 2)], offset=1)]))
    finished, _ = await asyncio.wait({second}, timeout=0.05)
    assert not finished  # still waiting for the slot
    stuck.gate.set()
    await asyncio.wait_for(second, 5)
    assert await core.idle(5)
    assert stuck.received == [1, 2]
    await core.close()


async def test_stop_cancels_deliveries_that_do_not_finish_and_leaves_records_open() -> None:
    stuck = GateSink("stuck")
    stuck.gate.clear()
    core = collector(stuck)
    record = otlp_record([span(1, 1)])
    await core.submit([record])
    assert await core.stop(0.1) == 1
    assert not record.ticket.done
    assert core.abandoned_batches == 1
    await core.close()


async def test_dead_letters_are_handed_to_the_source_before_the_record_is_done() -> None:
    core = collector(GateSink("s"))
    sent: list[InRecord] = []

    async def dead_letter(records: Sequence[InRecord]) -> None:
        sent.extend(records)

    core.dead_letter = dead_letter
    bad = otlp_record([])
    bad.value = b"\x00garbage"
    await core.submit([bad])
    assert await core.idle(5)
    assert sent == [bad] and bad.ticket.done
    assert "protobuf" in (bad.ticket.dead_letter or "")
    await core.close()


def test_a_collector_needs_a_sink() -> None:
    processor = BatchProcessor(PluginChain([]), SpanReassembler())
    with pytest.raises(ValueError, match="at least one sink"):
        Collector(processor, [])
