"""MoxnSpanExporter against the real ``moxtrace serve`` on 127.0.0.1.

Round trip (parentage, attributes, content, the signed-URL route), 413 splitting, a 429
storm with ``Retry-After``, and the fault tests: the server SIGKILLed in the middle of
exporting 20,000 spans and restarted, with the spool (every span stored exactly once) and
without it (the dropped count equals what is missing). The docs' examples run here too.

Servers come from tests/support/server.py (the ``moxtrace_server_factory`` and
``shared_moxtrace_server`` fixtures): the round trip runs on SQLite and PostgreSQL; tests
that need options (body limit, rate limit) or a kill get a server of their own.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from moxtrace import PromptSession, Provider, Settings, SyncMoxnClient
from moxtrace.exporters import MoxnSpanExporter, RetryPolicy
from tests.support.procs import REPO_ROOT
from tests.support.server import MoxtraceServer, poll
from tests.unit.exporters.factories import ANTHROPIC_RESPONSE, make_prompt, readable_span

pytestmark = pytest.mark.integration

ServerFactory = Callable[..., MoxtraceServer]


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MOXN_") or name.startswith("OTEL_EXPORTER_OTLP"):
            monkeypatch.delenv(name)


def trace_of(server: MoxtraceServer, trace_id: str) -> dict[str, Any] | None:
    """``GET /traces/{trace_id}``'s data, or None for an unknown trace."""
    with server.client() as http:
        response = http.get(f"/traces/{trace_id}", timeout=60)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text[:500]
    data: dict[str, Any] = response.json()["data"]
    return data


def span_ids(server: MoxtraceServer, trace_id: str) -> list[str]:
    """Every stored span of a trace (a span stored twice would appear twice)."""
    trace = trace_of(server, trace_id)
    return [span["span_id"] for span in trace["spans"]] if trace else []


def hex_ids(span: Any) -> tuple[str, str]:
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


# -- round trip ----------------------------------------------------------------------------


def test_spans_and_llm_events_arrive_with_parentage_attributes_and_content(
    shared_moxtrace_server: MoxtraceServer,
) -> None:
    server = shared_moxtrace_server
    client = SyncMoxnClient(api_key=server.api_key, base_url=server.base_url)
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
    trace = trace_of(server, trace_id)
    assert trace is not None
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


def test_export_is_idempotent_on_the_server(shared_moxtrace_server: MoxtraceServer) -> None:
    server = shared_moxtrace_server
    exporter = MoxnSpanExporter(server.api_key, server.base_url)
    trace_id = uuid.uuid4().int
    spans = [readable_span(i, trace_id=trace_id) for i in range(5)]
    exporter.export(spans)
    exporter.export(spans)  # a replay: new batch key, same events
    exporter.shutdown()
    assert exporter.stats.exported == 10
    assert sorted(span_ids(server, format(trace_id, "032x"))) == sorted(
        format(0x1000 + i, "016x") for i in range(5)
    )


# -- 413 -------------------------------------------------------------------------------------


def test_a_batch_over_the_body_limit_is_split_and_one_event_too_large_is_dropped(
    moxtrace_server_factory: ServerFactory,
) -> None:
    srv = moxtrace_server_factory(max_body_bytes=32768)
    exporter = MoxnSpanExporter(srv.api_key, srv.base_url)
    trace_id = 0x413
    content = '[{"role":"user","parts":[{"type":"text","content":"' + "y" * 2000 + '"}]}]'
    spans = [readable_span(i, trace_id=trace_id, content=content) for i in range(60)]
    huge = readable_span(99, trace_id=trace_id, extra={"moxn.metadata.blob": "z" * 40_000})
    exporter.export([*spans[:30], huge, *spans[30:]])
    stats = exporter.stats
    exporter.shutdown()

    assert (stats.exported, stats.dropped, stats.retried) == (60, 1, 0)
    stored = span_ids(srv, format(trace_id, "032x"))
    assert sorted(stored) == sorted(format(0x1000 + i, "016x") for i in range(60))
    trace = trace_of(srv, format(trace_id, "032x"))
    assert trace is not None
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


def test_a_429_storm_is_ridden_out_honouring_retry_after(
    moxtrace_server_factory: ServerFactory,
) -> None:
    srv = moxtrace_server_factory(rate_limit=8, rate_limit_burst=2)
    transports = [Recording() for _ in range(3)]
    exporters = [
        MoxnSpanExporter(srv.api_key, srv.base_url, transport=t, deadline=60) for t in transports
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
    stored = span_ids(srv, format(0x429, "032x"))
    assert len(stored) == len(set(stored)) == 150


# -- the fault tests ---------------------------------------------------------------------

SPANS = 20_000
TRACES = 20


def fault_client(srv: MoxtraceServer, **kwargs: Any) -> SyncMoxnClient:
    settings = Settings(
        bsp_max_queue_size=SPANS + 1000,
        bsp_schedule_delay_ms=20,
        export_deadline=2.0,
        spool_replay_interval=0.2,
        shutdown_timeout=60,
    )
    return SyncMoxnClient(api_key=srv.api_key, base_url=srv.base_url, settings=settings, **kwargs)


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


def stored_spans(srv: MoxtraceServer, trace_ids: list[str]) -> list[str]:
    return [span for trace_id in trace_ids for span in span_ids(srv, trace_id)]


def test_server_killed_mid_export_with_spool_every_span_stored_exactly_once(
    moxtrace_server_factory: ServerFactory, tmp_path: Path
) -> None:
    srv = moxtrace_server_factory()
    client = fault_client(srv, spool_dir=tmp_path / "spool")
    trace_ids = make_spans(client)
    poll(lambda: client.export_stats().exported >= 2000, timeout=60, what="first batches stored")
    srv.kill()  # SIGKILL in the middle of exporting: batches in flight are cut
    poll(lambda: client.export_stats().spooled > 0, timeout=60, what="batches spooled")
    srv.start()

    def drained() -> bool:
        s = client.export_stats()
        return s.queued == 0 and s.in_spool == 0

    poll(drained, timeout=120, what="queue and spool drained after the restart")
    stats = client.export_stats()
    client.close()

    assert stats.dropped == 0
    assert stats.spooled > 0
    assert stats.exported >= SPANS  # at least once...
    stored = stored_spans(srv, trace_ids)
    assert len(stored) == SPANS  # ...stored exactly once
    assert len(set(stored)) == SPANS


class KillBeforeRequest(httpx.HTTPTransport):
    """Kills the server just before the n-th request goes out (so none is in flight)."""

    def __init__(self, srv: MoxtraceServer, n: int) -> None:
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
    moxtrace_server_factory: ServerFactory,
) -> None:
    srv = moxtrace_server_factory()
    settings = Settings(bsp_max_queue_size=SPANS + 1000, bsp_schedule_delay_ms=20)
    exporter = MoxnSpanExporter(
        srv.api_key,
        srv.base_url,
        deadline=1.0,
        retry_policy=RetryPolicy(initial_backoff=0.05, max_backoff=0.2),
        transport=KillBeforeRequest(srv, n=8),
    )
    client = SyncMoxnClient(settings=settings, span_exporters=[exporter])
    trace_ids = make_spans(client)
    poll(lambda: client.export_stats().dropped >= 1024, timeout=60, what="batches dropped")
    srv.start()
    poll(lambda: client.export_stats().queued == 0, timeout=120, what="the queue drained")
    stats = client.export_stats()
    client.close()

    stored = stored_spans(srv, trace_ids)
    assert len(stored) == len(set(stored))
    missing = SPANS - len(stored)
    assert missing > 0
    assert stats.dropped == missing
    assert stats.exported == len(stored)


# -- the docs ----------------------------------------------------------------------------


def test_docs_examples_run(
    moxtrace_server: MoxtraceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOXN_BASE_URL", moxtrace_server.base_url)
    monkeypatch.setenv("MOXN_API_KEY", moxtrace_server.api_key)
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
