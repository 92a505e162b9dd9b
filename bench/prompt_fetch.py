"""µs per prompt read (cached commit, and branch over loopback), and per session render.

Starts ``moxtrace serve`` on 127.0.0.1 in a temporary directory, creates a task with a
two-message prompt and commits it, then measures with ``SyncMoxnClient`` and ``MoxnClient``:

- a cached commit read: ``get_prompt(id, commit_id=...)`` after the first read, which makes
  no request and returns a fresh copy (goal < 5 µs); its floor is a bare OpenTelemetry span
  (start and end through a batch processor into a discarding exporter), measured here;
- a branch read: ``get_prompt(id, branch_name="main")``, one HTTP round trip to the
  server, which reads and renders the branch's working state; its floor is a bare
  ``httpx`` GET of ``/health`` on the same connection pool;
- rendering a session and building an invocation: ``PromptSession(prompt, data)`` then
  ``to_anthropic_invocation()`` ("n/a" if this build has no invocation builders).

Each figure is the best of several rounds (15 by default: the machine is shared). Run:

    python bench/prompt_fetch.py [--iterations N] [--branch-iterations M] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from moxtrace import MoxnClient, PromptSession, Settings, SyncMoxnClient
from moxtrace.types import MessageData, MessageRole, TextContent, Variable

REPO = Path(__file__).resolve().parents[1]


class Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOXN_", "OTEL_"))}
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moxtrace.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"moxtrace serve exited; see {data_dir / 'server.log'}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    else:
        proc.kill()
        raise SystemExit("moxtrace serve did not start within 60 s")
    key_file = data_dir / "dev-api-key"
    while not key_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc, url, key_file.read_text().strip()


def best_us(fn: Callable[[], Any], iterations: int, rounds: int) -> float:
    """Best-of-rounds mean µs per call."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        best = min(best, (time.perf_counter() - start) / iterations * 1e6)
    return best


def bare_span_us(iterations: int, rounds: int) -> float:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    tracer = provider.get_tracer("floor")

    def one() -> None:
        with tracer.start_as_current_span("floor", attributes={"a": 1}):
            pass

    try:
        return best_us(one, iterations, rounds)
    finally:
        provider.shutdown()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10000)
    parser.add_argument("--branch-iterations", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="moxtrace-bench-") as tmp:
        proc, url, key = start_server(Path(tmp))
        try:
            run(url, key, args)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def run(url: str, key: str, args: argparse.Namespace) -> None:
    settings = Settings(api_key=key, base_url=url, export=False)
    client = SyncMoxnClient(settings=settings)
    task = client.create_task("Bench")
    prompt = client.create_prompt(
        task.id,
        "Support answer",
        [
            MessageData(
                name="System",
                role=MessageRole.SYSTEM,
                blocks=[[TextContent(text="You are a helpful support agent.")]],
            ),
            MessageData(
                name="Question",
                role=MessageRole.USER,
                blocks=[[TextContent(text="Question: "), Variable(name="query")]],
            ),
        ],
        completion_config={"provider": "anthropic", "model": "claude-sonnet-4", "max_tokens": 1024},
    )
    commit = client.commit(task.id, "main", "bench")
    client.get_prompt(prompt.id, commit_id=commit.id)  # fills the cache

    floor_span = bare_span_us(args.iterations // 4, args.rounds)
    cached = best_us(
        lambda: client.get_prompt(prompt.id, commit_id=commit.id), args.iterations, args.rounds
    )

    async def cached_async(aclient: MoxnClient) -> float:
        await aclient.get_prompt(prompt.id, commit_id=commit.id)
        best = float("inf")
        for _ in range(args.rounds):
            start = time.perf_counter()
            for _ in range(args.iterations):
                await aclient.get_prompt(prompt.id, commit_id=commit.id)
            best = min(best, (time.perf_counter() - start) / args.iterations * 1e6)
        return best

    async def branch_async(aclient: MoxnClient) -> float:
        best = float("inf")
        for _ in range(args.rounds):
            start = time.perf_counter()
            for _ in range(args.branch_iterations):
                await aclient.get_prompt(prompt.id, branch_name="main")
            best = min(best, (time.perf_counter() - start) / args.branch_iterations * 1e6)
        return best

    async def async_figures() -> tuple[float, float]:
        async with MoxnClient(settings=settings) as aclient:
            return await cached_async(aclient), await branch_async(aclient)

    cached_a, branch_a = asyncio.run(async_figures())

    http = client._http()
    health = f"{url}/health"
    floor_get = best_us(lambda: http.get(health), args.branch_iterations, args.rounds)
    branch = best_us(
        lambda: client.get_prompt(prompt.id, branch_name="main"),
        args.branch_iterations,
        args.rounds,
    )

    session_figure = "n/a"
    branch_prompt = client.get_prompt(prompt.id, branch_name="main")
    data = {"query": "Where is my order?"}
    if hasattr(PromptSession, "to_anthropic_invocation"):

        def render() -> None:
            PromptSession(branch_prompt, data).to_anthropic_invocation()

        session_figure = f"{best_us(render, args.iterations // 10, args.rounds):.1f} µs"
    client.close()

    print(f"prompt fetch, loopback server at {url} (best of {args.rounds} rounds)")
    print(
        f"  cached commit read (sync)   {cached:8.2f} µs   goal < 5 µs   "
        f"{cached / floor_span:.2f}x a bare OTel span ({floor_span:.1f} µs)"
    )
    print(f"  cached commit read (async)  {cached_a:8.2f} µs")
    print(
        f"  branch read (sync)          {branch:8.1f} µs   "
        f"{branch / floor_get:.2f}x a bare httpx GET /health ({floor_get:.1f} µs)"
    )
    print(f"  branch read (async)         {branch_a:8.1f} µs")
    print(f"  render session + Anthropic invocation   {session_figure}")


if __name__ == "__main__":
    main()
