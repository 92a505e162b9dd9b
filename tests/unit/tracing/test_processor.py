"""BatchSpanProcessor: deadlines kept, drops counted, fork-safe, never raises."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from moxtrace import SyncMoxnClient
from moxtrace.tracing import BatchSpanProcessor


class Recorder(SpanExporter):
    def __init__(self) -> None:
        self.names: list[str] = []
        self.batches = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.names.extend(s.name for s in spans)
        self.batches += 1
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class Hanging(SpanExporter):
    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(30)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


class Raising(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise RuntimeError("exporter bug")

    def shutdown(self) -> None:
        pass


def tracer_with(processor: BatchSpanProcessor) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(processor)
    return provider


def test_flush_exports_everything_queued() -> None:
    recorder = Recorder()
    processor = BatchSpanProcessor(recorder, schedule_delay=60, max_export_batch_size=10)
    tracer = tracer_with(processor).get_tracer("t")
    for i in range(25):
        tracer.start_span(f"s{i}").end()
    assert processor.flush(5) == 0
    assert recorder.names == [f"s{i}" for i in range(25)]
    assert recorder.batches >= 3  # batches of at most 10
    assert processor.stats.exported == 25
    processor.close(1)


def test_flush_returns_within_its_timeout_while_the_exporter_hangs() -> None:
    hanging = Hanging()
    processor = BatchSpanProcessor(hanging, schedule_delay=60, max_export_batch_size=5)
    tracer = tracer_with(processor).get_tracer("t")
    for i in range(12):
        tracer.start_span(f"s{i}").end()
    started = time.monotonic()
    pending = processor.flush(0.3)
    elapsed = time.monotonic() - started
    assert hanging.entered.is_set()
    assert pending == 12  # one batch in flight, the rest queued
    assert elapsed < 2.0
    hanging.release.set()
    assert processor.flush(5) == 0
    processor.close(1)


def test_client_flush_reports_pending_and_keeps_its_deadline() -> None:
    hanging = Hanging()
    client = SyncMoxnClient(span_exporters=[hanging])
    tracer = client.tracing.tracer
    for i in range(3):
        tracer.start_span(f"s{i}").end()
    started = time.monotonic()
    result = client.flush(timeout=0.3)
    assert time.monotonic() - started < 2.0
    assert result.timed_out
    assert result.pending == 3
    assert not result.complete
    hanging.release.set()
    assert client.flush(timeout=5).complete
    client.close()


def test_full_queue_drops_and_counts() -> None:
    hanging = Hanging()
    processor = BatchSpanProcessor(
        hanging, max_queue_size=10, max_export_batch_size=10, schedule_delay=60
    )
    tracer = tracer_with(processor).get_tracer("t")
    for i in range(10):
        tracer.start_span(f"s{i}").end()  # the 10th fills a batch: the worker takes it
    assert hanging.entered.wait(5)
    for i in range(15):
        tracer.start_span(f"more{i}").end()
    stats = processor.stats
    assert stats.dropped == 5
    assert stats.queued == 20
    hanging.release.set()
    processor.close(5)


def test_exporter_exceptions_are_counted_not_raised() -> None:
    processor = BatchSpanProcessor(Raising(), schedule_delay=60)
    tracer = tracer_with(processor).get_tracer("t")
    tracer.start_span("s").end()
    assert processor.flush(5) == 0
    assert processor.stats.failed == 1
    processor.close(1)


def test_shutdown_is_idempotent_and_later_spans_are_ignored() -> None:
    recorder = Recorder()
    processor = BatchSpanProcessor(recorder, schedule_delay=60)
    provider = tracer_with(processor)
    tracer = provider.get_tracer("t")
    tracer.start_span("before").end()
    assert processor.close(5) == 0
    assert processor.close(5) == 0
    processor.shutdown()
    tracer.start_span("after").end()
    assert recorder.names == ["before"]


def test_unsampled_spans_are_not_exported() -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    recorder = Recorder()
    processor = BatchSpanProcessor(recorder, schedule_delay=60)
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(processor)
    provider.get_tracer("t").start_span("s").end()
    assert processor.flush(5) == 0
    assert recorder.names == []
    processor.close(1)


def test_invalid_sizes_are_rejected() -> None:
    with pytest.raises(ValueError, match="must not exceed"):
        BatchSpanProcessor(Recorder(), max_queue_size=5, max_export_batch_size=10)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_worker_restarts_in_a_forked_child(tmp_path: object) -> None:
    read_fd, write_fd = os.pipe()

    class PipeExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            for span in spans:
                os.write(write_fd, f"{os.getpid()}:{span.name}\n".encode())
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

    processor = BatchSpanProcessor(PipeExporter(), schedule_delay=60)
    tracer = tracer_with(processor).get_tracer("t")
    tracer.start_span("parent-before-fork").end()  # queued, not yet exported
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running
        pid = os.fork()
    if pid == 0:  # child
        try:
            tracer.start_span("child-span").end()
            code = 0 if processor.flush(5) == 0 else 1
        except BaseException:
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert processor.flush(5) == 0
    os.close(write_fd)
    lines = os.read(read_fd, 65536).decode().split()
    os.close(read_fd)
    assert f"{pid}:child-span" in lines
    assert f"{os.getpid()}:parent-before-fork" in lines
    assert f"{pid}:parent-before-fork" not in lines  # the parent's queue stays the parent's
    processor.close(1)
