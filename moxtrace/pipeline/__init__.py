"""The scaled pipeline: ``moxtrace collector`` and its plugin interface.

Only the plugin interface is imported here (applications use it without the server or
Kafka extras). The collector's parts, one concept a module (docs/pipeline.md)::

    topic        the Kafka topic's contract: kafka:// URLs, records of events, dead letters
    records      one record (or OTLP/HTTP body) decoded into Moxn events or spans
    reassembly   a span's events from several records, put back together (bounded)
    offsets      tickets: when a record is done, what may be committed
    processor    decode, reassemble, run the plugin chain (one worker thread)
    collector    deliver to every sink with retries; backpressure; shutdown
    sinks/       store (the server's store, idempotent), otlp and moxn (span exporters)
    kafka_source the consumer group: manual commits, pause, rebalance, dead letters
    receiver     /health, /ready, /stats and an OTLP/HTTP receiver
    settings     CollectorSettings (flags and MOXN_COLLECTOR_*)
    run          a collector process (moxtrace collector)
    config       the plugin chain from a YAML/TOML/JSON file
"""

from __future__ import annotations

from moxtrace.pipeline.plugin import (
    PLUGIN_ENTRY_POINT_GROUP,
    CollectorPlugin,
    PluginChain,
    PluginSpanExporter,
    PluginSpanProcessor,
    replace_span,
)

__all__ = [
    "PLUGIN_ENTRY_POINT_GROUP",
    "CollectorPlugin",
    "PluginChain",
    "PluginSpanExporter",
    "PluginSpanProcessor",
    "replace_span",
]
