"""``TracingRuntime``: the TracerProvider moxtrace writes to, its processors and lifecycle.

Which provider:

- by default moxtrace builds and owns one (resource from ``OTEL_SERVICE_NAME`` and
  ``OTEL_RESOURCE_ATTRIBUTES``), and does not make it the global provider;
- ``tracer_provider=`` uses the caller's provider; moxtrace adds its processors to it
  (when it is an SDK provider) and leaves its lifecycle to the caller;
- ``set_global=True`` also installs moxtrace's provider as the global one, but only if
  no global SDK provider is set: an existing one is never replaced.

With ``OTEL_SDK_DISABLED=true`` the runtime holds a no-op tracer and nothing else.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from moxtrace._version import __version__
from moxtrace.settings import Settings
from moxtrace.tracing.content import ContentCapture, resolve_content_capture
from moxtrace.tracing.processor import BatchSpanProcessor

__all__ = ["FlushResult", "TracingRuntime"]

_logger = logging.getLogger("moxtrace.tracing")
_LIVE: weakref.WeakSet[TracingRuntime] = weakref.WeakSet()
_ATEXIT_LOCK = threading.Lock()
_atexit_registered = False


@dataclass(frozen=True)
class FlushResult:
    """What ``flush`` left behind: ``pending`` spans not yet exported when it returned."""

    pending: int
    timed_out: bool

    @property
    def complete(self) -> bool:
        """Whether everything finished before the call was exported (or failed for good)."""
        return not self.timed_out and self.pending == 0


def _flush_at_exit() -> None:
    for runtime in list(_LIVE):
        runtime.shutdown(runtime.settings.shutdown_timeout)


def _register_at_exit(runtime: TracingRuntime) -> None:
    global _atexit_registered
    with _ATEXIT_LOCK:
        _LIVE.add(runtime)
        if not _atexit_registered:
            atexit.register(_flush_at_exit)
            _atexit_registered = True


def _flush_with_deadline(processor: SpanProcessor, timeout: float) -> int:
    """Flush a processor that is not ours: its own force_flush may ignore the timeout."""
    if isinstance(processor, BatchSpanProcessor):
        return processor.flush(timeout)
    done = threading.Event()

    def run() -> None:
        try:
            processor.force_flush(int(timeout * 1000))
        finally:
            done.set()

    threading.Thread(target=run, name="moxtrace-flush", daemon=True).start()
    return 0 if done.wait(timeout) else 1


class TracingRuntime:
    """Owns the tracer moxtrace writes spans with, and the processors it added."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        set_global: bool = False,
        span_exporters: Sequence[SpanExporter] = (),
        span_processors: Sequence[SpanProcessor] = (),
        content_capture: ContentCapture | bool | str | None = None,
    ) -> None:
        self.settings = settings = settings or Settings()
        self.content_capture = resolve_content_capture(
            content_capture, settings.content_capture, settings.genai_capture_message_content
        )
        self.max_attribute_length = settings.max_attribute_length
        self.disabled = settings.sdk_disabled
        self.processors: list[SpanProcessor] = []
        self.owns_provider = False
        self._closed = False
        self.provider: trace.TracerProvider | None = None
        if self.disabled:
            self.tracer: trace.Tracer = trace.NoOpTracer()
            return
        provider = tracer_provider
        if provider is None:
            provider = SdkTracerProvider(
                resource=Resource.create(
                    {"telemetry.distro.name": "moxtrace", "telemetry.distro.version": __version__}
                ),
                span_limits=SpanLimits(
                    max_span_attributes=settings.span_attribute_count_limit,
                    max_events=settings.span_event_count_limit,
                ),
                shutdown_on_exit=False,
            )
            self.owns_provider = True
        self.provider = provider
        for exporter in span_exporters:
            self.add_processor(self.batch_processor(exporter))
        for processor in span_processors:
            self.add_processor(processor)
        if set_global:
            self._install_global(provider)
        self.tracer = provider.get_tracer("moxtrace", __version__)
        _register_at_exit(self)

    def batch_processor(
        self, exporter: SpanExporter, name: str | None = None
    ) -> BatchSpanProcessor:
        """A ``BatchSpanProcessor`` for ``exporter`` sized by the ``OTEL_BSP_*`` settings."""
        s = self.settings
        return BatchSpanProcessor(
            exporter,
            max_queue_size=s.bsp_max_queue_size,
            schedule_delay=s.bsp_schedule_delay_ms / 1000,
            max_export_batch_size=min(s.bsp_max_export_batch_size, s.bsp_max_queue_size),
            export_timeout=s.bsp_export_timeout_ms / 1000,
            name=name,
        )

    def add_processor(self, processor: SpanProcessor) -> None:
        """Add a span processor to the provider; moxtrace flushes and shuts it down."""
        if isinstance(self.provider, SdkTracerProvider):
            self.provider.add_span_processor(processor)
            self.processors.append(processor)
        else:
            _logger.warning(
                "moxtrace: the tracer provider %r is not an OpenTelemetry SDK provider; "
                "span processors and exporters cannot be added to it",
                self.provider,
            )

    @staticmethod
    def _install_global(provider: trace.TracerProvider) -> None:
        current = trace.get_tracer_provider()
        if current is provider:
            return
        if isinstance(current, trace.ProxyTracerProvider):
            trace.set_tracer_provider(provider)
            return
        _logger.warning(
            "moxtrace: a global TracerProvider (%s) is already set; moxtrace leaves it in "
            "place. Pass tracer_provider=opentelemetry.trace.get_tracer_provider() to "
            "send moxtrace spans through it.",
            type(current).__name__,
        )

    def flush(self, timeout: float | None = None) -> FlushResult:
        """Export what the processors hold, returning within ``timeout`` seconds."""
        if self.disabled or not self.processors:
            return FlushResult(pending=0, timed_out=False)
        budget = self.settings.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + max(budget, 0.0)
        pending = 0
        for processor in self.processors:
            left = max(deadline - time.monotonic(), 0.0)
            pending += _flush_with_deadline(processor, left)
        timed_out = pending > 0
        if timed_out:
            _logger.warning(
                "moxtrace: flush timed out after %.1fs with %d spans pending", budget, pending
            )
        return FlushResult(pending=pending, timed_out=timed_out)

    def shutdown(self, timeout: float | None = None) -> FlushResult:
        """Flush, then shut down what moxtrace added (and the provider, if it owns it).

        Idempotent; later spans are not exported.
        """
        if self._closed:
            return FlushResult(pending=0, timed_out=False)
        self._closed = True
        _LIVE.discard(self)
        result = self.flush(timeout)
        for processor in self.processors:
            if isinstance(processor, BatchSpanProcessor):
                processor.close(0)
            else:
                try:
                    processor.shutdown()
                except Exception:
                    _logger.debug("moxtrace: processor shutdown raised", exc_info=True)
        if self.owns_provider and isinstance(self.provider, SdkTracerProvider):
            self.provider.shutdown()
        return result

    @property
    def closed(self) -> bool:
        return self._closed
