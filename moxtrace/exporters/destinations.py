"""Where the client's spans go: the Moxn API and any number of OTLP backends.

Each destination has its own exporter behind its own ``BatchSpanProcessor`` (worker
thread and queue), so a slow or unreachable destination never delays another. The
content policy is applied per destination: Moxn gets message content unless the policy
is ``NONE``; OTLP and other third-party destinations only when it is ``ALL``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from moxtrace.exporters._stats import ExportStats
from moxtrace.exporters.content import for_third_party
from moxtrace.exporters.moxn import MoxnSpanExporter
from moxtrace.tracing.content import ContentCapture
from moxtrace.tracing.processor import BatchSpanProcessor
from moxtrace.tracing.runtime import TracingRuntime

__all__ = ["Destination", "add_destinations", "otlp_traces_url"]

OTLP_TRACES_PATH = "/v1/traces"
_logger = logging.getLogger("moxtrace.exporters")


@dataclass(frozen=True)
class Destination:
    """One place spans go: its name (``moxn``, ``otlp``, ``otlp-2``...), exporter and
    batch processor."""

    name: str
    exporter: SpanExporter
    processor: BatchSpanProcessor

    @property
    def stats(self) -> ExportStats:
        """Span counts of this destination, queue included."""
        queue = self.processor.stats
        exporter = self.exporter
        if isinstance(exporter, MoxnSpanExporter):
            own = exporter.stats
            return replace(own, dropped=own.dropped + queue.dropped, queued=queue.queued)
        return ExportStats(
            exported=queue.exported,
            dropped=queue.failed + queue.dropped,
            queued=queue.queued,
        )


def otlp_traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for ``endpoint``: kept if its path already ends in
    ``/v1/traces``, else ``/v1/traces`` is appended (as for ``OTEL_EXPORTER_OTLP_ENDPOINT``).
    """
    if urlsplit(endpoint).path.rstrip("/").endswith(OTLP_TRACES_PATH):
        return endpoint
    return endpoint.rstrip("/") + OTLP_TRACES_PATH


def add_destinations(
    runtime: TracingRuntime,
    *,
    span_exporters: Sequence[SpanExporter] = (),
    otlp_endpoint: str | Sequence[str] | None = None,
    otlp_headers: Mapping[str, str] | None = None,
) -> dict[str, Destination]:
    """Add the configured destinations to ``runtime``'s provider, each behind its own
    batch processor, and return them by name.

    - ``moxn``: a ``MoxnSpanExporter`` among ``span_exporters``, else one made from the
      settings when an API key is configured and ``MOXN_EXPORT`` is not false;
    - ``exporter-1``, ``exporter-2``, ...: the other ``span_exporters`` (third parties:
      the content policy applies);
    - ``otlp``, ``otlp-2``, ...: one per ``otlp_endpoint``, then one for
      ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT`` when set
      (and not already listed). ``otlp_headers`` default to ``OTEL_EXPORTER_OTLP_HEADERS``.
    """
    if runtime.disabled:
        return {}
    if not isinstance(runtime.provider, SdkTracerProvider):
        if span_exporters or otlp_endpoint or runtime.settings.api_key is not None:
            _logger.warning(
                "moxtrace: the tracer provider %r is not an OpenTelemetry SDK provider; "
                "no exporters can be added to it",
                runtime.provider,
            )
        return {}
    settings = runtime.settings
    policy = runtime.content_capture
    exporters: list[tuple[str, SpanExporter]] = []
    others = 0
    for exporter in span_exporters:
        if isinstance(exporter, MoxnSpanExporter) and not any(n == "moxn" for n, _ in exporters):
            exporters.append(("moxn", exporter))
        else:
            others += 1
            exporters.append((f"exporter-{others}", for_third_party(exporter, policy)))
    if (
        settings.export
        and settings.api_key is not None
        and not any(n == "moxn" for n, _ in exporters)
    ):
        exporters.append(
            (
                "moxn",
                MoxnSpanExporter(
                    settings=settings, include_content=policy is not ContentCapture.NONE
                ),
            )
        )

    urls: list[str | None] = []
    if isinstance(otlp_endpoint, str):
        otlp_endpoint = [otlp_endpoint]
    urls.extend(otlp_traces_url(url) for url in otlp_endpoint or ())
    env_url = settings.otlp_traces_endpoint or (
        otlp_traces_url(settings.otlp_endpoint) if settings.otlp_endpoint else None
    )
    if env_url and env_url not in urls:
        urls.append(None)  # the exporter reads the OTEL_EXPORTER_OTLP_* variables itself
    if urls:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        for i, url in enumerate(urls):
            try:
                otlp = OTLPSpanExporter(endpoint=url, headers=otlp_headers if url else None)
            except Exception as exc:  # e.g. an unreadable certificate file
                _logger.error("moxtrace: cannot export to %s over OTLP: %s", url or env_url, exc)
                continue
            exporters.append(("otlp" if i == 0 else f"otlp-{i + 1}", for_third_party(otlp, policy)))

    destinations: dict[str, Destination] = {}
    for name, exporter in exporters:
        processor = runtime.batch_processor(exporter, name=name)
        runtime.add_processor(processor)
        destinations[name] = Destination(name, exporter, processor)
    return destinations
