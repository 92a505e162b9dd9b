"""Client wiring: which destinations a client gets, each behind its own processor."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moxtrace import PromptSession, Provider, Settings, SyncMoxnClient
from moxtrace.exporters import ExportStats, MoxnSpanExporter, WithoutContent
from moxtrace.exporters.destinations import otlp_traces_url
from moxtrace.tracing import BatchSpanProcessor, semconv
from tests.unit.exporters.factories import ANTHROPIC_RESPONSE


@pytest.fixture(autouse=True)
def _no_exporter_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "MOXN_API_KEY",
        "MOXN_EXPORT",
        "MOXN_SPOOL_DIR",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_SDK_DISABLED",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung ingest server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


def otlp_url(exporter: object) -> str:
    inner = exporter.exporter if isinstance(exporter, WithoutContent) else exporter
    assert isinstance(inner, OTLPSpanExporter)
    return str(inner._endpoint)


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("http://collector:4318/v1/traces", "http://collector:4318/v1/traces"),
        ("http://gw/otel/v1/traces/", "http://gw/otel/v1/traces/"),
        ("https://gw/otel", "https://gw/otel/v1/traces"),
    ],
)
def test_otlp_traces_url(given: str, url: str) -> None:
    assert otlp_traces_url(given) == url


def test_no_key_no_destination() -> None:
    client = SyncMoxnClient()
    assert client.destinations == {}
    assert client.export_stats() == ExportStats()
    with pytest.raises(ValueError, match="no destination 'otlp'"):
        client.export_stats("otlp")
    client.close()


def test_an_api_key_adds_the_moxn_destination_with_its_own_processor(tmp_path: Path) -> None:
    client = SyncMoxnClient(
        api_key="moxn_acme.k", base_url="http://127.0.0.1:9", spool_dir=tmp_path / "spool"
    )
    moxn = client.destinations["moxn"]
    assert isinstance(moxn.exporter, MoxnSpanExporter)
    assert moxn.exporter.base_url == "http://127.0.0.1:9"
    assert moxn.exporter.include_content
    assert moxn.exporter.spool is not None
    assert moxn.exporter.spool.directory == tmp_path / "spool"
    assert isinstance(moxn.processor, BatchSpanProcessor)
    assert moxn.processor.exporter is moxn.exporter
    assert moxn.processor in client.tracing.processors
    client.close()


def test_api_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOXN_API_KEY", "moxn_env.k")
    client = SyncMoxnClient()
    assert "moxn" in client.destinations
    client.close()


def test_moxn_export_false_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOXN_EXPORT", "false")
    client = SyncMoxnClient(api_key="moxn_acme.k")
    assert client.destinations == {}
    client.close()


def test_content_policy_none_sends_no_content_to_moxn() -> None:
    client = SyncMoxnClient(api_key="moxn_acme.k", content_capture="none")
    exporter = client.destinations["moxn"].exporter
    assert isinstance(exporter, MoxnSpanExporter)
    assert not exporter.include_content
    client.close()


def test_otlp_endpoint_adds_an_otlp_destination_without_content() -> None:
    client = SyncMoxnClient(otlp_endpoint="http://127.0.0.1:4318")
    otlp = client.destinations["otlp"]
    assert isinstance(otlp.exporter, WithoutContent)
    assert otlp_url(otlp.exporter) == "http://127.0.0.1:4318/v1/traces"
    assert otlp.processor is not None
    assert client.export_stats("otlp") == ExportStats()
    client.close()


def test_content_all_sends_content_to_otlp_too() -> None:
    client = SyncMoxnClient(otlp_endpoint="http://127.0.0.1:4318", content_capture="all")
    assert isinstance(client.destinations["otlp"].exporter, OTLPSpanExporter)
    client.close()


def test_several_destinations_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4000")
    client = SyncMoxnClient(
        api_key="moxn_acme.k",
        otlp_endpoint=["http://127.0.0.1:4318", "http://127.0.0.1:4319/v1/traces"],
    )
    assert list(client.destinations) == ["moxn", "otlp", "otlp-2", "otlp-3"]
    urls = [otlp_url(client.destinations[n].exporter) for n in ("otlp", "otlp-2", "otlp-3")]
    assert urls == [
        "http://127.0.0.1:4318/v1/traces",
        "http://127.0.0.1:4319/v1/traces",
        "http://127.0.0.1:4000/v1/traces",
    ]
    processors = {id(d.processor) for d in client.destinations.values()}
    assert len(processors) == 4
    client.close()


def test_traces_endpoint_variable_and_no_duplicate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4318/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t")
    client = SyncMoxnClient(otlp_endpoint="http://127.0.0.1:4318")
    assert list(client.destinations) == ["otlp"]
    client.close()
    client = SyncMoxnClient()
    assert otlp_url(client.destinations["otlp"].exporter) == "http://127.0.0.1:4318/v1/traces"
    client.close()


def test_disabled_sdk_has_no_destinations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    client = SyncMoxnClient(api_key="moxn_acme.k", otlp_endpoint="http://127.0.0.1:4318")
    assert client.destinations == {}
    client.close()


def llm_span(client: SyncMoxnClient, session: PromptSession) -> None:
    with client.span(session, name="answer"):
        client.log_telemetry_event_from_response(session, ANTHROPIC_RESPONSE, Provider.ANTHROPIC)


def test_extra_exporters_get_no_content_under_the_default_policy(session: PromptSession) -> None:
    memory = InMemorySpanExporter()
    client = SyncMoxnClient(span_exporters=[memory])
    llm_span(client, session)
    assert client.flush(5).complete
    (span,) = memory.get_finished_spans()
    attrs = span.attributes or {}
    assert not semconv.CONTENT_ATTRIBUTES & set(attrs)
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 120
    client.close()

    memory = InMemorySpanExporter()
    client = SyncMoxnClient(span_exporters=[memory], content_capture="all")
    llm_span(client, session)
    client.flush(5)
    assert semconv.GEN_AI_INPUT_MESSAGES in (memory.get_finished_spans()[0].attributes or {})
    client.close()


def test_a_hung_moxn_endpoint_never_delays_another_destination(
    silent_port: int, session: PromptSession
) -> None:
    memory = InMemorySpanExporter()
    settings = Settings(
        bsp_schedule_delay_ms=20, export_timeout=30, export_deadline=30, shutdown_timeout=0.5
    )
    client = SyncMoxnClient(
        api_key="moxn_acme.k",
        base_url=f"http://127.0.0.1:{silent_port}",
        settings=settings,
        span_exporters=[memory],
    )
    llm_span(client, session)
    llm_span(client, session)  # the Moxn worker is now stuck on the first batch
    deadline = time.monotonic() + 3
    while len(memory.get_finished_spans()) < 2:
        assert time.monotonic() < deadline, "the other destination waited for Moxn"
        time.sleep(0.01)
    assert client.export_stats().exported == 0
    assert client.export_stats().queued >= 1
    started = time.monotonic()
    client.close()
    assert time.monotonic() - started < 5


def test_span_exporters_are_destinations_and_a_moxn_exporter_among_them_is_moxn() -> None:
    mine = MoxnSpanExporter("moxn_acme.k", "http://127.0.0.1:9", deadline=0.2)
    other, another = InMemorySpanExporter(), InMemorySpanExporter()
    client = SyncMoxnClient(api_key="moxn_acme.k", span_exporters=[other, mine, another])
    assert list(client.destinations) == ["exporter-1", "moxn", "exporter-2"]
    assert client.destinations["moxn"].exporter is mine  # no second Moxn exporter
    first = client.destinations["exporter-1"].exporter
    assert isinstance(first, WithoutContent)
    assert first.exporter is other
    client.tracing.tracer.start_span("s").end()
    client.flush(5)
    assert client.export_stats("exporter-1").exported == 1
    assert len(other.get_finished_spans()) == 1
    client.close()


def test_a_foreign_provider_gets_no_destinations(caplog: pytest.LogCaptureFixture) -> None:
    from opentelemetry.trace import NoOpTracerProvider

    client = SyncMoxnClient(api_key="moxn_acme.k", tracer_provider=NoOpTracerProvider())
    assert client.destinations == {}
    assert "not an OpenTelemetry SDK provider" in caplog.text
    client.close()
