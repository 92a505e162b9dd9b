"""``ExporterSink``: any OpenTelemetry ``SpanExporter`` as a collector sink.

``otlp_sink(url)`` wraps the stock ``OTLPSpanExporter`` (OTLP/HTTP protobuf: Phoenix,
Jaeger, Tempo, an OpenTelemetry Collector, ...); ``moxn_sink(url)`` wraps
``MoxnSpanExporter`` (the hosted Moxn API, or another ``moxtrace serve``). The exporter
runs in a thread of its own (exporters block), one batch at a time.

An exporter answers only SUCCESS or FAILURE, which does not say whether the destination
is down or refuses some spans. So a failed batch is split in two: when neither half gets
through the destination is taken for down (``SinkUnavailable``: the collector retries
with backoff, committing nothing); when one half does, the other is split further until
the spans the destination refuses are found, counted in ``rejected`` and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from moxtrace._ratelimit import RateLimitedLogger
from moxtrace.pipeline.processor import Unit
from moxtrace.pipeline.sinks.base import Sink, SinkUnavailable

__all__ = ["ExporterSink", "moxn_sink", "otlp_sink"]

_logger = logging.getLogger("moxtrace.pipeline")
_warn = RateLimitedLogger(_logger)
_T = TypeVar("_T")


class ExporterSink(Sink):
    """A ``SpanExporter`` (built by ``factory`` on ``start``) as a sink."""

    def __init__(self, name: str, factory: Callable[[], SpanExporter]) -> None:
        super().__init__()
        self.name = name
        self._factory = factory
        self._exporter: SpanExporter | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"moxtrace-sink-{name[:20]}")

    @property
    def exporter(self) -> SpanExporter | None:
        """The exporter, once started."""
        return self._exporter

    async def start(self) -> None:
        """Build the exporter."""
        if self._exporter is None:
            self._exporter = await self._run(self._factory)

    async def write(self, units: Sequence[Unit]) -> None:
        """Export the spans of ``units``; see the module docstring for failures."""
        spans = await self._run(lambda: self._spans(units))
        if not spans:
            return
        if not await self._export(spans):
            if len(spans) == 1:
                raise self._down()
            half = len(spans) // 2
            left, right = spans[:half], spans[half:]
            left_ok = await self._export(left)
            right_ok = await self._export(right)
            if not left_ok and not right_ok:
                raise self._down()
            for part, ok in ((left, left_ok), (right, right_ok)):
                if not ok:
                    await self._narrow(part)
        self.counters.batches += 1
        self.counters.spans += len(spans)

    def _spans(self, units: Sequence[Unit]) -> list[ReadableSpan]:
        spans = []
        for unit in units:
            try:
                spans.append(unit.span)
            except ValueError as exc:
                # Events that make no span (never built before: no plugins ran).
                self.counters.rejected += 1
                _warn.warning(
                    f"unreadable-{self.name}", "moxtrace collector: skipping a span: %s", exc
                )
        return spans

    async def _narrow(self, spans: list[ReadableSpan]) -> None:
        # The destination takes some spans: find those it refuses.
        if len(spans) == 1:
            self.counters.rejected += 1
            context = spans[0].context
            _warn.warning(
                f"rejected-{self.name}",
                "moxtrace collector: %s refused span %016x of trace %032x; skipped",
                self.name,
                context.span_id,
                context.trace_id,
            )
            return
        half = len(spans) // 2
        for part in (spans[:half], spans[half:]):
            if not await self._export(part):
                await self._narrow(part)

    async def _export(self, spans: list[ReadableSpan]) -> bool:
        exporter = self._exporter
        if exporter is None:
            raise SinkUnavailable(f"{self.name}: not started")
        try:
            result = await self._run(lambda: exporter.export(spans))
        except Exception as exc:
            _logger.debug("moxtrace collector: %s raised", self.name, exc_info=True)
            raise SinkUnavailable(f"{self.name}: the exporter raised {exc!r}") from exc
        return result is SpanExportResult.SUCCESS

    def _down(self) -> SinkUnavailable:
        self.counters.failures += 1
        return SinkUnavailable(f"{self.name}: the exporter could not deliver the batch")

    async def _run(self, func: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, func)

    async def close(self) -> None:
        """Shut the exporter down and stop its thread."""
        exporter, self._exporter = self._exporter, None
        if exporter is not None:
            await self._run(exporter.shutdown)
        self._thread.shutdown(wait=False)


def _traces_endpoint(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r}: expected an http:// or https:// URL")
    if parts.path in ("", "/"):
        return url.rstrip("/") + "/v1/traces"
    return url


def otlp_sink(url: str) -> ExporterSink:
    """OTLP/HTTP (protobuf) to ``url`` (``/v1/traces`` is added to a URL without a path).

    Headers, TLS and compression come from the standard ``OTEL_EXPORTER_OTLP_*``
    environment variables.
    """
    endpoint = _traces_endpoint(url)

    def build() -> SpanExporter:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint)

    return ExporterSink(f"otlp:{endpoint}", build)


def moxn_sink(url: str | None = None) -> ExporterSink:
    """``MoxnSpanExporter`` to the Moxn API at ``url`` (default ``MOXN_BASE_URL``); the
    key is ``MOXN_API_KEY`` and every other option its ``MOXN_*`` setting."""
    if url:
        _traces_endpoint(url)

    def build() -> SpanExporter:
        from moxtrace.exporters import MoxnSpanExporter

        return MoxnSpanExporter(base_url=url or None)

    return ExporterSink(f"moxn:{url or 'MOXN_BASE_URL'}", build)
