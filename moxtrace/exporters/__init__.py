"""Exporters: spans to the Moxn ingest API, and the wrappers they are built from."""

from __future__ import annotations

from moxtrace.exporters.events import span_to_events, span_to_wire

__all__ = ["span_to_events", "span_to_wire"]
