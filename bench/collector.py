"""Spans/s through one ``moxtrace collector`` and through two, and ingest-to-store latency.

Everything real, on 127.0.0.1: an Apache Kafka broker (KRaft), PostgreSQL (the store),
``moxtrace collector`` processes, ``moxtrace serve --queue``. Prints, in one run:

- throughput: a topic of 4 partitions is filled with ``--spans`` spans as
  ``serve --queue`` writes them (Moxn events, one record per trace and batch); then one
  collector (store sink, no plugins) drains it into a fresh database, then two
  collectors in one group drain the same records into another. Spans/s is measured
  between the moment every collector owns partitions and the moment 90% of the spans
  are stored (the steady state: process start-up and the group's first rebalance
  excluded), from the collectors' own counters;
- the ratio two/one (goal >= 1.6) and each against the floor: the stock
  ``OTLPSpanExporter`` into a discarding loopback sink, same spans, same run;
- latency: ``serve --queue`` plus two collectors; ``--latency-spans`` spans sent with
  ``MoxnSpanExporter`` in batches of 50 at a steady pace below capacity; for each trace,
  the time from the start of its ingest request to its events' commit in the store
  (``events.received_us``, set by the collector just before its write), p50 and p99.

Spans are copies of one real moxtrace span (an LLM call with content, 11 GenAI
attributes), five to a trace. The machine's cores are shared by the broker, PostgreSQL,
the collectors and this script: read the two-collector figure with ``os.cpu_count()`` in
mind (printed).

    python bench/collector.py [--spans 40000] [--latency-spans 6000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from ingest import SINK, template_span  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan  # noqa: E402
from opentelemetry.sdk.trace.export import SpanExportResult  # noqa: E402
from opentelemetry.trace import SpanContext, TraceFlags  # noqa: E402

from moxtrace.exporters import MoxnSpanExporter  # noqa: E402
from moxtrace.exporters.events import span_to_wire  # noqa: E402
from moxtrace.pipeline.topic import events_records  # noqa: E402
from tests.support.collector import CollectorProcess  # noqa: E402
from tests.support.kafka import kafka_broker  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.postgres import postgres_server  # noqa: E402
from tests.support.server import MoxtraceServer, fresh_postgres_database  # noqa: E402

PARTITIONS = 4
SPANS_PER_TRACE = 5
_T = TypeVar("_T")


def run_async(coro: Any) -> Any:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def spans_like(template: ReadableSpan, count: int, seed: int) -> list[ReadableSpan]:
    """``count`` copies of ``template``, five to a trace, fresh ids."""
    rng = random.Random(seed)
    out: list[ReadableSpan] = []
    trace_id = 0
    now = time.time_ns()
    for index in range(count):
        if index % SPANS_PER_TRACE == 0:
            trace_id = rng.getrandbits(128) | 1
        out.append(
            ReadableSpan(
                name=template.name,
                context=SpanContext(trace_id, rng.getrandbits(64) | 1, False, TraceFlags(1)),
                parent=None,
                resource=template.resource,
                attributes=template.attributes,
                events=template.events,
                links=template.links,
                kind=template.kind,
                status=template.status,
                start_time=now,
                end_time=now + 1_000_000,
                instrumentation_scope=template.instrumentation_scope,
            )
        )
    return out


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, partitions, 1)])
        finally:
            await admin.close()

    run_async(create())


def fill_topic(bootstrap: str, topic: str, spans: list[ReadableSpan]) -> int:
    """Write ``spans`` as ``serve --queue`` would (batches of 512); the record count."""
    from aiokafka import AIOKafkaProducer

    batches = []
    for start in range(0, len(spans), 512):
        events = [e for s in spans[start : start + 512] for e in span_to_wire(s)]
        batches.append(events_records("dev", events, 900_000))

    async def send() -> int:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_request_size=2 << 20
        )
        await producer.start()
        try:
            futures = [
                await producer.send(topic, r.value, key=r.key, headers=r.headers)
                for records in batches
                for r in records
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()
        return len(futures)

    result: int = run_async(send())
    return result


def stored_spans(collectors: list[CollectorProcess]) -> int:
    total = 0
    for collector in collectors:
        for name, sink in collector.stats()["sinks"].items():
            if name.startswith("store:"):
                total += sink["spans"]
    return total


def drain_rate(
    work: Path, bootstrap: str, topic: str, database_url: str, count: int, total: int
) -> tuple[float, float]:
    """Spans/s of ``count`` collectors draining ``topic`` (steady state, and overall)."""
    group = f"bench-{count}-{uuid.uuid4().hex[:6]}"
    collectors = [
        CollectorProcess(
            work / f"{group}-{i}",
            kafka=f"kafka://{bootstrap}/{topic}",
            sinks=[f"store:{database_url}"],
            group=group,
            options={"log_level": "warning"},
        )
        for i in range(count)
    ]
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda c: c.start(), collectors))
        # Steady state: every collector owns partitions and none of them is rebalancing.
        while True:
            stats = [c.stats() for c in collectors]
            owned = sum(len(s["kafka"]["assigned"]) for s in stats)
            if owned == PARTITIONS and all(s["kafka"]["assigned"] for s in stats):
                break
            time.sleep(0.02)
        t0, done0 = time.monotonic(), stored_spans(collectors)
        target = int(total * 0.9)
        while (done := stored_spans(collectors)) < target:
            time.sleep(0.05)
        t1 = time.monotonic()
        while stored_spans(collectors) < total:
            time.sleep(0.05)
        t2 = time.monotonic()
    finally:
        for collector in collectors:
            collector.stop()
    if done0 >= target:
        raise SystemExit("bench: the collectors finished before they were all assigned")
    return (done - done0) / (t1 - t0), total / (t2 - started)


def floor_rate(spans: list[ReadableSpan], work: Path) -> float:
    """Spans/s of the stock OTLPSpanExporter into a discarding loopback sink."""
    port = free_port()
    with (work / "sink.log").open("wb") as log:
        sink = subprocess.Popen([sys.executable, "-c", SINK, str(port)], stdout=log, stderr=log)
    try:
        exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")
        deadline = time.monotonic() + 30
        while exporter.export(spans[:10]) is not SpanExportResult.SUCCESS:
            if time.monotonic() > deadline:
                raise SystemExit("bench: the discarding sink did not start")
            time.sleep(0.05)
        started = time.perf_counter()
        for i in range(0, len(spans), 512):
            exporter.export(spans[i : i + 512])
        elapsed = time.perf_counter() - started
        exporter.shutdown()  # type: ignore[no-untyped-call]
    finally:
        sink.terminate()
        sink.wait(10)
    return len(spans) / elapsed


def latency(
    work: Path, bootstrap: str, database_url: str, template: ReadableSpan, count: int
) -> tuple[list[float], list[float]]:
    """Per trace: ingest request time and ingest-to-store time (ms)."""
    topic = f"latency-{uuid.uuid4().hex[:6]}"
    create_topic(bootstrap, topic, PARTITIONS)
    kafka = f"kafka://{bootstrap}/{topic}"
    server = MoxtraceServer(
        work / "serve", database_url=database_url, options={"queue": kafka, "log_level": "warning"}
    )
    server.start()
    group = f"latency-{uuid.uuid4().hex[:6]}"
    collectors = [
        CollectorProcess(
            work / f"{group}-{i}",
            kafka=kafka,
            sinks=[f"store:{database_url}"],
            group=group,
            options={"log_level": "warning", "commit_interval": 1},
        )
        for i in range(2)
    ]
    sent_at: dict[str, float] = {}
    acked_ms: list[float] = []
    try:
        for collector in collectors:
            collector.start()
        spans = spans_like(template, count, seed=99)
        exporter = MoxnSpanExporter(server.api_key, server.base_url)
        pace = 0.05  # 50 spans every 50 ms: 1,000 spans/s, well below capacity
        next_at = time.monotonic()
        for start in range(0, len(spans), 50):
            batch = spans[start : start + 50]
            now = time.time()
            for span in batch:
                sent_at[format(span.context.trace_id, "032x")] = now
            began = time.perf_counter()
            if exporter.export(batch) is not SpanExportResult.SUCCESS:
                raise SystemExit("bench: ingest failed")
            acked_ms.append((time.perf_counter() - began) * 1000)
            next_at += pace
            time.sleep(max(0.0, next_at - time.monotonic()))
        exporter.shutdown()
        deadline = time.monotonic() + 120
        while stored_spans(collectors) < count:
            if time.monotonic() > deadline:
                raise SystemExit("bench: spans did not all reach the store")
            time.sleep(0.1)
        rows = run_async(received(database_url))
    finally:
        for collector in collectors:
            collector.stop()
        server.stop()
    store_ms = [(rows[t] / 1e6 - sent) * 1000 for t, sent in sent_at.items() if t in rows]
    return acked_ms, store_ms


async def received(database_url: str) -> dict[str, int]:
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT trace_id, max(received_us) AS r FROM events GROUP BY 1")
    finally:
        await conn.close()
    return {row["trace_id"]: row["r"] for row in rows}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.contextmanager
def database(base_url: str) -> Iterator[str]:
    with fresh_postgres_database(base_url) as url:
        yield url


def timed(what: str, func: Callable[[], _T]) -> _T:
    started = time.monotonic()
    result = func()
    print(f"  ({what}: {time.monotonic() - started:.1f}s)", file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=40_000, help="spans in the topic")
    parser.add_argument(
        "--latency-spans", type=int, default=6_000, help="spans sent for the latency figures"
    )
    args = parser.parse_args()
    template = template_span()
    spans = spans_like(template, args.spans, seed=7)
    work = Path(tempfile.mkdtemp(prefix="moxtrace-bench-collector-"))
    with kafka_broker(work / "kafka") as broker, postgres_server() as pg:
        bootstrap = broker.bootstrap
        topic = f"bench-{uuid.uuid4().hex[:6]}"
        create_topic(bootstrap, topic, PARTITIONS)
        records = timed("filling the topic", lambda: fill_topic(bootstrap, topic, spans))
        floor = timed("floor", lambda: floor_rate(spans[:20_000], work))
        with database(pg.url) as one_db:
            one, one_overall = timed(
                "one collector",
                lambda: drain_rate(work, bootstrap, topic, one_db, 1, args.spans),
            )
        with database(pg.url) as two_db:
            two, two_overall = timed(
                "two collectors",
                lambda: drain_rate(work, bootstrap, topic, two_db, 2, args.spans),
            )
        with database(pg.url) as latency_db:
            acked, stored = timed(
                "latency",
                lambda: latency(work, bootstrap, latency_db, template, args.latency_spans),
            )
    print(
        f"collector: {args.spans} spans ({records} records, {PARTITIONS} partitions) from Kafka "
        f"into PostgreSQL, {len(template.attributes or {})} attributes + content per span, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs shared by broker, database "
        "and collectors"
    )
    print(f"  floor: OTLPSpanExporter -> discarding sink   {floor:9.0f} spans/s")
    print(
        f"  one collector  (steady state)               {one:9.0f} spans/s"
        f"   ({one / floor:.2f}x floor; overall incl. start-up {one_overall:.0f})"
    )
    print(
        f"  two collectors (steady state)               {two:9.0f} spans/s"
        f"   ({two / floor:.2f}x floor; overall incl. start-up {two_overall:.0f})"
    )
    print(f"  two / one                                   {two / one:9.2f}x   (goal >= 1.6)")
    print(
        f"latency, {len(stored)} traces at ~1,000 spans/s through serve --queue and two collectors:"
    )
    print(
        f"  ingest request (2xx = in Kafka)   p50 {statistics.median(acked):7.1f} ms   "
        f"p99 {percentile(acked, 0.99):7.1f} ms"
    )
    print(
        f"  ingest -> committed to the store  p50 {statistics.median(stored):7.1f} ms   "
        f"p99 {percentile(stored, 0.99):7.1f} ms"
    )


if __name__ == "__main__":
    main()
