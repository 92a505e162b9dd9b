"""``--sink`` values: ``KIND:TARGET`` to a sink."""

from __future__ import annotations

from moxtrace.pipeline.sinks.base import Sink

__all__ = ["SINK_KINDS", "parse_sink"]

SINK_KINDS = {
    "store": "store:DATABASE_URL — the moxtrace store (sqlite+aiosqlite:///PATH or "
    "postgresql+asyncpg://USER@HOST/DB), idempotent",
    "otlp": "otlp:URL — any OTLP/HTTP backend (http://HOST:4318/v1/traces); headers from "
    "OTEL_EXPORTER_OTLP_HEADERS",
    "moxn": "moxn:URL — the Moxn API (MoxnSpanExporter; key from MOXN_API_KEY); "
    "'moxn:' alone uses MOXN_BASE_URL",
}
"""The sink kinds ``parse_sink`` knows, with their syntax."""


def parse_sink(spec: str, *, pool_size: int = 8, sweep_interval: float = 30.0) -> Sink:
    """The sink ``spec`` names; ``ValueError`` saying what a good one looks like.

    >>> parse_sink("otlp:http://127.0.0.1:6006/v1/traces").name
    'otlp:http://127.0.0.1:6006/v1/traces'
    """
    kind, sep, target = spec.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in SINK_KINDS:
        known = "; ".join(SINK_KINDS.values())
        raise ValueError(f"sink {spec!r}: expected KIND:TARGET, one of: {known}")
    target = target.strip()
    if kind == "store":
        if not target:
            raise ValueError(f"sink {spec!r}: {SINK_KINDS['store']}")
        from moxtrace.pipeline.sinks.store import StoreSink

        return StoreSink(target, pool_size=pool_size, sweep_interval=sweep_interval)
    from moxtrace.pipeline.sinks.exporter import moxn_sink, otlp_sink

    if kind == "otlp":
        if not target:
            raise ValueError(f"sink {spec!r}: {SINK_KINDS['otlp']}")
        return otlp_sink(target)
    return moxn_sink(target or None)
