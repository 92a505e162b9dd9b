"""MoxnSpanExporter against the real ``moxtrace serve`` on 127.0.0.1.

Round trip (parentage, attributes, content, the signed-URL route), 413 splitting, a 429
storm with ``Retry-After``, and the fault tests: the server SIGKILLed in the middle of
exporting 20,000 spans and restarted, with the spool (every span stored exactly once) and
without it (the dropped count equals what is missing). The docs' examples run here too.

Each test that needs special server options (body limit, rate limit, a kill) starts its
own server process; the others share one.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from moxtrace import PromptSession, Provider, Settings, SyncMoxnClient
from moxtrace.exporters import MoxnSpanExporter, RetryPolicy
from tests.support.ports import LOOPBACK, free_port
from tests.support.procs import REPO_ROOT, start_process, stop_process, wait_until_ready
from tests.unit.exporters.factories import ANTHROPIC_RESPONSE, make_prompt, readable_span

pytestmark = pytest.mark.integration


# -- the server --------------------------------------------------------------------------


@dataclass
class Server:
    """One ``moxtrace serve`` process, which a test may kill and start again."""

    data_dir: Path
    args: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def api_key(self) -> str:
        return (self.data_dir / "dev-api-key").read_text().strip()

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "moxtrace.cli", "serve", "--port", str(self.port)]
        argv += ["--data-dir", str(self.data_dir), *self.args]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MOXN_", "OTEL_"))}
        self.proc = start_process(argv, log_path=self.log_path, env=env, cwd=REPO_ROOT)
        wait_until_ready(
            self.proc, self.healthy, timeout=60, what="moxtrace serve", log_path=self.log_path
        )

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL by pid: no shutdown, no flush, whatever was in flight is cut."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=15)

    def trace(self, trace_id: str) -> dict[str, Any]:
        response = httpx.get(
            f"{self.url}/traces/{trace_id}", headers={"x-api-key": self.api_key}, timeout=60
        )
        assert response.status_code == 200, response.text[:500]
        data: dict[str, Any] = response.json()["data"]
        return data

    def span_ids(self, trace_id: str) -> list[str]:
        """Every stored span of a trace (a span stored twice would appear twice)."""
        response = httpx.get(
            f"{self.url}/traces/{trace_id}", headers={"x-api-key": self.api_key}, timeout=60
        )
        if response.status_code == 404:
            return []
        assert response.status_code == 200, response.text[:500]
        return [span["span_id"] for span in response.json()["data"]["spans"]]


@contextlib.contextmanager
def running_server(data_dir: Path, *args: str) -> Iterator[Server]:
    server = Server(data_dir, args)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with default options, shared by the tests of this module."""
    with running_server(tmp_path_factory.mktemp("moxtrace-serve")) as s:
        yield s


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MOXN_") or name.startswith("OTEL_EXPORTER_OTLP"):
            monkeypatch.delenv(name)


def poll(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.02)


def hex_ids(span: Any) -> tuple[str, str]:
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


# -- round trip ----------------------------------------------------------------------------


def test_spans_and_llm_events_arrive_with_parentage_attributes_and_content(
    server: Server,
) -> None:
    client = SyncMoxnClient(api_key=server.api_key, base_url=server.url)
    session = PromptSession(make_prompt(), {"query": "Where is my order?"})
    big = PromptSession(make_prompt(), {"query": "x" * 20_000})  # content over 10 KB
    with client.span(session, name="handle", metadata={"customer_id": "c1"}) as root:
        client.log_telemetry_event_from_response(session, ANTHROPIC_RESPONSE, Provider.ANTHROPIC)
        with client.span(session, name="retrieve") as child:
            # The second call of a span gets a CLIENT span of its own.
            client.log_telemetry_event_from_response(
                session, ANTHROPIC_RESPONSE, Provider.ANTHROPIC
            )
            client.log_telemetry_event_from_response(big, ANTHROPIC_RESPONSE, Provider.ANTHROPIC)
        with pytest.raises(ValueError, match="bad"), client.span(session, name="validate"):
            raise ValueError("bad answer")
    assert client.flush(30).complete
    stats = client.export_stats()
    assert (stats.exported, stats.dropped, stats.retried) == (4, 0, 0)
    client.close()

    trace_id, root_id = hex_ids(root)
    _, child_id = hex_ids(child)
    trace = server.trace(trace_id)
    spans = {s["name"]: s for s in trace["spans"]}
    assert set(spans) == {"handle", "retrieve", "validate", "chat claude-sonnet-4"}
    assert trace["root_span_id"] == root_id
    assert spans["handle"]["parent_span_id"] is None
    assert spans["retrieve"]["parent_span_id"] == root_id
    assert spans["validate"]["parent_span_id"] == root_id
    assert spans["chat claude-sonnet-4"]["parent_span_id"] == child_id

    handle = spans["handle"]
    prompt = session.prompt
    assert handle["prompt_id"] == str(prompt.id)
    assert handle["task_id"] == str(prompt.task_id)
    assert handle["branch_id"] == str(prompt.branch_id)
    assert handle["session_id"] == str(session.id)
    assert handle["metadata"] == {"customer_id": "c1"}
    assert handle["attributes"]["gen_ai.request.model"] == "claude-sonnet-4"
    assert handle["attributes"]["gen_ai.usage.input_tokens"] == 120
    assert handle["scope"]["name"] == "moxtrace"
    (call,) = handle["llm_calls"]
    assert call["provider"] == "anthropic"
    assert call["usage"]["cache_read_input_tokens"] == 100
    assert call["content"]["input_messages"] == [
        {"role": "user", "parts": [{"type": "text", "content": "Question: Where is my order?"}]}
    ]
    assert call["content"]["output_messages"][0]["parts"][1]["name"] == "lookup"

    # Over 10 KB: stored through the signed URL, and the round trip gives it back whole.
    (large,) = spans["chat claude-sonnet-4"]["llm_calls"]
    assert large["content_storage_key"]
    text = large["content"]["input_messages"][0]["parts"][0]["content"]
    assert text == "Question: " + "x" * 20_000

    validate = spans["validate"]
    assert validate["status"] == {"code": "ERROR", "message": "ValueError: bad answer"}
    assert [e["name"] for e in validate["events"]] == ["exception"]
    assert trace["error_count"] == 1


def test_export_is_idempotent_on_the_server(server: Server) -> None:
    exporter = MoxnSpanExporter(server.api_key, server.url)
    spans = [readable_span(i, trace_id=0xA11CE) for i in range(5)]
    exporter.export(spans)
    exporter.export(spans)  # a replay: new batch key, same events
    exporter.shutdown()
    assert sorted(server.span_ids(format(0xA11CE, "032x"))) == sorted(
        format(0x1000 + i, "016x") for i in range(5)
    )


# -- 413 -------------------------------------------------------------------------------------


def test_a_batch_over_the_body_limit_is_split_and_one_event_too_large_is_dropped(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path, "--max-body-bytes", "32768") as srv:
        exporter = MoxnSpanExporter(srv.api_key, srv.url)
        trace_id = 0x413
        content = '[{"role":"user","parts":[{"type":"text","content":"' + "y" * 2000 + '"}]}]'
        spans = [readable_span(i, trace_id=trace_id, content=content) for i in range(60)]
        huge = readable_span(99, trace_id=trace_id, extra={"moxn.metadata.blob": "z" * 40_000})
        exporter.export([*spans[:30], huge, *spans[30:]])
        stats = exporter.stats
        exporter.shutdown()

        assert (stats.exported, stats.dropped, stats.retried) == (60, 1, 0)
        stored = srv.span_ids(format(trace_id, "032x"))
        assert sorted(stored) == sorted(format(0x1000 + i, "016x") for i in range(60))
        trace = srv.trace(format(trace_id, "032x"))
        assert all(len(s["llm_calls"]) == 1 for s in trace["spans"])


# -- 429 -------------------------------------------------------------------------------------


class Recording(httpx.HTTPTransport):
    """The real transport, noting when each attempt of each batch went and how it ended."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.attempts: list[tuple[str, float, float, int, float | None]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        sent = time.monotonic()
        response = super().handle_request(request)
        retry_after = response.headers.get("retry-after")
        with self.lock:
            self.attempts.append(
                (
                    request.headers["x-moxn-idempotency-key"],
                    sent,
                    time.monotonic(),
                    response.status_code,
                    float(retry_after) if retry_after else None,
                )
            )
        return response


def test_a_429_storm_is_ridden_out_honouring_retry_after(tmp_path: Path) -> None:
    with running_server(tmp_path, "--rate-limit", "8", "--rate-limit-burst", "2") as srv:
        transports = [Recording() for _ in range(3)]
        exporters = [
            MoxnSpanExporter(srv.api_key, srv.url, transport=t, deadline=60) for t in transports
        ]

        def send(n: int, exporter: MoxnSpanExporter) -> None:
            for b in range(5):
                first = 1000 * n + 10 * b
                spans = [readable_span(i, trace_id=0x429) for i in range(first, first + 10)]
                assert exporter.export(spans).name == "SUCCESS"

        threads = [threading.Thread(target=send, args=(n, e)) for n, e in enumerate(exporters)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        for exporter in exporters:
            exporter.shutdown()

        attempts = sorted(a for t in transports for a in t.attempts)
        limited = [a for a in attempts if a[3] == 429]
        assert limited, "the storm never happened"
        assert all(a[4] is not None and a[4] >= 1 for a in limited)
        # Every retry after a 429 came no sooner than the server asked.
        by_key: dict[str, list[tuple[str, float, float, int, float | None]]] = {}
        for attempt in attempts:
            by_key.setdefault(attempt[0], []).append(attempt)
        for tries in by_key.values():
            tries.sort(key=lambda a: a[1])
            for before, after in itertools.pairwise(tries):
                assert before[3] == 429
                assert after[1] - before[2] >= (before[4] or 0) - 0.01
            assert tries[-1][3] == 200
        stats = [e.stats for e in exporters]
        assert sum(s.exported for s in stats) == 150
        assert sum(s.dropped for s in stats) == 0
        assert sum(s.retried for s in stats) == 10 * len(limited)
        stored = srv.span_ids(format(0x429, "032x"))
        assert len(stored) == len(set(stored)) == 150


# -- the fault tests ---------------------------------------------------------------------

SPANS = 20_000
TRACES = 20


def fault_client(srv: Server, **kwargs: Any) -> SyncMoxnClient:
    settings = Settings(
        bsp_max_queue_size=SPANS + 1000,
        bsp_schedule_delay_ms=20,
        export_deadline=2.0,
        spool_replay_interval=0.2,
        shutdown_timeout=60,
    )
    return SyncMoxnClient(api_key=srv.api_key, base_url=srv.url, settings=settings, **kwargs)


def make_spans(client: SyncMoxnClient) -> list[str]:
    """20,000 spans in 20 traces (a root and 999 children each); the trace ids."""
    session = PromptSession(make_prompt(), {"query": "q"})
    tracer = client.tracing.tracer
    trace_ids = []
    for t in range(TRACES):
        with client.span(session, name=f"batch-{t}") as root:
            for i in range(SPANS // TRACES - 1):
                tracer.start_span(f"item-{i}").end()
        trace_ids.append(hex_ids(root)[0])
    return trace_ids


def stored_spans(srv: Server, trace_ids: list[str]) -> list[str]:
    return [span for trace_id in trace_ids for span in srv.span_ids(trace_id)]


def test_server_killed_mid_export_with_spool_every_span_stored_exactly_once(
    tmp_path: Path,
) -> None:
    srv = Server(tmp_path / "server")
    srv.start()
    try:
        client = fault_client(srv, spool_dir=tmp_path / "spool")
        trace_ids = make_spans(client)
        poll(lambda: client.export_stats().exported >= 2000, "the first batches stored")
        srv.kill()  # in the middle of exporting: batches in flight are cut
        poll(lambda: client.export_stats().spooled > 0, "batches spooled during the outage")
        srv.start()

        def delivered() -> bool:
            s = client.export_stats()
            return s.queued == 0 and s.in_spool == 0

        poll(delivered, "queue and spool drained after the restart", timeout=120)
        stats = client.export_stats()
        client.close()

        assert stats.dropped == 0
        assert stats.spooled > 0
        assert stats.exported >= SPANS  # at least once...
        stored = stored_spans(srv, trace_ids)
        assert len(stored) == SPANS  # ...stored exactly once
        assert len(set(stored)) == SPANS
    finally:
        srv.stop()


class KillBeforeRequest(httpx.HTTPTransport):
    """Kills the server just before the n-th request goes out (so none is in flight)."""

    def __init__(self, srv: Server, n: int) -> None:
        super().__init__()
        self.srv = srv
        self.n = n
        self.count = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        if self.count == self.n:
            self.srv.kill()
        return super().handle_request(request)


def test_server_killed_mid_export_without_spool_dropped_equals_missing(
    tmp_path: Path,
) -> None:
    srv = Server(tmp_path / "server")
    srv.start()
    try:
        settings = Settings(
            bsp_max_queue_size=SPANS + 1000,
            bsp_schedule_delay_ms=20,
            shutdown_timeout=60,
        )
        exporter = MoxnSpanExporter(
            srv.api_key,
            srv.url,
            deadline=1.0,
            retry_policy=RetryPolicy(initial_backoff=0.05, max_backoff=0.2),
            transport=KillBeforeRequest(srv, n=8),
        )
        client = SyncMoxnClient(settings=settings, span_exporters=[exporter])
        trace_ids = make_spans(client)
        poll(lambda: client.export_stats().dropped >= 1024, "batches dropped during the outage")
        srv.start()
        poll(lambda: client.export_stats().queued == 0, "the queue drained", timeout=120)
        stats = client.export_stats()
        client.close()

        stored = stored_spans(srv, trace_ids)
        assert len(stored) == len(set(stored))
        missing = SPANS - len(stored)
        assert missing > 0
        assert stats.dropped == missing
        assert stats.exported == len(stored)
    finally:
        srv.stop()


# -- the docs ----------------------------------------------------------------------------


def test_docs_examples_run(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOXN_BASE_URL", server.url)
    monkeypatch.setenv("MOXN_API_KEY", server.api_key)
    text = (REPO_ROOT / "docs" / "exporters.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "docs_exporters"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, "docs/exporters.md", "exec"), namespace)
    printed = out.getvalue()
    for expected in re.findall(r"print\(.*\)\s+# (.+)$", text, flags=re.M):
        assert expected.strip() in printed, expected
