"""Interop with opentelemetry-instrumentation-aiokafka, through the real broker.

Trace headers are the standard W3C keys, so context flows both ways between moxtrace's
traced producer/consumer and the OpenTelemetry contrib instrumentation (or any producer
in another language that writes ``traceparent``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from moxtrace import SyncMoxnClient
from moxtrace.kafka import TracedConsumer, TracedProducer
from tests.integration.test_kafka_e2e import create_topic


@pytest.fixture
def contrib() -> Iterator[tuple[AIOKafkaInstrumentor, InMemorySpanExporter, TracerProvider]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = AIOKafkaInstrumentor()
    yield instrumentor, exporter, provider
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


@pytest.fixture
def moxtrace_spans() -> Iterator[tuple[SyncMoxnClient, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    client = SyncMoxnClient(span_processors=[SimpleSpanProcessor(exporter)])
    yield client, exporter
    client.close()


async def consume_one(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=topic
    )
    await consumer.start()
    return consumer


async def test_contrib_producer_to_moxtrace_consumer(
    kafka_broker: str,
    contrib: tuple[AIOKafkaInstrumentor, InMemorySpanExporter, TracerProvider],
    moxtrace_spans: tuple[SyncMoxnClient, InMemorySpanExporter],
) -> None:
    instrumentor, contrib_exporter, provider = contrib
    client, exporter = moxtrace_spans
    topic = await create_topic(kafka_broker)
    instrumentor.instrument(tracer_provider=provider)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker)
    await producer.start()
    with provider.get_tracer("app").start_as_current_span("app"):
        await producer.send_and_wait(topic, b"hello")
    await producer.stop()
    instrumentor.uninstrument()
    (send,) = [s for s in contrib_exporter.get_finished_spans() if s.kind is SpanKind.PRODUCER]

    consumer = await consume_one(kafka_broker, topic)
    try:
        record = await consumer.getone()
        async with TracedConsumer(consumer, client, group_id=topic).record(record):
            pass
    finally:
        await consumer.stop()
    (process,) = exporter.get_finished_spans()
    assert process.name == f"process {topic}"
    assert process.parent is not None
    assert process.parent.span_id == send.context.span_id
    assert process.context.trace_id == send.context.trace_id


async def test_moxtrace_producer_to_contrib_consumer(
    kafka_broker: str,
    contrib: tuple[AIOKafkaInstrumentor, InMemorySpanExporter, TracerProvider],
    moxtrace_spans: tuple[SyncMoxnClient, InMemorySpanExporter],
) -> None:
    instrumentor, contrib_exporter, provider = contrib
    client, exporter = moxtrace_spans
    topic = await create_topic(kafka_broker)
    producer = TracedProducer(AIOKafkaProducer(bootstrap_servers=kafka_broker), client)
    await producer.start()
    with client.tracing.tracer.start_as_current_span("app"):
        await producer.send_and_wait(topic, b"hello")
    await producer.stop()
    (send,) = [s for s in exporter.get_finished_spans() if s.name == f"send {topic}"]

    instrumentor.instrument(tracer_provider=provider)
    consumer = await consume_one(kafka_broker, topic)
    try:
        await consumer.getone()
    finally:
        await consumer.stop()
    consumed = [s for s in contrib_exporter.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    assert consumed, contrib_exporter.get_finished_spans()
    assert consumed[0].context.trace_id == send.context.trace_id
    assert consumed[0].parent is not None
    assert consumed[0].parent.span_id == send.context.span_id
