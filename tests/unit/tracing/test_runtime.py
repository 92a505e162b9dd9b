"""Which TracerProvider moxtrace uses, and that a global one is never taken over."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moxtrace import SyncMoxnClient


def run_python(code: str, env: dict[str, str] | None = None) -> str:
    import os

    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_own_provider_reads_otel_resource_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,team=ai")
    exporter = InMemorySpanExporter()
    client = SyncMoxnClient(span_processors=[SimpleSpanProcessor(exporter)])
    client.tracing.tracer.start_span("s").end()
    resource = exporter.get_finished_spans()[0].resource.attributes
    assert resource["service.name"] == "checkout"
    assert resource["deployment.environment"] == "prod"
    assert resource["team"] == "ai"
    assert client.tracing.owns_provider
    client.close()


def test_users_provider_is_used_and_not_shut_down() -> None:
    provider = TracerProvider()
    mine = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(mine))
    ours = InMemorySpanExporter()
    client = SyncMoxnClient(tracer_provider=provider, span_processors=[SimpleSpanProcessor(ours)])
    client.tracing.tracer.start_span("s").end()
    assert [s.name for s in mine.get_finished_spans()] == ["s"]
    assert [s.name for s in ours.get_finished_spans()] == ["s"]
    assert not client.tracing.owns_provider
    client.close()
    provider.get_tracer("after").start_span("still-works").end()
    assert [s.name for s in mine.get_finished_spans()] == ["s", "still-works"]


def test_global_provider_is_untouched_by_default() -> None:
    out = run_python(
        """
        from opentelemetry import trace
        from moxtrace import SyncMoxnClient
        before = trace.get_tracer_provider()
        client = SyncMoxnClient()
        print(trace.get_tracer_provider() is before, type(before).__name__)
        """
    )
    assert out == "True ProxyTracerProvider"


def test_set_global_installs_ours_only_when_none_is_set() -> None:
    out = run_python(
        """
        from opentelemetry import trace
        from moxtrace import SyncMoxnClient
        client = SyncMoxnClient(set_global=True)
        print(trace.get_tracer_provider() is client.tracing.provider)
        """
    )
    assert out == "True"
    out = run_python(
        """
        import logging
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        users = TracerProvider()
        trace.set_tracer_provider(users)
        from moxtrace import SyncMoxnClient
        client = SyncMoxnClient(set_global=True)
        print(trace.get_tracer_provider() is users)
        """
    )
    assert out == "True"


def test_spans_are_flushed_at_interpreter_exit(tmp_path: object) -> None:
    out = run_python(
        """
        import sys
        from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
        from moxtrace import SyncMoxnClient

        class Printer(SpanExporter):
            def export(self, spans):
                for s in spans:
                    sys.stdout.write("exported " + s.name + "\\n")
                return SpanExportResult.SUCCESS

        client = SyncMoxnClient(span_exporters=[Printer()])
        client.tracing.tracer.start_span("last-words").end()
        """,
        env={"OTEL_BSP_SCHEDULE_DELAY": "60000"},
    )
    assert out == "exported last-words"
