"""Kafka throughput with and without moxtrace tracing, on a real broker, in one run.

Produces and consumes N records through aiokafka three ways, round after round: plain;
traced by moxtrace's ``TracedProducer`` / ``TracedConsumer``; and traced by bare
OpenTelemetry (the ``opentelemetry-instrumentation-aiokafka`` contrib instrumentation, the
floor). Spans go to a discarding exporter behind a batch processor. Prints messages/s, the
moxtrace/plain ratio (goal: tracing costs at most 10% of throughput, ratio >= 0.90), the
moxtrace/OpenTelemetry ratio, and µs per header inject and per extract.

Two passes: with no work per message (each record is only JSON-decoded, and the producer
does nothing between sends), which shows the raw per-message cost; and with
``--work-us`` of simulated work per message on both sides (a CPU spin; default 1000 µs,
still far less than one LLM call), which shows the cost as a worker sees it. It also
prints the work per message above which tracing costs at most 10%.

    python bench/kafka_tracing.py [--bootstrap HOST:PORT] [--messages N] [--rounds R]

Without --bootstrap it starts a broker of its own (deploy/kafka, see docs/services.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moxtrace import SyncMoxnClient
from moxtrace.kafka import TracedConsumer, TracedProducer, inject_headers

PAYLOAD = json.dumps({"ticket": 42, "text": "x" * 170}).encode()


class Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    from tests.support.kafka import kafka_broker

    with tempfile.TemporaryDirectory() as tmp, kafka_broker(Path(tmp) / "kafka") as b:
        yield b.bootstrap


async def new_topic(bootstrap: str) -> str:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    return topic


def spin(work_us: float) -> None:
    end = time.perf_counter() + work_us / 1e6
    while time.perf_counter() < end:
        pass


async def produce(
    bootstrap: str, topic: str, n: int, client: SyncMoxnClient | None, work_us: float
) -> float:
    raw = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    producer = TracedProducer(raw, client) if client else raw
    await producer.start()
    try:
        start = time.perf_counter()
        futures = []
        for _ in range(n):
            if work_us:
                spin(work_us)
            futures.append(await producer.send(topic, PAYLOAD, key=b"k"))
        await raw.flush()
        await asyncio.gather(*futures)
        return n / (time.perf_counter() - start)
    finally:
        await producer.stop()


def handle(value: bytes | None, work_us: float) -> int:
    decoded = json.loads(value or b"{}")
    if work_us:
        spin(work_us)
    return len(decoded)


async def consume(
    bootstrap: str, topic: str, n: int, client: SyncMoxnClient | None, work_us: float
) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"g-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    traced = TracedConsumer(consumer, client) if client else None
    try:
        seen = 0
        total = 0
        start = time.perf_counter()
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            for records in batches.values():
                for record in records:
                    if traced is not None:
                        with traced.record(record):
                            total += handle(record.value, work_us)
                    else:
                        total += handle(record.value, work_us)
                    seen += 1
        return n / (time.perf_counter() - start)
    finally:
        await consumer.stop()


def header_costs(client: SyncMoxnClient) -> tuple[float, float]:
    tracer = client.tracing.tracer
    with tracer.start_as_current_span("app"):
        headers = inject_headers([("app", b"1")])
        inject = (
            min(timeit.repeat(lambda: inject_headers([("app", b"1")]), number=5000, repeat=5))
            / 5000
            * 1e6
        )
    record = ConsumerRecord(
        topic="t",
        partition=0,
        offset=1,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=b"",
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=tuple(headers),
    )
    from moxtrace.kafka import context_from_record

    def extract() -> None:
        assert context_from_record(record) is not None

    return inject, min(timeit.repeat(extract, number=5000, repeat=5)) / 5000 * 1e6


async def run_pass(
    bootstrap: str, client: SyncMoxnClient, messages: int, rounds: int, work_us: float
) -> None:
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    otel = TracerProvider()
    otel.add_span_processor(BatchSpanProcessor(Discard()))
    instrumentor = AIOKafkaInstrumentor()
    modes = ("plain", "moxtrace", "otel")
    results: dict[str, list[float]] = {
        f"{side} {m}": [] for side in ("produce", "consume") for m in modes
    }
    for _ in range(rounds):
        for mode in modes:
            if mode == "otel":
                instrumentor.instrument(tracer_provider=otel)
            topic = await new_topic(bootstrap)
            c = client if mode == "moxtrace" else None
            results[f"produce {mode}"].append(await produce(bootstrap, topic, messages, c, work_us))
            if mode == "otel":
                # The contrib consumer span wraps getone/__anext__; consume record by record.
                results[f"consume {mode}"].append(
                    await consume_one_by_one(bootstrap, topic, messages, work_us)
                )
                instrumentor.uninstrument()
            else:
                results[f"consume {mode}"].append(
                    await consume(bootstrap, topic, messages, c, work_us)
                )
    otel.shutdown()
    print(
        f"pass: {messages} records x {rounds} rounds per mode, {len(PAYLOAD)}-byte JSON "
        f"values, {work_us:g} µs of work per message"
    )
    for name, values in results.items():
        print(f"  {name:<18} {statistics.median(values):9.0f} msg/s")

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(results[a], results[b], strict=True))

    for side in ("produce", "consume"):
        traced = statistics.median(results[f"{side} moxtrace"])
        plain = statistics.median(results[f"{side} plain"])
        cost_us = max(1e6 / traced - 1e6 / plain, 0.0)
        print(
            f"RATIO {side} moxtrace/plain = {ratio(f'{side} moxtrace', f'{side} plain'):.2f}"
            f" (goal >= 0.90);  moxtrace/OpenTelemetry = "
            f"{ratio(f'{side} moxtrace', f'{side} otel'):.2f};  tracing adds "
            f"{cost_us:.0f} µs/message: within 10% from {9 * cost_us:.0f} µs of work"
        )


async def run(bootstrap: str, messages: int, rounds: int, work_us: float) -> None:
    client = SyncMoxnClient(span_exporters=[Discard()])
    print(f"kafka_tracing on the broker at {bootstrap}")
    await run_pass(bootstrap, client, messages, rounds, 0.0)
    await run_pass(bootstrap, client, max(messages // 5, 200), rounds, work_us)
    inject_us, extract_us = header_costs(client)
    client.close()
    print(f"  inject (span context -> Kafka headers): {inject_us:.2f} µs")
    print(f"  extract (Kafka headers -> context):     {extract_us:.2f} µs")


async def consume_one_by_one(bootstrap: str, topic: str, n: int, work_us: float) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"g-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        start = time.perf_counter()
        for _ in range(n):
            record = await consumer.getone()
            handle(record.value, work_us)
        return n / (time.perf_counter() - start)
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="an existing broker; default: start one")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--work-us", type=float, default=1000.0, help="work per message in the second pass (µs)"
    )
    args = parser.parse_args()
    with broker(args.bootstrap) as bootstrap:
        asyncio.run(run(bootstrap, args.messages, args.rounds, args.work_us))


if __name__ == "__main__":
    main()
