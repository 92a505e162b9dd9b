"""µs per ``client.span()`` with one LLM event logged, against a bare OTel SDK span.

The floor is the OpenTelemetry SDK on its own: ``start_as_current_span`` with the same
attributes our span ends up carrying (identity, metadata and the GenAI attributes of
the LLM event, content included), through the SDK's BatchSpanProcessor into an
exporter that discards. moxtrace runs the same work through ``client.span()`` plus
``log_telemetry_event()`` into the same kind of exporter. Both are measured in this
run and interleaved in short chunks; each chunk is timed with the calling thread's CPU
clock (``time.thread_time``), which is what the application's code path pays and which
other processes on a shared machine do not inflate. The ratio printed is the median of
the per-round ratios (µs figures are medians over rounds). Goal: ratio <= 1.3.

    python bench/span_overhead.py [--iterations N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from moxtrace import MoxnClient, PromptSession, Provider, SyncMoxnClient
from moxtrace.session.providers import parse_response
from moxtrace.types import (
    CompletionConfig,
    Message,
    MessageRole,
    PromptTemplate,
    TextContent,
    Variable,
)


class Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


PROMPT = PromptTemplate(
    id=uuid.uuid4(),
    name="support-answer",
    task_id=uuid.uuid4(),
    branch_id=uuid.uuid4(),
    branch_name="main",
    messages=[
        Message(
            id=uuid.uuid4(),
            name="system",
            role=MessageRole.SYSTEM,
            blocks=[[TextContent(text="You are a helpful support agent.")]],
        ),
        Message(
            id=uuid.uuid4(),
            name="user",
            role=MessageRole.USER,
            blocks=[[TextContent(text="Question: "), Variable(name="query")]],
        ),
    ],
    completion_config=CompletionConfig(provider=Provider.ANTHROPIC, model="claude-sonnet-4"),
)
RESPONSE = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4",
    "content": [{"type": "text", "text": "Your order ships tomorrow."}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 120, "output_tokens": 14, "cache_read_input_tokens": 100},
}
METADATA = {"customer_id": "cust_123", "request_id": "req_9"}


def measure(fn: Callable[[int], None], iterations: int) -> float:
    start = time.thread_time()
    fn(iterations)
    return (time.thread_time() - start) / iterations * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000, help="spans per chunk")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    session = PromptSession(PROMPT, {"query": "Where is my order?"})
    event = session.create_llm_event_from_parsed_response(
        parse_response(RESPONSE, Provider.ANTHROPIC)
    )

    # moxtrace: a client of its own, spans into a discarding exporter.
    # content_capture="all": the discarding exporter stands for the Moxn destination, which
    # receives spans as they are (third-party destinations get a copy without content).
    client = SyncMoxnClient(span_exporters=[Discard()], content_capture="all")
    aclient = MoxnClient(span_exporters=[Discard()], content_capture="all")

    # The attributes our span carries, captured once, for the floor.
    with client.span(session, metadata=METADATA) as probe:
        client.log_telemetry_event(event)
    attributes = dict(probe.attributes or {})  # type: ignore[attr-defined]

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    tracer = provider.get_tracer("bench")

    def floor(n: int) -> None:
        for _ in range(n):
            with tracer.start_as_current_span("support-answer", attributes=attributes):
                pass

    def moxtrace_sync(n: int) -> None:
        for _ in range(n):
            with client.span(session, metadata=METADATA):
                client.log_telemetry_event(event)

    def moxtrace_parse(n: int) -> None:
        for _ in range(n):
            with client.span(session, metadata=METADATA):
                client.log_telemetry_event_from_response(session, RESPONSE, Provider.ANTHROPIC)

    async def _async(n: int) -> None:
        for _ in range(n):
            async with aclient.span(session, metadata=METADATA):
                await aclient.log_telemetry_event(event)

    def moxtrace_async(n: int) -> None:
        asyncio.run(_async(n))

    cases = {
        "floor (bare OTel span, same attributes)": floor,
        "moxtrace span + LLM event (sync)": moxtrace_sync,
        "moxtrace span + LLM event (async)": moxtrace_async,
        "moxtrace span + parse response + event": moxtrace_parse,
    }
    for fn in cases.values():
        fn(2000)  # warm up
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, fn in cases.items():
            results[name].append(measure(fn, args.iterations))
    floors = results["floor (bare OTel span, same attributes)"]
    print(
        f"span_overhead: {args.iterations} spans x {args.rounds} rounds, "
        f"{len(attributes)} attributes per span, Python {sys.version.split()[0]}"
    )
    ratios: dict[str, float] = {}
    for name, values in results.items():
        # Each round's chunks ran back to back, so a round's ratio compares like with like
        # even when the machine's speed drifts between rounds.
        ratios[name] = statistics.median(v / f for v, f in zip(values, floors, strict=True))
        print(f"  {name:<44} {statistics.median(values):7.2f} µs/span   ratio {ratios[name]:5.2f}")
    ratio = ratios["moxtrace span + LLM event (sync)"]
    print(f"RATIO moxtrace/floor = {ratio:.2f} (goal <= 1.30)")
    client.close()
    asyncio.run(aclient.close())
    provider.shutdown()


if __name__ == "__main__":
    main()
