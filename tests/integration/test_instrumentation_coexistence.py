"""moxtrace's SDK instrumentation next to other instrumentations.

Two GenAI instrumentations on one SDK, moxtrace and ``opentelemetry-instrumentation-openai-v2``:
both wrap ``chat.completions.create``. Whichever is installed first, moxtrace ends up
beneath the other one's wrapper, finds its GenAI span open and records into it: one LLM
span per call, carrying both instrumentations' attributes and the Moxn identity. Each can
be removed in either order and the SDK's own function comes back.

Messaging: with ``opentelemetry-instrumentation-aiokafka`` on the producer and consumer, an
LLM call made while processing a record nests under the record's span, in the producer's
trace (real Apache Kafka). Real HTTP to the stand-in OpenAI API on 127.0.0.1 throughout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import moxtrace
from examples.existing_app.standins import CHUNKS, StandIn
from moxtrace import PromptSession, Provider
from tests.unit.conftest import make_prompt

pytestmark = pytest.mark.integration

Completions = openai.resources.chat.completions.Completions
AsyncCompletions = openai.resources.chat.completions.AsyncCompletions


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    with StandIn() as api:
        yield api


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
    exporter = InMemorySpanExporter()
    yield exporter
    moxtrace.uninstrument()
    OpenAIInstrumentor().uninstrument()


def both(provider: TracerProvider, order: str) -> None:
    install: dict[str, Callable[[], Any]] = {
        "openai-v2": lambda: OpenAIInstrumentor().instrument(tracer_provider=provider),
        "moxtrace": lambda: moxtrace.instrument(
            tracer_provider=provider, content_capture="all", sdks=["openai"]
        ),
    }
    for name in order.split(" then "):
        install[name]()


def llm_spans(memory: InMemorySpanExporter) -> list[ReadableSpan]:
    return [
        s for s in memory.get_finished_spans() if (s.attributes or {}).get("gen_ai.operation.name")
    ]


ORDERS = ["openai-v2 then moxtrace", "moxtrace then openai-v2"]


@pytest.mark.parametrize("order", ORDERS)
def test_one_llm_span_per_call_with_both_instrumentations(
    order: str, standin: StandIn, memory: InMemorySpanExporter
) -> None:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    both(provider, order)
    session = PromptSession(make_prompt(provider=Provider.OPENAI_CHAT), {"query": "Hi"})
    invocation = session.to_openai_chat_invocation(model="gpt-4o-mini", max_tokens=50)
    client = openai.OpenAI(api_key="x", base_url=standin.openai_base_url, max_retries=0)
    aclient = openai.AsyncOpenAI(api_key="x", base_url=standin.openai_base_url, max_retries=0)

    # sync, streamed, async
    client.chat.completions.create(**invocation)
    chunks = list(
        client.chat.completions.create(
            **invocation, stream=True, stream_options={"include_usage": True}
        )
    )
    assert [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ] == list(CHUNKS)

    async def main() -> None:
        await aclient.chat.completions.create(**invocation)

    asyncio.run(main())

    spans = llm_spans(memory)
    assert len(spans) == 3, [s.name for s in memory.get_finished_spans()]
    for span in spans:
        attrs = span.attributes or {}
        assert span.name == "chat gpt-4o-mini"
        # openai-v2's span (its scope), with moxtrace's attributes recorded into it.
        assert span.instrumentation_scope is not None
        assert span.instrumentation_scope.name != "moxtrace"
        assert attrs["moxn.prompt.id"] == str(session.prompt.id)
        assert attrs["moxn.session.id"] == str(session.id)
        assert attrs["moxn.llm.tool_call.count"] == 0
        assert attrs["gen_ai.usage.input_tokens"] == 21
        assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
        assert "gen_ai.input.messages" in attrs
    assert "moxn.llm.time_to_first_chunk_ms" in (spans[1].attributes or {})


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("removed_first", ["openai-v2", "moxtrace"])
def test_each_can_be_removed_in_either_order(
    order: str, removed_first: str, standin: StandIn, memory: InMemorySpanExporter
) -> None:
    pristine = vars(Completions)["create"], vars(AsyncCompletions)["create"]
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    both(provider, order)
    removals = {"openai-v2": OpenAIInstrumentor().uninstrument, "moxtrace": moxtrace.uninstrument}
    removals[removed_first]()
    # The one left still records the call, once.
    client = openai.OpenAI(api_key="x", base_url=standin.openai_base_url, max_retries=0)
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )
    (span,) = llm_spans(memory)
    scope = span.instrumentation_scope.name if span.instrumentation_scope else ""
    assert (scope == "moxtrace") is (removed_first == "openai-v2")
    removals["moxtrace" if removed_first == "openai-v2" else "openai-v2"]()
    assert (vars(Completions)["create"], vars(AsyncCompletions)["create"]) == pristine


# -- messaging: aiokafka ---------------------------------------------------------------------


async def test_an_llm_call_while_processing_a_kafka_record_nests_under_it(
    kafka_broker: str, standin: StandIn, memory: InMemorySpanExporter
) -> None:
    """opentelemetry-instrumentation-aiokafka on the producer and the consumer, moxtrace's
    traced consumer around the handler: the LLM span of the handler is a child of the
    record's processing span, in the producer's trace, with the producer's prompt identity
    (carried by the ``moxn`` propagator in the record's ``tracestate``)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from opentelemetry import propagate
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    from moxtrace import SyncMoxnClient
    from moxtrace.kafka import TracedConsumer
    from moxtrace.tracing.propagation import MoxnPropagator
    from tests.integration.test_kafka_e2e import create_topic

    client = SyncMoxnClient(span_processors=[SimpleSpanProcessor(memory)])
    moxtrace.instrument(client, sdks=["openai"])
    kafka = AIOKafkaInstrumentor()
    kafka.instrument(tracer_provider=client.tracing.provider)
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(  # OTEL_PROPAGATORS=tracecontext,baggage,moxn
        CompositePropagator(
            [TraceContextTextMapPropagator(), W3CBaggagePropagator(), MoxnPropagator()]
        )
    )
    session = PromptSession(make_prompt(provider=Provider.OPENAI_CHAT), {"query": "Hi"})
    llm = openai.AsyncOpenAI(api_key="x", base_url=standin.openai_base_url, max_retries=0)
    topic = await create_topic(kafka_broker)
    try:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker)
        await producer.start()
        try:
            with client.span(session, name="enqueue") as enqueue:
                await producer.send_and_wait(topic, b"Where is my order?")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=kafka_broker, auto_offset_reset="earliest", group_id=topic
        )
        await consumer.start()
        try:
            record = await consumer.getone()
            async with TracedConsumer(consumer, client, group_id=topic).record(record):
                await llm.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": record.value.decode()}],
                )
        finally:
            await consumer.stop()
    finally:
        propagate.set_global_textmap(previous)
        kafka.uninstrument()
        client.close()

    spans = memory.get_finished_spans()
    (send,) = [s for s in spans if s.kind is SpanKind.PRODUCER]
    (process,) = [s for s in spans if s.name == f"process {topic}"]
    (chat,) = llm_spans(memory)
    trace_id = enqueue.get_span_context().trace_id
    assert send.parent is not None and send.parent.span_id == enqueue.get_span_context().span_id
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert chat.parent is not None and chat.parent.span_id == process.context.span_id
    assert {send.context.trace_id, process.context.trace_id, chat.context.trace_id} == {trace_id}
    assert (chat.attributes or {})["moxn.prompt.id"] == str(session.prompt.id)
    assert (chat.attributes or {})["moxn.session.id"] == str(session.id)
