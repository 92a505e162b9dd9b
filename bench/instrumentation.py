"""µs added to each provider SDK call by ``moxtrace.instrument()``, against a bare OTel span.

Each case calls an official SDK (``openai``, ``anthropic``, ``google-genai``) whose HTTP
goes to an ``httpx2.MockTransport`` inside the process, answering with the stand-in
providers' payloads (examples/existing_app/standins.py): the network is not measured,
only the SDK and what moxtrace adds to it. The same call is timed uninstrumented and
instrumented (spans through the OTel SDK's BatchSpanProcessor into an exporter that
discards, content recorded, as the Moxn destination receives it); the difference is the
cost of the instrumentation.

The floor is the bare OpenTelemetry SDK: one span started and ended with the same
attributes the instrumented call's span ends up with, through the same processor. It is
measured two ways: alone in a tight loop (hot caches: the figure the other benches
use), and around the same SDK call (``start_as_current_span`` wrapping the call, minus
the bare call), where the SDK's working set cools the caches for it as it does for the
instrumentation. The ratio against the floor around the call compares like with like;
both are printed. Cases are interleaved in short chunks, timed with the calling thread's
CPU clock (``time.thread_time``); medians over the rounds. Goal: added / floor <= 1.5.

The SDK's own work (hundreds of µs) moves more from run to run on a shared machine than
the instrumentation costs. ``--canned`` takes it out: each SDK method is replaced by the
answer it gave once (a stream: its chunks, as the SDK's objects), so only what moxtrace
adds is timed, against the bare span alone. ``bench/instrumentation_instructions.py``
counts the same under callgrind, in instructions, which do not move at all.

    python bench/instrumentation.py [--iterations N] [--rounds R] [--canned]
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
from google import genai
from google.genai import types as genai_types
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import moxtrace
from examples.existing_app.standins import reply

MESSAGES = [
    {"role": "system", "content": "You are a helpful support agent."},
    {"role": "user", "content": "Where is my order?"},
]


class Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def handler(request: httpx2.Request) -> httpx2.Response:
    status, payload = reply(request.url.path, json.loads(request.content or b"{}"), 1)
    if isinstance(payload, dict):
        return httpx2.Response(status, json=payload)
    return httpx2.Response(
        status, content="".join(payload).encode(), headers={"content-type": "text/event-stream"}
    )


def http() -> httpx2.Client:
    return httpx2.Client(transport=httpx2.MockTransport(handler))


def cases() -> dict[str, Callable[[], Any]]:
    oa = openai.OpenAI(api_key="x", base_url="http://bench/v1", http_client=http(), max_retries=0)
    an = anthropic.Anthropic(
        api_key="x", base_url="http://bench", http_client=http(), max_retries=0
    )
    gg = genai.Client(
        api_key="x",
        http_options=genai_types.HttpOptions(base_url="http://bench", httpx_client=http()),
    )

    def chat() -> Any:
        return oa.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    def chat_stream() -> Any:
        stream = oa.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        for _ in stream:
            pass

    def responses(**stream: Any) -> Any:
        return oa.responses.create(
            model="gpt-4o-mini",
            instructions=MESSAGES[0]["content"],
            input=MESSAGES[1]["content"],
            **stream,
        )

    def responses_stream() -> Any:
        for _ in responses(stream=True):
            pass

    def messages(**stream: Any) -> Any:
        return an.messages.create(
            model="claude-sonnet-4-6",
            system=MESSAGES[0]["content"],
            messages=MESSAGES[1:],
            max_tokens=256,
            **stream,
        )

    def messages_stream() -> Any:
        for _ in messages(stream=True):
            pass

    gemini_request: dict[str, Any] = {
        "model": "gemini-2.5-flash",
        "contents": MESSAGES[1]["content"],
        "config": {"system_instruction": MESSAGES[0]["content"]},
    }

    def gemini() -> Any:
        return gg.models.generate_content(**gemini_request)

    def gemini_stream() -> Any:
        for _ in gg.models.generate_content_stream(**gemini_request):
            pass

    return {
        "openai chat.completions.create": chat,
        "openai chat.completions.create(stream)": chat_stream,
        "openai responses.create": responses,
        "openai responses.create(stream)": responses_stream,
        "anthropic messages.create": messages,
        "anthropic messages.create(stream)": messages_stream,
        "google models.generate_content": gemini,
        "google models.generate_content_stream": gemini_stream,
    }


class Canned:
    """The instrumented SDK methods, replaced by functions returning what each returned once
    (with ``stream=True`` and without)."""

    def __init__(self) -> None:
        from moxtrace.instrumentation._endpoints import SDKS

        self.methods: list[tuple[Any, str, Any]] = []
        for endpoints in SDKS.values():
            for endpoint in endpoints:
                if endpoint.is_async or endpoint.manager:
                    continue
                owner = getattr(importlib.import_module(endpoint.module), endpoint.owner)
                original = vars(owner).get(endpoint.method)
                if original is not None:
                    self.methods.append((owner, endpoint.method, original))
        self.answers: dict[tuple[Any, str, bool], Any] = {}  # (owner, method, stream=True)

    def record(self) -> None:
        """SDK methods that run, and keep what they return (a stream's chunks, listed)."""
        for owner, name, original in self.methods:

            def recording(
                self_: Any, *args: Any, _key: Any = (owner, name), _o: Any = original, **kw: Any
            ) -> Any:
                result = _o(self_, *args, **kw)
                key = (*_key, kw.get("stream") is True)
                if isinstance(result, Iterator) or hasattr(result, "__next__"):
                    chunks = list(result)
                    self.answers[key] = chunks
                    return iter(chunks)
                self.answers[key] = result
                return result

            setattr(owner, name, recording)

    def replay(self) -> None:
        """SDK methods that return the recorded answer, doing nothing else."""
        answers = self.answers
        for owner, name, _ in self.methods:

            def replaying(self_: Any, *args: Any, _key: Any = (owner, name), **kw: Any) -> Any:
                answer = answers.get((*_key, kw.get("stream") is True))
                return iter(answer) if isinstance(answer, list) else answer

            setattr(owner, name, replaying)

    def restore(self) -> None:
        for owner, name, original in self.methods:
            setattr(owner, name, original)


def span_floors(
    calls: dict[str, Callable[[], Any]], tracer: Tracer, *, around: bool = False
) -> dict[str, Callable[[], Any]]:
    """Per call, a bare span with the name, kind and attributes its instrumented span ends
    up with (found by instrumenting the call once); ``around``: the span wraps the call."""
    probe = InMemorySpanExporter()
    probe_provider = TracerProvider()
    probe_provider.add_span_processor(SimpleSpanProcessor(probe))
    moxtrace.instrument(tracer_provider=probe_provider, content_capture="all")
    floors: dict[str, Callable[[], Any]] = {}
    try:
        for name, fn in calls.items():
            probe.clear()
            fn()
            (span,) = probe.get_finished_spans()
            attributes = dict(span.attributes or {})
            inside = fn if around else None

            def floor(
                span_name: str = span.name,
                attrs: dict[str, Any] = attributes,
                call: Callable[[], Any] | None = inside,
            ) -> None:
                with tracer.start_as_current_span(
                    span_name, kind=SpanKind.CLIENT, attributes=attrs
                ):
                    if call is not None:
                        call()

            floors[name] = floor
    finally:
        moxtrace.uninstrument()
        probe_provider.shutdown()
    return floors


def measure(fn: Callable[[], Any], iterations: int) -> float:
    start = time.thread_time()
    for _ in range(iterations):
        fn()
    return (time.thread_time() - start) / iterations * 1e6


def canned_bench(
    calls: dict[str, Callable[[], Any]], provider: TracerProvider, iterations: int, rounds: int
) -> None:
    """µs per call with each SDK method replaced by the answer it gave once (a stream: its
    chunks): uninstrumented, instrumented, and the bare span alone; medians and best of
    the rounds."""
    canned = Canned()
    canned.record()
    for fn in calls.values():
        fn()
    canned.replay()
    floors = span_floors(calls, provider.get_tracer("bench"))
    results: dict[str, dict[str, list[float]]] = {
        name: {"canned": [], "instrumented": [], "floor": []} for name in calls
    }
    try:
        for _ in range(rounds):
            for name, fn in calls.items():
                results[name]["canned"].append(measure(fn, iterations))
                moxtrace.instrument(tracer_provider=provider, content_capture="all")
                results[name]["instrumented"].append(measure(fn, iterations))
                moxtrace.uninstrument()
                results[name]["floor"].append(measure(floors[name], iterations))
    finally:
        canned.restore()
    print(
        f"instrumentation, SDK methods canned: {iterations} calls x {rounds} rounds, "
        f"Python {sys.version.split()[0]}"
    )
    for title, pick in (("median of the rounds", statistics.median), ("best round", min)):
        print(f"  {title}:")
        print(f"    {'call':<40} {'added':>8} {'bare span':>10} {'added/span':>11}")
        ratios = []
        for name, values in results.items():
            added = pick(values["instrumented"]) - pick(values["canned"])
            floor = pick(values["floor"])
            ratios.append(added / floor)
            print(f"    {name:<40} {added:6.1f}µs {floor:8.1f}µs {added / floor:10.2f}x")
        print(f"  RATIO added/bare span, {title}, worst case = {max(ratios):.2f} (goal <= 1.50)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300, help="calls per chunk")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--canned",
        action="store_true",
        help="the SDK methods replaced by their recorded answers: moxtrace's own work only",
    )
    args = parser.parse_args()

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    tracer = provider.get_tracer("bench")
    calls = cases()
    if args.canned:
        canned_bench(calls, provider, args.iterations, args.rounds)
        provider.shutdown()
        return

    floors = span_floors(calls, tracer)
    around = span_floors(calls, tracer, around=True)

    series = ("bare", "instrumented", "floor", "around")
    results = {name: {key: [] for key in series} for name in calls}  # type: ignore[var-annotated]
    for name, fn in calls.items():  # warm up
        fn()
        floors[name]()
        around[name]()
    for _ in range(args.rounds):
        for name, fn in calls.items():
            # Back to back, so each round's differences are paired.
            results[name]["bare"].append(measure(fn, args.iterations))
            results[name]["around"].append(measure(around[name], args.iterations))
            moxtrace.instrument(tracer_provider=provider, content_capture="all")
            results[name]["instrumented"].append(measure(fn, args.iterations))
            moxtrace.uninstrument()
            results[name]["floor"].append(measure(floors[name], args.iterations * 4))

    print(
        f"instrumentation: {args.iterations} calls x {args.rounds} rounds, in-process transport, "
        f"Python {sys.version.split()[0]}"
    )
    for title, pick in (
        ("median of the rounds (paired)", None),
        ("best round (least disturbed by other processes)", min),
    ):
        print(f"  {title}:")
        print(
            f"    {'call':<40} {'bare SDK':>9} {'instrumented':>12} {'added':>7} "
            f"{'floor:around':>13} {'alone':>6} {'added/floor':>12} {'(alone)':>8}"
        )
        ratios = []
        for name, values in results.items():
            if pick is None:
                bare = statistics.median(values["bare"])
                pairs = list(
                    zip(values["bare"], values["instrumented"], values["around"], strict=True)
                )
                added = statistics.median(traced - plain for plain, traced, _ in pairs)
                floor_around_us = statistics.median(wrapped - plain for plain, _, wrapped in pairs)
                floor_us = statistics.median(values["floor"])
            else:
                bare = pick(values["bare"])
                added = pick(values["instrumented"]) - bare
                floor_around_us = pick(values["around"]) - bare
                floor_us = pick(values["floor"])
            ratio = added / floor_around_us
            ratios.append(ratio)
            print(
                f"    {name:<40} {bare:7.1f}µs {bare + added:10.1f}µs {added:5.1f}µs "
                f"{floor_around_us:11.1f}µs {floor_us:4.1f}µs {ratio:11.2f}x "
                f"{added / floor_us:7.2f}x"
            )
        print(
            f"  RATIO added/floor around the call, {title.split(' (')[0]} "
            f"(median over calls) = {statistics.median(ratios):.2f} (goal <= 1.50)"
        )
    provider.shutdown()


if __name__ == "__main__":
    main()
