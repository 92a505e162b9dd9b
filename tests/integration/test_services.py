"""Smoke tests: the session's real services answer, and only on loopback."""

from __future__ import annotations

import asyncio
import sys
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.kafka import KafkaBroker
from tests.support.phoenix import PROJECT_ATTRIBUTE, PhoenixServer, phoenix_spans, span_by_name
from tests.support.postgres import PostgresServer
from tests.support.procs import is_loopback, listening_addresses

pytestmark = pytest.mark.integration


async def test_kafka_produce_and_consume(kafka_broker: str) -> None:
    topic = f"smoke-{uuid.uuid4().hex[:12]}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker)
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b"hello", key=b"k1", headers=[("h", b"v")])
    finally:
        await producer.stop()
    assert sent.offset == 0

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_broker,
        group_id=f"smoke-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        await consumer.commit()
    finally:
        await consumer.stop()
    assert (record.key, record.value, record.offset) == (b"k1", b"hello", 0)
    assert list(record.headers) == [("h", b"v")]


def test_phoenix_stores_span_attributes_and_parentage(phoenix: PhoenixServer) -> None:
    project = f"smoke-{uuid.uuid4().hex[:12]}"
    provider = TracerProvider(resource=Resource.create({PROJECT_ATTRIBUTE: project}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=phoenix.otlp_traces_endpoint, timeout=10))
    )
    tracer = provider.get_tracer("moxtrace.tests.smoke")
    try:
        with (
            tracer.start_as_current_span(
                "chat claude-test", attributes={"gen_ai.request.model": "claude-test"}
            ) as parent,
            tracer.start_as_current_span("tool call", attributes={"n": 3}) as child,
        ):
            pass
    finally:
        provider.shutdown()
    trace_id = format(parent.get_span_context().trace_id, "032x")
    parent_id = format(parent.get_span_context().span_id, "016x")
    child_id = format(child.get_span_context().span_id, "016x")

    spans = phoenix_spans(phoenix.base_url, project, min_count=2, timeout=30, trace_id=trace_id)

    got_parent = span_by_name(spans, "chat claude-test")
    got_child = span_by_name(spans, "tool call")
    assert got_parent["context"] == {"trace_id": trace_id, "span_id": parent_id}
    assert got_parent["parent_id"] is None
    assert got_parent["attributes"]["gen_ai.request.model"] == "claude-test"
    assert got_child["context"] == {"trace_id": trace_id, "span_id": child_id}
    assert got_child["parent_id"] == parent_id
    assert got_child["attributes"]["n"] == 3


async def test_postgres_query_through_sqlalchemy_asyncpg(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+asyncpg://postgres@127.0.0.1:")
    assert postgres_url.endswith("/moxtrace")
    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TEMPORARY TABLE smoke (id int PRIMARY KEY, v text)"))
            await conn.execute(text("INSERT INTO smoke VALUES (1, 'one'), (2, 'two')"))
            rows = (await conn.execute(text("SELECT id, v FROM smoke ORDER BY id"))).all()
            database = (await conn.execute(text("SELECT current_database()"))).scalar_one()
            version = (await conn.execute(text("SHOW server_version_num"))).scalar_one()
    finally:
        await engine.dispose()
    assert [tuple(row) for row in rows] == [(1, "one"), (2, "two")]
    assert database == "moxtrace"
    assert int(version) >= 130000


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_services_listen_on_loopback_only(
    kafka_service: KafkaBroker, phoenix: PhoenixServer, postgres_service: PostgresServer
) -> None:
    expected = {
        "kafka": (kafka_service.pid, {kafka_service.port, kafka_service.controller_port}),
        "phoenix": (phoenix.pid, {phoenix.port, phoenix.grpc_port}),
        "postgres": (postgres_service.pid, {postgres_service.port}),
    }
    for name, (pid, ports) in expected.items():
        listening = listening_addresses(pid)
        assert {port for _, port in listening} == ports, f"{name}: {listening}"
        exposed = [(host, port) for host, port in listening if not is_loopback(host)]
        assert not exposed, f"{name} (pid {pid}) listens beyond loopback: {exposed}"
