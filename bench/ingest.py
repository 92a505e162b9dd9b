"""Spans/s from ``MoxnSpanExporter`` into ``moxtrace serve``, against the stock OTLP exporter.

Prints, in one run:

- spans/s of ``MoxnSpanExporter`` into a running ``moxtrace serve`` (SQLite, default
  settings: a 2xx means committed), batches of 512 as the batch processor hands them;
- the floor: spans/s of the stock ``OTLPSpanExporter`` (OTLP/HTTP protobuf) into a
  discarding HTTP sink on loopback, same spans, same batches;
- their ratio (goal >= 0.5), and for reference ``MoxnSpanExporter`` into the same
  discarding sink (the exporter's own cost, without the server's).

  Both are measured in ``--rounds`` interleaved rounds (floor, then Moxn, the same number
  of spans each), so a change in the machine's load hits both alike; the figures are
  the totals, and the per-round ratios are printed with their median;
- batched (``/telemetry/log-events``) vs one event per request (``/telemetry/log-event``,
  what the hosted API offers), the speed-up (goal >= 20x);
- the server's peak RSS after ingesting ``--spans`` spans (goal < 300 MB for 200,000).

Spans are copies of one real span (``client.span()`` with an LLM event, content
included) with fresh ids (never sent before: no run measures the server skipping
duplicates) and the time they were built as their start; they are built between export
calls, outside the timings.
Both servers run as separate processes on 127.0.0.1, started and stopped here.

    python bench/ingest.py [--spans 200000] [--rounds 5] [--per-event-spans 1000]
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, TraceFlags

from moxtrace import PromptSession, Provider, SyncMoxnClient
from moxtrace.exporters import MoxnSpanExporter
from moxtrace.types import CompletionConfig, Message, MessageRole, PromptTemplate, TextContent

BATCH = 512

SINK = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Discard(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        while length:
            length -= len(self.rfile.read(min(length, 1 << 20)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
    do_GET = do_POST
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Discard)
print("ready", flush=True)
server.serve_forever()
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {what} did not come up within {timeout}s")
        time.sleep(0.05)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


@contextmanager
def process(argv: Sequence[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def template_span() -> ReadableSpan:
    """One real moxtrace span: identity, metadata, GenAI attributes and content."""
    prompt = PromptTemplate(
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
                blocks=[[TextContent(text="Where is my order? It was due on Monday.")]],
            ),
        ],
        completion_config=CompletionConfig(provider=Provider.ANTHROPIC, model="claude-sonnet-4"),
    )
    response = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4",
        "content": [{"type": "text", "text": "Your order ships tomorrow."}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 120, "output_tokens": 14, "cache_read_input_tokens": 100},
    }
    memory = InMemorySpanExporter()
    client = SyncMoxnClient(span_processors=[SimpleSpanProcessor(memory)])
    session = PromptSession(prompt)
    with client.span(session, metadata={"customer_id": "cust_123", "request_id": "req_9"}):
        client.log_telemetry_event_from_response(session, response, Provider.ANTHROPIC)
    client.close()
    (span,) = memory.get_finished_spans()
    return span


def copies(template: ReadableSpan, count: int, rng: random.Random) -> list[ReadableSpan]:
    """``count`` copies of ``template``, each its own trace and span id, started when built.

    Times move forward as an application's do (a microsecond apart within a call): a
    store sees spans in roughly the order they started, never thousands with one
    timestamp.
    """
    assert template.start_time is not None
    assert template.end_time is not None
    duration = template.end_time - template.start_time
    now = time.time_ns()
    out = []
    for i in range(count):
        ctx = SpanContext(rng.getrandbits(128) | 1, rng.getrandbits(64) | 1, False, TraceFlags(1))
        start = now + i * 1000
        out.append(
            ReadableSpan(
                name=template.name,
                context=ctx,
                parent=None,
                resource=template.resource,
                attributes=template.attributes,
                events=template.events,
                links=template.links,
                kind=template.kind,
                status=template.status,
                start_time=start,
                end_time=start + duration,
                instrumentation_scope=template.instrumentation_scope,
            )
        )
    return out


_seeds = itertools.count(7)


def run(exporter: SpanExporter, template: ReadableSpan, total: int, batch: int = BATCH) -> float:
    """Spans/s of ``exporter.export`` over ``total`` spans in batches (timing the calls)."""
    rng = random.Random(next(_seeds))  # ids no earlier run sent
    elapsed = 0.0
    done = 0
    while done < total:
        spans = copies(template, min(batch, total - done), rng)
        started = time.perf_counter()
        result = exporter.export(spans)
        elapsed += time.perf_counter() - started
        if result is not SpanExportResult.SUCCESS:
            raise SystemExit(f"bench: {type(exporter).__name__} failed an export")
        done += len(spans)
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=200_000, help="spans into the server")
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved floor/Moxn rounds (spans split evenly)"
    )
    parser.add_argument(
        "--max-in-flight", type=int, default=2, help="MoxnSpanExporter(max_in_flight=...)"
    )
    parser.add_argument(
        "--client-spans", type=int, default=20_000, help="spans into the sink (client cost)"
    )
    parser.add_argument(
        "--per-event-spans", type=int, default=1000, help="spans sent one event per request"
    )
    args = parser.parse_args()

    template = template_span()
    work = Path(tempfile.mkdtemp(prefix="moxtrace-bench-"))
    server_port, sink_port = free_port(), free_port()
    base_url = f"http://127.0.0.1:{server_port}"
    serve = [sys.executable, "-m", "moxtrace.cli", "serve", "--port", str(server_port)]
    serve += ["--data-dir", str(work / "data")]
    sink = [sys.executable, "-c", SINK, str(sink_port)]

    with process(serve, work / "server.log") as server, process(sink, work / "sink.log"):
        wait_until(lambda: answers(f"{base_url}/health"), "moxtrace serve")
        wait_until(lambda: answers(f"http://127.0.0.1:{sink_port}/"), "the sink")
        key = (work / "data" / "dev-api-key").read_text().strip()

        # Warm both paths (connections, imports, the server's first writes).
        floor_exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{sink_port}/v1/traces")
        moxn = MoxnSpanExporter(key, base_url, retry_policy=None, max_in_flight=args.max_in_flight)
        run(floor_exporter, template, 2 * BATCH)
        run(moxn, template, 2 * BATCH)

        per_round = max(BATCH, args.spans // max(1, args.rounds) // BATCH * BATCH)
        floor_s = moxn_s = 0.0
        ratios = []
        done = 0
        while done < args.spans:
            count = min(per_round, args.spans - done)
            f = run(floor_exporter, template, count)
            m = run(moxn, template, count)
            floor_s += count / f
            moxn_s += count / m
            ratios.append(m / f)
            done += count
        floor, batched = args.spans / floor_s, args.spans / moxn_s
        stats = moxn.stats
        rss = peak_rss_mb(server.pid)
        # The exporter's own share: the same work into the discarding sink.
        client_only = MoxnSpanExporter(key, f"http://127.0.0.1:{sink_port}")
        client_side = run(client_only, template, args.client_spans)
        client_only.shutdown()

        per_event_exporter = MoxnSpanExporter(key, base_url, batch_route=False)
        per_event = run(per_event_exporter, template, args.per_event_spans, batch=64)

        stored = httpx.get(
            f"{base_url}/traces", params={"limit": 1}, headers={"x-api-key": key}, timeout=30
        )
        floor_exporter.shutdown()  # type: ignore[no-untyped-call]
        moxn.shutdown()
        per_event_exporter.shutdown()

    print(
        f"ingest: {args.spans} spans into moxtrace serve (SQLite, committed), "
        f"{len(template.attributes or {})} attributes + content per span, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    print(f"  floor: OTLPSpanExporter -> discarding sink        {floor:10.0f} spans/s")
    print(f"  MoxnSpanExporter -> discarding sink (client cost) {client_side:10.0f} spans/s")
    print(f"  MoxnSpanExporter -> moxtrace serve (batched)      {batched:10.0f} spans/s")
    print(f"  MoxnSpanExporter, one event per request           {per_event:10.0f} spans/s")
    print(
        f"  exporter stats: exported={stats.exported} retried={stats.retried} "
        f"dropped={stats.dropped}; GET /traces -> HTTP {stored.status_code}"
    )
    print(
        f"  per-round ratios: {' '.join(f'{r:.2f}' for r in ratios)} "
        f"(median {statistics.median(ratios):.2f})"
    )
    print(f"RATIO moxn/floor = {batched / floor:.2f} (goal >= 0.50)")
    print(f"SPEEDUP batched/per-event = {batched / per_event:.1f}x (goal >= 20x)")
    print(f"SERVER peak RSS = {rss:.0f} MB after {args.spans} spans (goal < 300 MB)")


if __name__ == "__main__":
    main()
