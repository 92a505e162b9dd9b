"""``KafkaSource``: records from a topic, in a consumer group, committed once delivered.

Offsets are committed by hand (``enable_auto_commit=False``) every ``commit_interval``
seconds, on a rebalance and at shutdown, and only ever up to the first record whose
spans are not all delivered (``PartitionOffsets``): at-least-once. Records that cannot
be decoded are copied to the dead-letter topic (``acks=all``) with the reason in a
header before their offset may be committed.

While every delivery slot is busy the source pauses its partitions and keeps polling
(so Kafka does not take it for dead); memory stays bounded by ``max_poll_records`` per
batch times ``max_inflight_batches``, plus the reassembly buffer.

On a rebalance the partitions being taken away first get their in-flight deliveries
finished (up to the session timeout) and their offsets committed; their waiting
partial spans are dropped, to be read again by the new owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from moxtrace._ratelimit import RateLimitedLogger
from moxtrace.pipeline.collector import Collector
from moxtrace.pipeline.offsets import PartitionOffsets
from moxtrace.pipeline.processor import InRecord
from moxtrace.pipeline.settings import CollectorSettings
from moxtrace.pipeline.topic import KafkaTopicUrl, dead_letter_headers

__all__ = ["KafkaSource", "KafkaSourceCounters"]

_logger = logging.getLogger("moxtrace.pipeline")
_warn = RateLimitedLogger(_logger)


class KafkaSourceCounters:
    """What the source did since it started."""

    def __init__(self) -> None:
        self.records = 0
        self.batches = 0
        self.commits = 0
        self.commit_failures = 0
        self.dead_letters = 0
        self.rebalances = 0
        self.paused = 0
        """Times consumption paused because every delivery slot was busy."""

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return dict(vars(self))


class KafkaSource:
    """Consumes ``url``'s topic in consumer group ``settings.group`` into ``collector``."""

    def __init__(
        self, collector: Collector, url: KafkaTopicUrl, settings: CollectorSettings
    ) -> None:
        self.collector = collector
        self.url = url
        self.settings = settings
        self.dead_letter_topic = settings.dead_letters or f"{url.topic}.dlq"
        self.counters = KafkaSourceCounters()
        self.assigned: list[tuple[str, int]] = []
        self.started = False
        self._consumer: Any = None
        self._producer: Any = None
        self._partitions: dict[Any, PartitionOffsets] = {}
        self._commit_lock = asyncio.Lock()
        self._paused = False
        collector.dead_letter = self._send_dead_letters

    async def start(self) -> None:
        """Join the group and connect the dead-letter producer (raises when Kafka cannot
        be reached; the caller retries)."""
        s = self.settings
        session_ms = int(s.session_timeout * 1000)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.url.bootstrap_servers,
            group_id=s.group,
            client_id=f"moxtrace-collector-{s.group}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(100, session_ms // 3),
            rebalance_timeout_ms=max(session_ms, int(s.shutdown_timeout * 1000)),
            max_poll_interval_ms=int(s.max_poll_interval * 1000),
            max_poll_records=s.max_poll_records,
            fetch_max_bytes=16 * 1024 * 1024,
            max_partition_fetch_bytes=2 * 1024 * 1024,
        )
        consumer.subscribe([self.url.topic], listener=_Rebalance(self))
        producer = AIOKafkaProducer(
            bootstrap_servers=self.url.bootstrap_servers,
            client_id=f"moxtrace-collector-{s.group}-dlq",
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=30_000,
        )
        try:
            await consumer.start()
            await producer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        self._consumer, self._producer = consumer, producer
        self.started = True

    async def run(self, stop: asyncio.Event) -> None:
        """Poll, submit, commit until ``stop`` is set."""
        consumer = self._consumer
        committer = asyncio.get_running_loop().create_task(self._commit_loop(stop))
        try:
            while not stop.is_set():
                if not self.collector.has_capacity():
                    await self._poll_paused(stop)
                    continue
                if self._paused:
                    consumer.resume(*consumer.assignment())
                    self._paused = False
                batches = await consumer.getmany(
                    timeout_ms=200, max_records=self.settings.max_poll_records
                )
                if batches:
                    await self.collector.submit(self._records(batches))
        finally:
            committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await committer

    async def _poll_paused(self, stop: asyncio.Event) -> None:
        # Every slot is busy: keep polling (Kafka takes a consumer that stops polling for
        # dead) with every partition paused, so nothing more is fetched into memory.
        consumer = self._consumer
        if not self._paused:
            self.counters.paused += 1
            self._paused = True
        consumer.pause(*consumer.assignment())
        batches = await consumer.getmany(timeout_ms=100, max_records=self.settings.max_poll_records)
        if batches:  # partitions assigned since the pause: take them, one batch over
            await self.collector.submit(self._records(batches))

    def _records(self, batches: dict[Any, Sequence[Any]]) -> list[InRecord]:
        records: list[InRecord] = []
        assigned = self._consumer.assignment()
        for tp, messages in batches.items():
            if tp not in assigned:  # revoked since they were fetched: the new owner reads them
                continue
            offsets = self._partitions.get(tp)
            if offsets is None:
                offsets = self._partitions[tp] = PartitionOffsets(tp.topic, tp.partition)
            for message in messages:
                records.append(
                    InRecord(
                        offsets.track(message.offset),
                        tp,
                        message.value,
                        message.headers or (),
                        message.key,
                    )
                )
        self.counters.records += len(records)
        self.counters.batches += 1
        return records

    async def _commit_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.commit_interval)
            await self.commit()

    async def commit(self, only: Sequence[Any] | None = None) -> None:
        """Commit, per partition, up to the first record not yet delivered."""
        consumer = self._consumer
        if consumer is None:
            return
        async with self._commit_lock:
            assigned = consumer.assignment()
            offsets: dict[Any, int] = {}
            for tp, partition in list(self._partitions.items()):
                if only is not None and tp not in only:
                    continue
                if tp not in assigned or not partition.active:
                    continue
                position = partition.committable()
                if position is not None and position != partition.committed:
                    offsets[tp] = position
            if not offsets:
                return
            try:
                await consumer.commit(offsets)
            except KafkaError as exc:
                self.counters.commit_failures += 1
                _warn.warning(
                    "commit", "moxtrace collector: commit failed (%s); records may repeat", exc
                )
                return
            for tp, position in offsets.items():
                self._partitions[tp].committed = position
            self.counters.commits += 1

    async def _send_dead_letters(self, records: Sequence[InRecord]) -> None:
        producer = self._producer
        for record in records:
            tp: Any = record.scope
            reason = record.ticket.dead_letter or "undecodable"
            await producer.send_and_wait(
                self.dead_letter_topic,
                value=record.value,
                key=record.key,
                headers=dead_letter_headers(
                    record.headers, reason, tp.topic, tp.partition, record.ticket.offset
                ),
            )
            self.counters.dead_letters += 1
            _warn.warning(
                "dead-letter",
                "moxtrace collector: record %s/%s/%s sent to %s: %s",
                tp.topic,
                tp.partition,
                record.ticket.offset,
                self.dead_letter_topic,
                reason,
            )

    async def revoked(self, partitions: Sequence[Any]) -> None:
        """Before partitions go: finish deliveries, commit them, forget their waiting spans."""
        self.counters.rebalances += 1
        wait = min(self.settings.session_timeout, self.settings.shutdown_timeout)
        if not await self.collector.idle(wait):
            _logger.warning(
                "moxtrace collector: deliveries still running at a rebalance; "
                "their records will be read again"
            )
        await self.commit(only=partitions)
        for tp in partitions:
            partition = self._partitions.pop(tp, None)
            if partition is not None:
                partition.active = False
        await self.collector.forget(partitions)

    def assigned_partitions(self, partitions: Sequence[Any]) -> None:
        """Remember the new assignment (for ``/ready`` and the log)."""
        self.assigned = sorted((tp.topic, tp.partition) for tp in partitions)
        if self._paused:
            self._consumer.pause(*partitions)
        _logger.info("moxtrace collector: partitions %s", [p for _, p in self.assigned] or "none")

    async def close(self) -> None:
        """Commit what is done, leave the group, stop the producer."""
        consumer, producer = self._consumer, self._producer
        if consumer is not None:
            await self.commit()
            self._consumer = None
            with contextlib.suppress(Exception):
                await consumer.stop()
        if producer is not None:
            self._producer = None
            with contextlib.suppress(Exception):
                await producer.stop()

    def stats(self) -> dict[str, Any]:
        """Counters, assignment and per-partition progress."""
        partitions = {
            f"{tp.topic}/{tp.partition}": {
                "in_flight": p.in_flight,
                "committed": p.committed,
            }
            for tp, p in self._partitions.items()
        }
        return {
            "topic": self.url.topic,
            "group": self.settings.group,
            "dead_letter_topic": self.dead_letter_topic,
            "assigned": [p for _, p in self.assigned],
            "paused": self._paused,
            **self.counters.as_dict(),
            "partitions": partitions,
        }


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, source: KafkaSource) -> None:
        self._source = source

    async def on_partitions_revoked(self, revoked: Sequence[Any]) -> None:
        try:
            await self._source.revoked(list(revoked))
        except Exception:
            _logger.exception("moxtrace collector: handling revoked partitions failed")

    async def on_partitions_assigned(self, assigned: Sequence[Any]) -> None:
        self._source.assigned_partitions(list(assigned))
