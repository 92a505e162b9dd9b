"""Sinks: exporters (down vs. refusing some spans), the store (idempotent), ``--sink`` values."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from moxtrace.exporters.events import (
    WIRE_CONTENT_KEY_ATTRIBUTE,
    WIRE_EVENT_NAME,
    wire_to_span,
)
from moxtrace.pipeline.processor import Unit
from moxtrace.pipeline.sinks import (
    ExporterSink,
    SinkUnavailable,
    StoreSink,
    parse_sink,
    stored_events,
)
from moxtrace.server.payloads import validate_events

from .factories import span, wire


class FakeExporter(SpanExporter):
    def __init__(self, refuse: set[int] | None = None, down: bool = False) -> None:
        self.refuse = refuse or set()
        self.down = down
        self.received: list[int] = []
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        if self.down or any(s.context.span_id in self.refuse for s in spans):
            return SpanExportResult.FAILURE
        self.received.extend(s.context.span_id for s in spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def units(*span_ids: int) -> list[Unit]:
    return [Unit(span(1, i), "dev", ()) for i in span_ids]


async def test_an_exporter_sink_delivers_a_batch() -> None:
    exporter = FakeExporter()
    sink = ExporterSink("fake", lambda: exporter)
    await sink.start()
    await sink.write(units(1, 2, 3))
    assert exporter.received == [1, 2, 3]
    assert sink.counters.spans == 3
    await sink.close()


async def test_a_destination_that_is_down_raises_for_a_retry() -> None:
    sink = ExporterSink("fake", lambda: FakeExporter(down=True))
    await sink.start()
    with pytest.raises(SinkUnavailable, match="could not deliver"):
        await sink.write(units(1, 2, 3, 4))
    assert sink.counters.failures == 1
    await sink.close()


async def test_spans_a_working_destination_refuses_are_found_and_skipped() -> None:
    exporter = FakeExporter(refuse={3})
    sink = ExporterSink("fake", lambda: exporter)
    await sink.start()
    await sink.write(units(1, 2, 3, 4, 5, 6, 7, 8))
    assert sorted(exporter.received) == [1, 2, 4, 5, 6, 7, 8]
    assert sink.counters.rejected == 1
    await sink.close()


async def test_an_exporter_sink_skips_events_that_make_no_span() -> None:
    exporter = FakeExporter()
    sink = ExporterSink("fake", lambda: exporter)
    await sink.start()
    event = {**wire(span())[0], "event_type": "custom"}
    del event["timestamp"]
    lone = Unit(None, "dev", (), validate_events([event]))
    await sink.write([lone, *units(2)])
    assert exporter.received == [2]
    assert sink.counters.rejected == 1
    await sink.close()


async def test_an_exporter_that_raises_is_unavailable() -> None:
    class Raising(FakeExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            raise RuntimeError("socket closed")

    sink = ExporterSink("fake", Raising)
    await sink.start()
    with pytest.raises(SinkUnavailable, match="socket closed"):
        await sink.write(units(1))
    await sink.close()


def test_stored_events_of_a_whole_span_are_span_to_wire() -> None:
    s = span(llm=True)
    assert stored_events(s) == wire(s)


def test_stored_events_of_a_partial_span_are_only_those_received() -> None:
    start, llm, end = wire(span(llm=True))
    rebuilt = wire_to_span([start, llm])
    kept = stored_events(rebuilt)
    assert [e["event_type"] for e in kept] == ["span_start", "llm_call"]
    assert "moxn.wire.partial" not in kept[0]["system_metadata"]["attributes"]
    assert [e["event_type"] for e in stored_events(wire_to_span([end]))] == ["span_end"]


def test_stored_events_restore_uploaded_content_and_kept_events() -> None:
    start, llm, end = wire(span(llm=True))
    uploaded = {**llm, "content": None, "content_stored": True, "content_storage_key": "c/1"}
    tool = {**start, "event_type": "tool_call", "sequence_number": 9, "content": {"r": 1}}
    rebuilt = wire_to_span([start, uploaded, tool, end])
    assert rebuilt.attributes[WIRE_CONTENT_KEY_ATTRIBUTE] == "c/1"
    assert any(e.name == WIRE_EVENT_NAME for e in rebuilt.events)
    kept = stored_events(rebuilt)
    by_type = {e["event_type"]: e for e in kept}
    assert set(by_type) == {"span_start", "llm_call", "span_end", "tool_call"}
    assert by_type["llm_call"]["content_storage_key"] == "c/1"
    assert by_type["llm_call"]["content_stored"] is True
    assert by_type["tool_call"] == tool
    assert by_type["span_end"]["system_metadata"]["events"] == []
    assert WIRE_CONTENT_KEY_ATTRIBUTE not in by_type["span_start"]["system_metadata"]["attributes"]


def test_a_kept_event_that_is_no_longer_json_is_skipped() -> None:
    s = span()
    broken = ReadableSpan(
        name=s.name,
        context=s.context,
        resource=s.resource,
        attributes=s.attributes,
        events=[Event(WIRE_EVENT_NAME, {"moxn.wire.event": "{cut"}, 1)],
        start_time=s.start_time,
        end_time=s.end_time,
        instrumentation_scope=s.instrumentation_scope,
    )
    assert [e["event_type"] for e in stored_events(broken)] == ["span_start", "span_end"]


async def test_the_store_sink_stores_once_and_counts_redeliveries(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    sink = StoreSink(url)
    await sink.start()
    try:
        as_sent = span(1, 1, llm=True)
        batch = [
            Unit(as_sent, "acme", (), validate_events(wire(as_sent))),
            Unit(span(1, 2), "acme", ()),
            Unit(span(2, 3), "other", ()),
        ]
        await sink.write(batch)
        assert sink.counters.spans == 3 and sink.counters.duplicates == 0
        await sink.write(batch)
        assert sink.counters.duplicates == 7
        assert sink._store is not None
        counts = await sink._store.telemetry.counts("acme")
        assert counts["events"] == 5
        assert sink.indexer is not None and await sink.indexer.caught_up(10)
        assert (await sink._store.telemetry.counts("acme"))["spans"] == 2
        assert await sink.ready()
    finally:
        await sink.close()


async def test_the_store_sink_skips_a_span_the_store_refuses(tmp_path: Path) -> None:
    sink = StoreSink(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await sink.start()
    try:
        # An uploaded content key with '..' is refused by validation, like serve refuses it.
        attrs = {"gen_ai.operation.name": "chat", WIRE_CONTENT_KEY_ATTRIBUTE: "../etc"}
        refused = Unit(span(1, 1, attributes=attrs), "dev", ())
        good = Unit(span(1, 2), "dev", ())
        await sink.write([refused, good])
        assert sink.counters.rejected == 1
        assert sink._store is not None
        assert (await sink._store.telemetry.counts("dev"))["events"] == 2
    finally:
        await sink.close()


async def test_a_store_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    sink = StoreSink(f"sqlite+aiosqlite:///{blocker / 'sub' / 'store.db'}")
    with pytest.raises(SinkUnavailable):
        await sink.start()


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("otlp:http://127.0.0.1:4318", "otlp:http://127.0.0.1:4318/v1/traces"),
        ("otlp:http://h:6006/v1/traces", "otlp:http://h:6006/v1/traces"),
        ("moxn:https://api.example.com", "moxn:https://api.example.com"),
        ("moxn:", "moxn:MOXN_BASE_URL"),
        ("store:sqlite+aiosqlite:////tmp/x.db", "store:sqlite+aiosqlite:////tmp/x.db"),
        (
            "store:postgresql+asyncpg://u:secret@db/m",
            "store:postgresql+asyncpg://u:***@db/m",
        ),
    ],
)
def test_sink_specs(spec: str, name: str) -> None:
    assert parse_sink(spec).name == name


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("kafka:foo", "expected KIND:TARGET"),
        ("store", "expected KIND:TARGET"),
        ("store:", "store:DATABASE_URL"),
        ("otlp:", "otlp:URL"),
        ("otlp:ftp://x", "http:// or https://"),
    ],
)
def test_bad_sink_specs_say_what_a_good_one_is(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_sink(spec)
