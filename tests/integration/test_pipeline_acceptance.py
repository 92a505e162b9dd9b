"""Acceptance: 50,000 spans through ``serve --queue`` and two collectors, one SIGKILLed.

Real processes on the real broker and PostgreSQL: ``moxtrace serve --queue kafka://``
takes the spans (``MoxnSpanExporter``), two ``moxtrace collector`` processes in one group
share the topic's partitions and store into the same database; one is killed with
SIGKILL while spans are flowing. Every span must end up stored exactly once: nothing
lost (the killed collector's uncommitted records are read again by the other) and
nothing twice (redelivered events are recognised as duplicates).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

from moxtrace.exporters import MoxnSpanExporter
from tests.support.collector import CollectorProcess, create_topics, make_spans
from tests.support.server import MoxtraceServer, poll

pytestmark = pytest.mark.integration

TOTAL = 50_000
LLM_SPANS = len(range(1, TOTAL, 3))


def counts(database_url: str) -> dict[str, int]:
    """Totals and distinct keys of the stored events and spans (tenant dev)."""
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)

    async def query() -> dict[str, int]:
        conn = await asyncpg.connect(dsn)
        try:
            events = await conn.fetchrow(
                "SELECT count(*) AS total, count(DISTINCT (trace_id, span_id, event_type, "
                "sequence_number)) AS distinct_ FROM events WHERE tenant = 'dev'"
            )
            spans = await conn.fetchrow(
                "SELECT count(*) AS total, count(DISTINCT (trace_id, span_id)) AS distinct_ "
                "FROM spans WHERE tenant = 'dev'"
            )
            llm = await conn.fetchval("SELECT count(*) FROM llm_calls WHERE tenant = 'dev'")
        finally:
            await conn.close()
        return {
            "events": events["total"],
            "events_distinct": events["distinct_"],
            "spans": spans["total"],
            "spans_distinct": spans["distinct_"],
            "llm_calls": llm,
        }

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, query()).result(timeout=60)


def ingest(server: MoxtraceServer, spans: list[Any], done: threading.Event) -> None:
    exporter = MoxnSpanExporter(api_key=server.api_key, base_url=server.base_url, deadline=60)
    try:
        for start in range(0, len(spans), 1000):
            result = exporter.export(spans[start : start + 1000])
            assert result is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
        done.set()


def test_fifty_thousand_spans_stored_exactly_once_though_a_collector_is_killed(
    kafka_broker: str, moxtrace_server_factory: Any, tmp_path: Path
) -> None:
    started = time.monotonic()
    topic = create_topics(kafka_broker, 4)
    kafka = f"kafka://{kafka_broker}/{topic}"
    server = moxtrace_server_factory("postgres", queue=kafka)
    database_url = server.database_url
    assert database_url is not None
    group = f"acceptance-{uuid.uuid4().hex[:8]}"
    options = {"session_timeout": 6, "index_sweep_interval": 2, "commit_interval": 0.5}
    collectors = [
        CollectorProcess(
            tmp_path / name,
            kafka=kafka,
            sinks=[f"store:{database_url}"],
            group=group,
            options=options,
        )
        for name in ("a", "b")
    ]
    try:
        for collector in collectors:
            collector.start()
        victim, survivor = collectors
        poll(
            lambda: victim.stats()["kafka"]["assigned"] and survivor.stats()["kafka"]["assigned"],
            timeout=30,
            what="both collectors own partitions",
        )
        spans = make_spans(TOTAL)
        done = threading.Event()
        sender = threading.Thread(target=ingest, args=(server, spans, done), daemon=True)
        sender.start()
        # Kill one collector while spans are still being ingested and consumed.
        poll(
            lambda: victim.stats()["processor"]["spans_out"] >= 5_000,
            timeout=60,
            what="the victim delivered 5,000 spans",
        )
        victim.kill()
        left = counts(database_url)
        assert left["events"] < 2 * TOTAL + LLM_SPANS, "everything was stored before the kill"
        sender.join(90)
        assert done.is_set()
        # Wait for every event, not only every span: a span's row exists once its first
        # event is stored, and its later events may still be on their way.
        final = poll(
            lambda: (
                (c := counts(database_url))["spans"] >= TOTAL
                and c["llm_calls"] >= LLM_SPANS
                and c["events"] >= 2 * TOTAL + LLM_SPANS
                and c
            ),
            timeout=90,
            what=f"{TOTAL} spans and their {2 * TOTAL + LLM_SPANS} events stored",
        )
        assert final == {
            "events": 2 * TOTAL + LLM_SPANS,
            "events_distinct": 2 * TOTAL + LLM_SPANS,
            "spans": TOTAL,
            "spans_distinct": TOTAL,
            "llm_calls": LLM_SPANS,
        }
        stats = survivor.stats()
        # The survivor took the victim's partitions over and read what it had not committed.
        assert len(stats["kafka"]["assigned"]) == 4
        assert stats["kafka"]["rebalances"] >= 1
        assert survivor.stop() == 0
        last = survivor.final_stats()
        sink = next(iter(last["sinks"].values()))
        assert sink["rejected"] == 0
        assert last["kafka"]["dead_letters"] == 0
    finally:
        for collector in collectors:
            if collector.running:
                collector.stop()
    print(f"\nacceptance run took {time.monotonic() - started:.1f}s")
