"""Spans/s through one ``moxtrace collector`` and through two, and ingest-to-store latency.

Everything real, on 127.0.0.1: an Apache Kafka broker (KRaft), PostgreSQL (the store),
``moxtrace collector`` processes, ``moxtrace serve --queue``. Prints, in one run:

- throughput into the store: ``--spans`` spans, written to a fresh 4-partition topic as
  ``serve --queue`` writes them (Moxn events, one record per trace and request), are
  drained into a fresh PostgreSQL database by one collector (store sink, no plugins),
  then by two collectors in one group. Spans/s is measured from the moment every
  collector owns its partitions (process start-up and the group's first rebalance
  excluded) to 90% of the spans stored, from the collectors' own counters. Beside it,
  the CPU each span cost the collectors and PostgreSQL, and how busy the machine was
  (every process on it) — and how much of that was not this bench's processes (other
  work on a shared machine, which makes the figures lower and noisier);
- the same with an OTLP sink into a discarding loopback receiver instead of the store,
  where the collectors' own work is what limits them;
- the ratio two/one of both (goal >= 1.6), and each rate against the floor: the stock
  ``OTLPSpanExporter`` into the discarding receiver, same spans, same run;
- latency: ``serve --queue`` plus two collectors; ``--latency-spans`` spans sent with
  ``MoxnSpanExporter`` in batches of 50 at ~1,000 spans/s (below capacity); per trace,
  the time from the start of its ingest request to its events' commit in the store
  (``events.received_us``, taken by the collector just before its write), p50 and p99.

Spans are copies of one real moxtrace span (an LLM call with content, 11 GenAI
attributes), five to a trace. The machine's cores are shared by the broker, PostgreSQL,
the collectors and this script: the CPU columns say how much of them a run used, which
is what bounds the two-collector figure on a small machine (``os.cpu_count()`` printed).

    python bench/collector.py [--spans 60000] [--latency-spans 6000]
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


def encode_records(spans: list[ReadableSpan]) -> list[Any]:
    """``spans`` as ``serve --queue`` writes them: requests of 512 spans, one record per
    trace and request."""
    records: list[Any] = []
    for start in range(0, len(spans), 512):
        events = [e for s in spans[start : start + 512] for e in span_to_wire(s)]
        records.extend(events_records("dev", events, 900_000))
    return records


def delivered_spans(collectors: list[CollectorProcess], kind: str) -> int:
    """Spans the collectors' sinks of ``kind`` (store, otlp) have taken."""
    total = 0
    for collector in collectors:
        for name, sink in collector.stats()["sinks"].items():
            if name.startswith(f"{kind}:"):
                total += sink["spans"]
    return total


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` and of their children, live or reaped."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    wanted = set(pids)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid in wanted:
            total += sum(int(f) for f in fields[11:15]) / tick
        elif ppid in wanted:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (every process, ours or not)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / tick, sum(fields[:8]) / tick


def wait_for(check: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {what}: not true after {timeout:.0f}s")
        time.sleep(0.02)


class Drain:
    """One measured drain: spans/s and CPU per span."""

    def __init__(
        self, rate: float, collector_us: float, db_us: float, busy: float, others: float
    ) -> None:
        self.rate = rate
        self.collector_us = collector_us
        self.db_us = db_us
        self.busy = busy
        self.others = others

    def row(self, label: str, floor: float) -> str:
        db = f"{self.db_us:7.0f}" if self.db_us else "      -"
        return (
            f"  {label:<28} {self.rate:8.0f} spans/s  {self.rate / floor:5.2f}x floor   "
            f"collectors {self.collector_us:4.0f} us/span  PostgreSQL {db} us/span  "
            f"machine {self.busy:4.0%} busy ({self.others:.0%} not ours)"
        )


def drain(
    work: Path,
    bootstrap: str,
    records: list[Any],
    total: int,
    count: int,
    sink: str,
    db_pid: int | None,
    infra: list[int],
) -> Drain:
    """``count`` collectors with ``sink`` drain ``records`` (``total`` spans) from a fresh
    topic; spans/s from the moment every collector owns partitions to 90% delivered."""
    topic = f"bench-{uuid.uuid4().hex[:6]}"
    create_topic(bootstrap, topic, PARTITIONS)
    produce(bootstrap, topic, records)
    group = f"bench-{count}-{uuid.uuid4().hex[:6]}"
    kind = sink.split(":", 1)[0]
    collectors = [
        CollectorProcess(
            work / f"{group}-{i}",
            kafka=f"kafka://{bootstrap}/{topic}",
            sinks=[sink],
            group=group,
            options={"log_level": "warning"},
        )
        for i in range(count)
    ]
    try:
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda c: c.start(), collectors))

        def settled() -> bool:
            stats = [c.stats()["kafka"]["assigned"] for c in collectors]
            return sum(map(len, stats)) == PARTITIONS and all(stats)

        wait_for(settled, "every collector owns partitions")
        pids = [c.pid for c in collectors]
        t0, done0 = time.monotonic(), delivered_spans(collectors, kind)
        if done0 > total * 0.6:
            raise SystemExit(f"bench: {done0} of {total} spans delivered before the steady state")
        c0, d0 = cpu_seconds(pids), cpu_seconds([db_pid]) if db_pid else 0.0
        m0, i0 = machine_cpu(), cpu_seconds(infra)
        wait_for(lambda: delivered_spans(collectors, kind) >= total * 0.9, "90% delivered")
        t1, done1 = time.monotonic(), delivered_spans(collectors, kind)
        c1, d1 = cpu_seconds(pids), cpu_seconds([db_pid]) if db_pid else 0.0
        m1, i1 = machine_cpu(), cpu_seconds(infra)
        wait_for(lambda: delivered_spans(collectors, kind) >= total, "every span delivered")
    finally:
        for collector in collectors:
            collector.stop()
    spans = done1 - done0
    elapsed = t1 - t0
    capacity = max(1e-9, m1[1] - m0[1])
    busy = (m1[0] - m0[0]) / capacity
    # CPU of processes that are not part of this bench (other work on a shared machine).
    ours = (c1 - c0) + (d1 - d0) + (i1 - i0)
    others = max(0.0, (m1[0] - m0[0] - ours) / capacity)
    return Drain(spans / elapsed, (c1 - c0) / spans * 1e6, (d1 - d0) / spans * 1e6, busy, others)


def produce(bootstrap: str, topic: str, records: list[Any]) -> None:
    from aiokafka import AIOKafkaProducer

    async def send() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_request_size=2 << 20
        )
        await producer.start()
        try:
            futures = [
                await producer.send(topic, r.value, key=r.key, headers=r.headers) for r in records
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    run_async(send())


@contextlib.contextmanager
def discarding_sink(work: Path) -> Iterator[tuple[str, int]]:
    """An HTTP server on loopback that reads and drops every request: its traces URL, pid."""
    port = free_port()
    with (work / "sink.log").open("wb") as log:
        sink = subprocess.Popen([sys.executable, "-c", SINK, str(port)], stdout=log, stderr=log)
    try:
        yield f"http://127.0.0.1:{port}/v1/traces", sink.pid
    finally:
        sink.terminate()
        sink.wait(10)


def floor_rate(spans: list[ReadableSpan], url: str) -> float:
    """Spans/s of the stock OTLPSpanExporter into the discarding sink at ``url``."""
    exporter = OTLPSpanExporter(endpoint=url)
    wait_for(lambda: exporter.export(spans[:10]) is SpanExportResult.SUCCESS, "the sink")
    started = time.perf_counter()
    for i in range(0, len(spans), 512):
        exporter.export(spans[i : i + 512])
    elapsed = time.perf_counter() - started
    exporter.shutdown()  # type: ignore[no-untyped-call]
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
        wait_for(lambda: delivered_spans(collectors, "store") >= count, "latency spans stored")
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
    parser.add_argument("--spans", type=int, default=60_000, help="spans drained per run")
    parser.add_argument(
        "--latency-spans", type=int, default=6_000, help="spans sent for the latency figures"
    )
    args = parser.parse_args()
    template = template_span()
    spans = spans_like(template, args.spans, seed=7)
    records = encode_records(spans)
    work = Path(tempfile.mkdtemp(prefix="moxtrace-bench-collector-"))
    runs: dict[str, Drain] = {}
    with (
        kafka_broker(work / "kafka") as broker,
        postgres_server() as pg,
        discarding_sink(work) as (sink_url, sink_pid),
    ):
        bootstrap = broker.bootstrap
        infra = [broker.pid, sink_pid]
        floor = floor_rate(spans[:20_000], sink_url)
        for count in (1, 2):
            with database(pg.url) as db:
                runs[f"store {count}"] = timed(
                    f"store, {count} collector(s)",
                    lambda n=count, url=db: drain(  # type: ignore[misc]
                        work, bootstrap, records, args.spans, n, f"store:{url}", pg.pid, infra
                    ),
                )
        for count in (1, 2):
            runs[f"otlp {count}"] = timed(
                f"OTLP, {count} collector(s)",
                lambda n=count: drain(  # type: ignore[misc]
                    work, bootstrap, records, args.spans, n, f"otlp:{sink_url}", None, infra
                ),
            )
        with database(pg.url) as latency_db:
            acked, stored = timed(
                "latency",
                lambda: latency(work, bootstrap, latency_db, template, args.latency_spans),
            )
    print(
        f"collector: {args.spans} spans a run ({len(records)} records, {PARTITIONS} partitions) "
        f"from Kafka, {len(template.attributes or {})} attributes + content per span, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs shared by everything"
    )
    print(f"  floor: OTLPSpanExporter -> discarding sink   {floor:8.0f} spans/s")
    print("into PostgreSQL (store sink):")
    print(runs["store 1"].row("one collector", floor))
    print(runs["store 2"].row("two collectors", floor))
    print(f"  two / one {runs['store 2'].rate / runs['store 1'].rate:5.2f}x   (goal >= 1.6)")
    print("into a discarding OTLP/HTTP receiver (otlp sink):")
    print(runs["otlp 1"].row("one collector", floor))
    print(runs["otlp 2"].row("two collectors", floor))
    print(f"  two / one {runs['otlp 2'].rate / runs['otlp 1'].rate:5.2f}x   (goal >= 1.6)")
    print(
        f"latency, {len(stored)} traces at ~1,000 spans/s through serve --queue and two "
        "collectors into PostgreSQL:"
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
