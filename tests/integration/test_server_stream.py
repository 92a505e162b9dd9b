"""The live tail: ``GET /traces/stream`` (server-sent events) and ``moxtrace tail``."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from moxtrace.server.tail import SseEvent, parse_sse
from tests.support.server import MoxtraceServer, new_span_id, new_trace_id, span_events

pytestmark = pytest.mark.integration


@pytest.fixture
def server(shared_moxtrace_server: MoxtraceServer) -> MoxtraceServer:
    return shared_moxtrace_server


class Tail:
    """A subscriber reading the stream; ``next_event`` returns the next SSE with a deadline."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._events = (e for e in parse_sse(lines) if e is not None)

    def next_event(self, name: str) -> SseEvent:
        for event in self._events:
            if event.event == name:
                return event
        raise AssertionError(f"the stream ended before an {name!r} event")

    def spans_of(self, trace_id: str) -> dict[str, Any]:
        while True:
            data: dict[str, Any] = json.loads(self.next_event("spans").data)
            if data["trace_id"] == trace_id:
                return data


def subscribe(server: MoxtraceServer, key: str) -> Iterator[Tail]:
    # The read timeout bounds every wait: a missing event fails the test, never hangs it.
    with httpx.Client(base_url=server.base_url, timeout=httpx.Timeout(10.0)) as client:
        with client.stream("GET", "/traces/stream", headers={"x-api-key": key}) as reply:
            assert reply.status_code == 200
            assert reply.headers["content-type"].startswith("text/event-stream")
            tail = Tail(reply.iter_lines())
            ready = json.loads(tail.next_event("ready").data)
            assert ready["tenant"] == key.split(".")[0].removeprefix("moxn_")
            yield tail


def ingest(server: MoxtraceServer, key: str, events: list[dict[str, Any]]) -> None:
    reply = httpx.post(
        f"{server.base_url}/telemetry/log-events",
        json={"events": events},
        headers={"x-api-key": key},
    )
    assert reply.status_code == 200, reply.text


def test_a_subscriber_receives_spans_stored_after_it_subscribed(server: MoxtraceServer) -> None:
    trace_id, root = new_trace_id(), new_span_id()
    child = new_span_id()
    events = span_events(trace_id, root, name="request") + span_events(
        trace_id,
        child,
        parent_span_id=root,
        name="chat",
        llm={
            "provider": "openai",
            "response_model": "gpt-5",
            "usage": {"input_tokens": 3, "output_tokens": 4},
        },
        status="ERROR",
        status_message="rate limited",
    )
    for tail in subscribe(server, server.api_key):
        ingest(server, server.api_key, events)
        data = tail.spans_of(trace_id)

    spans = {s["span_id"]: s for s in data["spans"]}
    assert set(spans) == {root, child}
    assert spans[root]["parent_span_id"] is None and spans[root]["name"] == "request"
    assert spans[child]["parent_span_id"] == root
    assert spans[child]["model"] == "gpt-5"
    assert spans[child]["input_tokens"] == 3 and spans[child]["output_tokens"] == 4
    assert spans[child]["status_code"] == "ERROR"
    assert spans[child]["status_message"] == "rate limited"
    assert spans[root]["end_time"] is not None


def test_a_subscriber_sees_only_its_own_tenant(server: MoxtraceServer) -> None:
    other_key = server.create_key("stream-other")
    secret_trace, marker_trace = new_trace_id(), new_trace_id()
    for tail in subscribe(server, other_key):
        ingest(server, server.api_key, span_events(secret_trace, new_span_id()))
        ingest(server, other_key, span_events(marker_trace, new_span_id()))
        # Batches are announced in commit order: the dev tenant's came first, if at all.
        first = json.loads(tail.next_event("spans").data)
    assert first["trace_id"] == marker_trace


def test_the_stream_needs_a_key(server: MoxtraceServer) -> None:
    reply = httpx.get(f"{server.base_url}/traces/stream")
    assert reply.status_code == 401


def read_lines(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line.rstrip("\n"))


def wait_for_line(lines: queue.Queue[str], predicate: Any, timeout: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("no such line; got:\n" + "\n".join(seen))
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        seen.append(line)
        if predicate(line):
            return seen


def test_moxtrace_tail_draws_a_finished_trace_as_a_tree(server: MoxtraceServer) -> None:
    trace_id, root, chat, tool = new_trace_id(), new_span_id(), new_span_id(), new_span_id()
    events = (
        span_events(
            trace_id,
            chat,
            parent_span_id=root,
            name="chat",
            start=1_700_000_000.1,
            duration=0.98,
            llm={
                "provider": "anthropic",
                "response_model": "claude-sonnet-4",
                "usage": {"input_tokens": 120, "output_tokens": 48},
            },
        )
        + span_events(
            trace_id,
            tool,
            parent_span_id=chat,
            name="lookup",
            start=1_700_000_000.2,
            duration=0.012,
            status="ERROR",
            status_message="timeout",
        )
        + span_events(trace_id, root, name="handle_request", duration=1.234)
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moxtrace.cli",
            "tail",
            "--base-url",
            server.base_url,
            "--api-key",
            server.api_key,
            "--max-traces",
            "1",
            "--no-color",
            "--ascii",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=read_lines, args=(proc, lines), daemon=True)
    reader.start()
    try:
        wait_for_line(lines, lambda line: line.startswith("moxtrace tail: following"), 30)
        ingest(server, server.api_key, events)
        assert proc.wait(timeout=30) == 0
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    output: list[str] = []
    while not lines.empty():
        output.append(lines.get())
    drawing = output[next(i for i, line in enumerate(output) if line.startswith("trace ")) :]
    assert drawing[0].startswith(f"trace {trace_id}  test-service  1.23 s  3 spans")
    assert "1 LLM call 120->48 tok" in drawing[0]
    assert "x 1 error" in drawing[0]
    assert drawing[1:] == [
        "`- handle_request  1.23 s",
        "   `- chat  980.0 ms  claude-sonnet-4  120->48 tok",
        "      `- lookup  12.0 ms",
        "         x ERROR  timeout",
    ]
