"""The Kafka topic between the ingest side and ``moxtrace collector``: its URL, its
records and its dead letters.

Written by ``moxtrace serve --queue`` (Moxn events, ``events_records``) or by a stock
OpenTelemetry Collector's Kafka exporter (OTLP, ``otlp_proto`` or ``otlp_json``
encoding); read by ``moxtrace collector``. A record is:

- key: the trace id (32 hex digits), so a trace stays on one partition and reaches one
  collector (the OpenTelemetry Collector does this with ``partition_traces_by_id``);
- value: ``{"events": [TelemetryLogRequest, ...]}`` (one trace's events), a single
  ``TelemetryLogRequest``, or an OTLP ``ExportTraceServiceRequest``;
- headers: ``content-type`` (``CONTENT_TYPE_MOXN_EVENTS``, ``application/x-protobuf``
  or ``application/json``; without it the collector sniffs the value) and
  ``moxtrace-tenant`` (the tenant the data belongs to; without it the collector's
  ``--tenant``).

A record the collector cannot decode is copied to the dead-letter topic (default
``<topic>.dlq``) with its key, value and headers, plus ``moxtrace-dlq-reason`` (why) and
``moxtrace-dlq-source`` (``topic/partition/offset``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "CONTENT_TYPE_HEADER",
    "CONTENT_TYPE_MOXN_EVENTS",
    "CONTENT_TYPE_OTLP_JSON",
    "CONTENT_TYPE_OTLP_PROTOBUF",
    "DLQ_REASON_HEADER",
    "DLQ_SOURCE_HEADER",
    "TENANT_HEADER",
    "KafkaTopicUrl",
    "ProducerRecord",
    "RecordTooLarge",
    "dead_letter_headers",
    "events_records",
]

CONTENT_TYPE_HEADER = "content-type"
TENANT_HEADER = "moxtrace-tenant"
DLQ_REASON_HEADER = "moxtrace-dlq-reason"
DLQ_SOURCE_HEADER = "moxtrace-dlq-source"
CONTENT_TYPE_MOXN_EVENTS = "application/vnd.moxn.events+json"
CONTENT_TYPE_OTLP_PROTOBUF = "application/x-protobuf"
CONTENT_TYPE_OTLP_JSON = "application/json"

_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})")
_MAX_REASON_BYTES = 1000
_ENVELOPE_BYTES = len(b'{"events":[]}')


@dataclass(frozen=True)
class KafkaTopicUrl:
    """``kafka://HOST:PORT[,HOST:PORT...]/TOPIC[?name=value&...]``, parsed.

    >>> url = KafkaTopicUrl.parse("kafka://127.0.0.1:9092,10.0.0.2:9092/moxtrace.spans")
    >>> url.bootstrap_servers, url.topic
    ('127.0.0.1:9092,10.0.0.2:9092', 'moxtrace.spans')
    """

    hosts: tuple[str, ...]
    topic: str
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, url: str, *, allowed_options: Iterable[str] = ()) -> KafkaTopicUrl:
        """Parse ``url``; ``ValueError`` saying what is wrong (and what a good one looks like)."""
        example = "kafka://HOST:PORT/TOPIC, e.g. kafka://127.0.0.1:9092/moxtrace.spans"
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() != "kafka":
            raise ValueError(f"{url!r}: expected {example}")
        location, _, query = rest.partition("?")
        netloc, slash, topic = location.partition("/")
        hosts = tuple(h.strip() for h in netloc.split(",") if h.strip())
        if not hosts:
            raise ValueError(f"{url!r}: no broker address; expected {example}")
        for host in hosts:
            match = _HOST_PORT.fullmatch(host)
            if match is None or not 0 < int(match.group(2)) < 65536:
                raise ValueError(f"{url!r}: {host!r} is not HOST:PORT")
        if not slash or not _TOPIC.fullmatch(topic) or topic in (".", ".."):
            raise ValueError(
                f"{url!r}: the topic must be 1-249 letters, digits, '.', '_' or '-'; "
                f"expected {example}"
            )
        options: dict[str, str] = {}
        allowed = set(allowed_options)
        for pair in filter(None, query.split("&")):
            name, eq, value = pair.partition("=")
            if not eq or name not in allowed:
                known = ", ".join(sorted(allowed)) or "none"
                raise ValueError(f"{url!r}: unknown option {name!r} (known: {known})")
            options[name] = value
        return cls(hosts, topic, options)

    @property
    def bootstrap_servers(self) -> str:
        """The brokers as aiokafka and the Kafka tools take them: ``h1:p1,h2:p2``."""
        return ",".join(self.hosts)

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.options.items())
        return f"kafka://{self.bootstrap_servers}/{self.topic}" + (f"?{query}" if query else "")


@dataclass(frozen=True)
class ProducerRecord:
    """One record to send: key, value, headers."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class RecordTooLarge(ValueError):
    """A single event is larger than the largest record allowed."""


def events_records(
    tenant: str, events: Iterable[Mapping[str, Any]], max_record_bytes: int
) -> list[ProducerRecord]:
    """The records for a batch of Moxn events (JSON objects with ``trace_id``): one per
    trace (keyed by its id), split into several when larger than ``max_record_bytes``.

    Events of one span may land in different records of the same trace (the collector
    puts them back together). ``RecordTooLarge`` when one event alone is too large.
    """
    by_trace: dict[str, list[bytes]] = {}
    for event in events:
        encoded = orjson.dumps(event)
        if len(encoded) + _ENVELOPE_BYTES > max_record_bytes:
            raise RecordTooLarge(
                f"an event of trace {event.get('trace_id')} is {len(encoded)} bytes, more "
                f"than the {max_record_bytes} bytes a record may hold; send its content "
                "through a signed URL"
            )
        by_trace.setdefault(str(event.get("trace_id")), []).append(encoded)
    headers = [
        (CONTENT_TYPE_HEADER, CONTENT_TYPE_MOXN_EVENTS.encode()),
        (TENANT_HEADER, tenant.encode()),
    ]
    records: list[ProducerRecord] = []
    for trace_id, encoded_events in by_trace.items():
        key = trace_id.encode()
        chunk: list[bytes] = []
        size = _ENVELOPE_BYTES
        for encoded in encoded_events:
            if chunk and size + len(encoded) + 1 > max_record_bytes:
                records.append(ProducerRecord(key, _envelope(chunk), headers))
                chunk, size = [], _ENVELOPE_BYTES
            chunk.append(encoded)
            size += len(encoded) + 1
        records.append(ProducerRecord(key, _envelope(chunk), headers))
    return records


def _envelope(encoded_events: list[bytes]) -> bytes:
    return b'{"events":[' + b",".join(encoded_events) + b"]}"


def dead_letter_headers(
    headers: Iterable[tuple[str, bytes]], reason: str, topic: str, partition: int, offset: int
) -> list[tuple[str, bytes]]:
    """The headers of a dead letter: the record's own, then why and where it came from."""
    kept = [(k, v) for k, v in headers if k not in (DLQ_REASON_HEADER, DLQ_SOURCE_HEADER)]
    why = reason.encode("utf-8", "replace")[:_MAX_REASON_BYTES]
    kept.append((DLQ_REASON_HEADER, why.decode("utf-8", "ignore").encode()))
    kept.append((DLQ_SOURCE_HEADER, f"{topic}/{partition}/{offset}".encode()))
    return kept
