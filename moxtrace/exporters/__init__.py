"""Exporters: spans to the Moxn ingest API and to OTLP backends.

``MoxnSpanExporter`` is assembled from small wrappers with one job each (retry, split
on 413, disk spool, HTTP); ``WithoutContent`` applies the content policy to third-party
destinations; ``span_to_events`` is the span-to-events mapping the server shares.
"""

from __future__ import annotations

from moxtrace.exporters._stats import ExportStats
from moxtrace.exporters.content import WithoutContent
from moxtrace.exporters.events import span_to_events, span_to_wire
from moxtrace.exporters.moxn import MoxnSpanExporter
from moxtrace.retry import RetryPolicy

__all__ = [
    "ExportStats",
    "MoxnSpanExporter",
    "RetryPolicy",
    "WithoutContent",
    "span_to_events",
    "span_to_wire",
]
