"""``moxtrace serve --queue kafka://HOST:PORT/TOPIC``: ingest into Kafka, not the store.

Routes validate exactly as without a queue; ``QueueIngestor.ingest`` then writes the
batch's events to the topic — one record per trace, keyed by the trace id, in the
format of ``moxtrace.pipeline.topic`` — and returns once the broker acknowledged every
record with ``acks=all`` (all in-sync replicas have it): acknowledgement means durable.
When the broker cannot be reached or does not acknowledge within ``send_timeout``
seconds the request is answered 503 + ``Retry-After``; a record that was sent anyway
is stored once, since storage is idempotent. ``moxtrace collector`` processes consume
the topic into the store; queries read the store as always.

Content uploaded through signed URLs is still written to the store directly (it is
referenced by its storage key, not by a span).

URL options (``kafka://h:9092/spans?send_timeout=5&linger_ms=10``): ``send_timeout``
(seconds, default 10), ``linger_ms`` (default 5), ``compression`` (``none`` or
``gzip``, default none), ``max_record_bytes`` (default 900000; keep it under the
topic's ``max.message.bytes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from moxtrace.pipeline.topic import KafkaTopicUrl, RecordTooLarge, events_records
from moxtrace.server.assemble import Event, WireEvent
from moxtrace.server.errors import ApiError, unavailable
from moxtrace.server.indexer import Indexer
from moxtrace.server.ingest import Ingestor
from moxtrace.server.offload import off_loop
from moxtrace.server.store import Store
from moxtrace.server.store.telemetry import EventsWritten

__all__ = ["QUEUE_OPTIONS", "QueueIngestor", "parse_queue_url"]

_log = logging.getLogger("moxtrace.server")

QUEUE_OPTIONS = ("send_timeout", "linger_ms", "compression", "max_record_bytes")
"""The options a ``--queue`` URL may carry."""


def parse_queue_url(url: str) -> KafkaTopicUrl:
    """Parse and check a ``--queue`` URL; ``ValueError`` saying what is wrong."""
    parsed = KafkaTopicUrl.parse(url, allowed_options=QUEUE_OPTIONS)
    options = parsed.options
    try:
        if float(options.get("send_timeout", "10")) <= 0:
            raise ValueError("send_timeout must be > 0")
        if int(options.get("linger_ms", "5")) < 0:
            raise ValueError("linger_ms must be >= 0")
        if int(options.get("max_record_bytes", "900000")) < 1024:
            raise ValueError("max_record_bytes must be >= 1024")
    except ValueError as exc:
        raise ValueError(f"{url!r}: {exc}") from None
    if options.get("compression", "none") not in ("none", "gzip"):
        raise ValueError(f"{url!r}: compression must be none or gzip")
    return parsed


def _raws(events: Sequence[Event | WireEvent]) -> list[Mapping[str, Any]]:
    """Each event as sent (a decoded ``Event`` put back together from its body)."""
    return [item.restored() if isinstance(item, Event) else item[1] for item in events]


class QueueIngestor(Ingestor):
    """An ``Ingestor`` whose events go to a Kafka topic (see the module docstring)."""

    def __init__(self, store: Store, indexer: Indexer, retry_after: int, url: str) -> None:
        super().__init__(store, indexer, retry_after)
        self.url = parse_queue_url(url)
        options = self.url.options
        self.send_timeout = float(options.get("send_timeout", "10"))
        self.linger_ms = int(options.get("linger_ms", "5"))
        self.compression = options.get("compression", "none")
        self.max_record_bytes = int(options.get("max_record_bytes", "900000"))
        self.records_sent = 0
        self.send_failures = 0
        self._producer: Any = None
        self._connecting = asyncio.Lock()
        self._next_attempt = 0.0

    async def start(self) -> None:
        """Connect to the broker; when it cannot be reached, log it and try again on the
        next ingest request (which is answered 503 until the broker answers)."""
        try:
            await self._connect()
        except ApiError:
            _log.warning("Kafka %s not reachable yet; ingest answers 503 until it is", self.url)

    async def _connect(self) -> Any:
        if self._producer is not None:
            return self._producer
        async with self._connecting:
            if self._producer is not None:
                return self._producer
            if time.monotonic() < self._next_attempt:
                raise unavailable(
                    "queue unavailable: Kafka not reachable; retry later", self._retry_after
                )
            from aiokafka import AIOKafkaProducer

            producer = AIOKafkaProducer(
                bootstrap_servers=self.url.bootstrap_servers,
                client_id="moxtrace-serve",
                acks="all",
                enable_idempotence=True,
                linger_ms=self.linger_ms,
                compression_type=None if self.compression == "none" else self.compression,
                max_request_size=max(1024 * 1024, self.max_record_bytes + 64 * 1024),
                request_timeout_ms=int(self.send_timeout * 1000),
            )
            try:
                await asyncio.wait_for(producer.start(), self.send_timeout)
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await producer.stop()
                self._next_attempt = time.monotonic() + 1.0
                self.counters.store_unavailable += 1
                _log.warning("cannot connect to Kafka %s: %r", self.url, exc)
                raise unavailable(
                    "queue unavailable: Kafka not reachable; retry later", self._retry_after
                ) from None
            self._producer = producer
            _log.info("ingest goes to %s", self.url)
            return producer

    async def ingest(self, tenant: str, events: Sequence[Event | WireEvent]) -> EventsWritten:
        """Send ``events`` to the topic; durable (acknowledged by all in-sync replicas)
        when this returns. 503 when Kafka does not acknowledge, 413 for an event larger
        than a record may be."""
        producer = await self._connect()
        try:
            records = await off_loop(
                len(events) * 256,
                lambda: events_records(tenant, _raws(events), self.max_record_bytes),
            )
        except RecordTooLarge as exc:
            raise ApiError(413, "payload_too_large", str(exc)) from None
        topic = self.url.topic

        async def send_all() -> None:
            sends = [
                await producer.send(
                    topic, value=record.value, key=record.key, headers=record.headers
                )
                for record in records
            ]
            await asyncio.gather(*sends)

        try:
            await asyncio.wait_for(send_all(), self.send_timeout)
        except Exception as exc:
            self.send_failures += 1
            self.counters.store_unavailable += 1
            _log.warning("Kafka did not acknowledge a batch for %s: %r", tenant, exc)
            raise unavailable(
                "queue unavailable: Kafka did not acknowledge; retry later", self._retry_after
            ) from None
        self.records_sent += len(records)
        counters = self.counters
        counters.requests += 1
        counters.events_accepted += len(events)
        return EventsWritten(len(events), 0)

    async def close(self) -> None:
        """Flush and stop the producer."""
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), self.send_timeout)
