"""The content policy on a TracerProvider moxtrace did not build.

A ``MoxnClient`` applies the policy to each destination it adds (``WithoutContent`` in
front of third parties). Under ``opentelemetry-instrument`` the exporters come from
``OTEL_TRACES_EXPORTER`` instead, built by the OpenTelemetry SDK. For the default policy
(``moxn``: content for the Moxn platform only) moxtrace puts ``WithoutContent`` in front
of every exporter already on such a provider other than ``MoxnSpanExporter``. If a span
processor is not one it can see into, it cannot promise that, and message content is
not recorded at all (with a warning saying how to choose).
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor as OtelBatchSpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import TracerProvider

from moxtrace.exporters import MoxnSpanExporter, WithoutContent
from moxtrace.tracing.processor import BatchSpanProcessor

__all__ = ["guard_exporters"]

_logger = logging.getLogger("moxtrace.instrumentation")


def _exporter_holder(processor: SpanProcessor) -> tuple[Any, str] | None:
    """The object holding ``processor``'s exporter, and the attribute it is under."""
    if isinstance(processor, SimpleSpanProcessor):
        return processor, "span_exporter"
    if isinstance(processor, BatchSpanProcessor):
        return processor, "exporter"
    if isinstance(processor, OtelBatchSpanProcessor):
        inner = getattr(processor, "_batch_processor", None)
        if inner is not None and hasattr(inner, "_exporter"):
            return inner, "_exporter"
    return None


def guard_exporters(provider: TracerProvider) -> bool:
    """Put ``WithoutContent`` in front of every third-party exporter on ``provider``.

    True when every span processor was understood (content may be recorded); False when
    one was not, or ``provider`` is not an SDK provider.
    """
    if not isinstance(provider, SdkTracerProvider):
        return False
    multi = getattr(provider, "_active_span_processor", None)
    processors = getattr(multi, "_span_processors", None)
    if not isinstance(processors, tuple):
        return False
    understood = True
    for processor in processors:
        found = _exporter_holder(processor)
        if found is None:
            _logger.warning(
                "moxtrace: cannot tell where span processor %s sends spans; message content "
                "of instrumented LLM calls is not recorded (content_capture='moxn' sends it "
                "to Moxn only). Choose content_capture='all' or 'none' to decide yourself.",
                type(processor).__name__,
            )
            understood = False
            continue
        holder, attribute = found
        exporter = getattr(holder, attribute)
        if not isinstance(exporter, MoxnSpanExporter | WithoutContent):
            setattr(holder, attribute, WithoutContent(exporter))
    return understood
