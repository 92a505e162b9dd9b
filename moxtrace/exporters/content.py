"""``WithoutContent``: the content policy at the door of a third-party destination.

Under the default policy (``ContentCapture.MOXN``) message content is recorded on spans
for the Moxn platform only; OTLP backends and other exporters get each span without the
content attributes (``semconv.CONTENT_ATTRIBUTES``), on the span and on its events.
Spans without content are passed on as they are, without a copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from moxtrace.tracing import semconv
from moxtrace.tracing.content import ContentCapture

__all__ = ["WithoutContent", "for_third_party", "strip_content"]

_CONTENT = semconv.CONTENT_ATTRIBUTES


def _has_content(attrs: Mapping[str, Any] | None) -> bool:
    if not attrs:
        return False
    return any(name in attrs for name in _CONTENT)


def _without(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if k not in _CONTENT}


def strip_content(span: ReadableSpan) -> ReadableSpan:
    """``span`` without message content attributes (``span`` itself if it has none)."""
    events = span.events
    strip_events = any(_has_content(e.attributes) for e in events)
    if not _has_content(span.attributes) and not strip_events:
        return span
    if strip_events:
        events = tuple(
            Event(e.name, _without(e.attributes or {}), e.timestamp)
            if _has_content(e.attributes)
            else e
            for e in events
        )
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_without(span.attributes or {}),
        events=events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class WithoutContent(SpanExporter):
    """Hands spans to ``exporter`` with message content removed.

    >>> exporter = WithoutContent(OTLPSpanExporter(endpoint="http://collector:4318/v1/traces"))
    """

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.exporter.export([strip_content(span) for span in spans])

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.exporter.shutdown()


def for_third_party(exporter: SpanExporter, policy: ContentCapture) -> SpanExporter:
    """``exporter`` as a non-Moxn destination under ``policy``: wrapped in
    ``WithoutContent`` unless the policy is ``ALL`` (under ``NONE`` nothing is recorded
    to strip)."""
    if policy is ContentCapture.MOXN:
        return WithoutContent(exporter)
    return exporter
