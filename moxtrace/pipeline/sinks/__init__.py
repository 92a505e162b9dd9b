"""Where the collector delivers spans: the store, OTLP backends, the hosted Moxn API.

A sink's ``write`` returns once the destination has the spans (the store committed them,
the backend answered 2xx) and raises ``SinkUnavailable`` when it could not deliver them
now (the collector retries with backoff and commits nothing meanwhile). Spans a
destination refuses for good (invalid for it) are counted in ``rejected`` and skipped, so
one bad span never blocks a partition.

``parse_sink("otlp:http://127.0.0.1:4318/v1/traces")`` turns a ``--sink`` value into a
sink; see ``SINK_KINDS``.
"""

from __future__ import annotations

from moxtrace.pipeline.sinks.base import Sink, SinkCounters, SinkUnavailable
from moxtrace.pipeline.sinks.exporter import ExporterSink, moxn_sink, otlp_sink
from moxtrace.pipeline.sinks.spec import SINK_KINDS, parse_sink
from moxtrace.pipeline.sinks.store import StoreSink, stored_events

__all__ = [
    "SINK_KINDS",
    "ExporterSink",
    "Sink",
    "SinkCounters",
    "SinkUnavailable",
    "StoreSink",
    "moxn_sink",
    "otlp_sink",
    "parse_sink",
    "stored_events",
]
