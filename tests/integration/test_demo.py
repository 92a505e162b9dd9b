"""``moxtrace demo`` as a user runs it: a subprocess on a clean data directory.

What it prints (progress, trees, the viewer's URL), its exit code, that it leaves nothing
running, and that the traces it reports are stored with the shape it promises (read back
through ``moxtrace serve`` on the data directory it leaves behind).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.ports import free_port
from tests.support.procs import REPO_ROOT, stop_process
from tests.support.server import MoxtraceServer, poll

pytestmark = pytest.mark.integration

TRACE_LINE = re.compile(r"^trace ([0-9a-f]{32})  (\S+)", re.MULTILINE)
SERVER_LINE = re.compile(r"Started moxtrace serve \((http://127\.0\.0\.1:(\d+)), .*pid (\d+)\)")


def demo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOXN_", "OTEL_"))}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def run_demo(*args: str, timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moxtrace.cli", "demo", "--latency", "0", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd=REPO_ROOT,
        env=demo_env(),
    )


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def refuses(url: str) -> bool:
    try:
        httpx.get(f"{url}/health", timeout=2.0)
    except httpx.ConnectError:
        return True
    return False


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One ``moxtrace demo --data-dir`` run on an empty directory: (data dir, stdout)."""
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    result = run_demo("--data-dir", str(data_dir))
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return data_dir, result.stdout


@pytest.fixture(scope="module")
def stored(demo_run: tuple[Path, str]) -> Iterator[tuple[MoxtraceServer, httpx.Client]]:
    """``moxtrace serve`` on the demo's data directory, with the demo's key."""
    data_dir, _ = demo_run
    server = MoxtraceServer(data_dir)
    server.start()
    key = (data_dir / "demo-api-key").read_text().strip()
    try:
        with httpx.Client(base_url=server.base_url, headers={"x-api-key": key}, timeout=30) as http:
            yield server, http
    finally:
        server.stop()


def get(http: httpx.Client, path: str, **params: Any) -> Any:
    reply = http.get(path, params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def by_name(trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {span["name"]: span for span in trace["spans"]}


def test_demo_reports_progress_trees_and_the_viewer(demo_run: tuple[Path, str]) -> None:
    _, out = demo_run
    for step in (
        "✓ Created an API key for tenant 'demo'",
        "✓ Started moxtrace serve (http://127.0.0.1:",
        "✓ Published task 'Acme support (demo)': prompts 'triage-ticket' and 'answer-ticket' "
        "sharing the message 'Acme persona', committed",
        "✓ Started the worker (in-process queue)",
        "✓ Ticket T-1001 from Dana Whitfield (shipping, 3 LLM calls; 1 tool call;",
        "✓ Ticket T-1003 from Mei Tanaka (billing, 2 LLM calls; the model failed "
        "(OverloadedError (529 overloaded_error)): escalated;",
        "✓ The worker processed 3 jobs in the same traces",
        "✓ Read the traces back from the server (4 traces,",
    ):
        assert step in out, f"{step!r} missing from:\n{out}"
    roots = [name for _, name in TRACE_LINE.findall(out)]
    assert roots == ["publish_prompts", "handle_ticket", "handle_ticket", "handle_ticket"]
    # The trees: models, tokens, services, the worker under the producer, the error.
    # Priced by the cost plugin: per call and per trace.
    assert re.search(r"├─ triage  \S+ ms  gpt-4o-mini-2024-07-18  \d+→\d+ tok  \$0\.\d+", out)
    assert re.search(
        r"│  └─ chat claude-sonnet-4-6  \S+ ms  claude-sonnet-4-6  \d+→\d+ tok  \$0\.\d+", out
    )
    assert re.search(r"handle_ticket  \S+ ms  9 spans  3 LLM calls  \d+→\d+ tok  \$0\.\d+", out)
    assert re.search(
        r"└─ send support-replies  \S+ ms\n\s+└─ process support-replies  \[support-worker\]", out
    )
    assert "✗ ERROR  OverloadedError: Error code: 529" in out
    assert re.search(r"handle_ticket  \S+ ms  6 spans  2 LLM calls  .*  ✗ 1 error\n", out)
    assert "customer_id=cust_1001" in out
    url = SERVER_LINE.search(out)
    assert url is not None
    assert f"Trace viewer: {url.group(1)}/ui/" in out
    # Nothing left running: the server answered during the run and is gone now.
    assert gone(int(url.group(3)))
    assert refuses(url.group(1))


def test_demo_traces_are_stored_with_the_shape_it_reports(
    demo_run: tuple[Path, str], stored: tuple[MoxtraceServer, httpx.Client]
) -> None:
    _, out = demo_run
    _, http = stored
    reported = [trace_id for trace_id, _ in TRACE_LINE.findall(out)]
    listed = get(http, "/traces", limit=100)["traces"]
    assert sorted(t["trace_id"] for t in listed) == sorted(reported)

    setup, *tickets = (get(http, f"/traces/{trace_id}") for trace_id in reported)
    assert [s["name"] for s in setup["spans"]] == [
        "publish_prompts",
        "POST /tasks",
        "POST /prompts",
        "POST /prompts",
        "POST /tasks/{task_id}/commits",
        "GET /tasks/{task_id}",
    ]
    for trace in tickets:
        spans = by_name(trace)
        assert trace["roots"] == [spans["handle_ticket"]["span_id"]]
        root = spans["handle_ticket"]
        assert root["service_name"] == "support-api"
        assert set(root["metadata"]) == {"customer_id", "ticket_id", "channel", "plan"}
        triage = spans["triage"]
        assert triage["parent_span_id"] == root["span_id"]
        assert triage["prompt_name"] == "triage-ticket" and triage["commit_id"]
        (call,) = triage["llm_calls"]
        assert call["provider"] == "openai"
        assert call["response_model"] == "gpt-4o-mini-2024-07-18"
        assert call["usage"]["input_tokens"] > 0 and call["usage"]["output_tokens"] > 0
        assert triage["attributes"]["moxn.llm.cost.usd"] > 0
        assert call["content"]["input_messages"][0]["role"] == "user"
        # The worker (another service) continues the trace under the producer's span.
        producer, consumer = spans["send support-replies"], spans["process support-replies"]
        assert producer["kind"] == "producer"
        assert producer["parent_span_id"] == root["span_id"]
        assert consumer["parent_span_id"] == producer["span_id"]
        assert consumer["service_name"] == "support-worker"
        assert consumer["prompt_name"] == "triage-ticket"  # the identity travelled too
        assert consumer["children"]

    ordered = {by_name(t)["handle_ticket"]["metadata"]["ticket_id"]: t for t in tickets}
    # T-1001: a tool call, then a second call that sees the tool's result.
    spans = by_name(ordered["T-1001"])
    answer = spans["answer_ticket"]
    assert answer["prompt_name"] == "answer-ticket"
    first = answer["llm_calls"][0]
    assert first["finish_reasons"] == ["tool_call"] and first["tool_call_count"] == 1
    output = first["content"]["output_messages"][0]["parts"]
    assert [p["type"] for p in output] == ["reasoning", "text", "tool_call"]
    assert spans["tool lookup_order"]["parent_span_id"] == answer["span_id"]
    second = spans["chat claude-sonnet-4-6"]
    assert second["parent_span_id"] == answer["span_id"]
    assert second["duration_ms"] > 0
    conversation = second["llm_calls"][0]["content"]["input_messages"]
    assert [m["role"] for m in conversation] == ["user", "assistant", "tool"]
    assert conversation[2]["parts"][0]["type"] == "tool_call_response"
    # T-1002: answered at once.
    assert by_name(ordered["T-1002"])["answer_ticket"]["llm_calls"][0]["finish_reasons"] == ["stop"]
    # T-1003: the provider failed; the call is recorded, the span failed, a human is paged.
    failed = ordered["T-1003"]
    assert failed["error_count"] == 1
    spans = by_name(failed)
    answer = spans["answer_ticket"]
    assert answer["status"]["code"] == "ERROR"
    assert answer["status"]["message"].startswith("OverloadedError: Error code: 529")
    assert answer["llm_calls"][0]["finish_reasons"] == ["error"]
    assert [e["name"] for e in answer["events"]] == ["exception"]
    assert "page_on_call" in spans


def test_demo_prompts_share_a_message_in_a_commit(
    stored: tuple[MoxtraceServer, httpx.Client], demo_run: tuple[Path, str]
) -> None:
    _, http = stored
    trace_id = TRACE_LINE.findall(demo_run[1])[1][0]
    spans = by_name(get(http, f"/traces/{trace_id}"))
    commit = spans["triage"]["commit_id"]
    triage = get(http, f"/prompts/{spans['triage']['prompt_id']}", commit_id=commit)
    answer = get(http, f"/prompts/{spans['answer_ticket']['prompt_id']}", commit_id=commit)
    assert triage["messages"][0]["id"] == answer["messages"][0]["id"]
    assert triage["messages"][0]["name"] == "Acme persona"
    assert answer["tools"][0]["name"] == "lookup_order"
    assert get(http, f"/tasks/{triage['task_id']}", commit_id=commit)["name"] == (
        "Acme support (demo)"
    )


def test_demo_through_kafka(kafka_broker: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = run_demo("--kafka", kafka_broker, "--data-dir", str(data_dir))
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    topic = re.search(
        r"Started the worker \(Kafka topic (support-replies-[0-9a-f]+) on ", result.stdout
    )
    assert topic is not None, result.stdout
    assert re.search(
        rf"└─ send {topic.group(1)}  \S+ ms\n\s+└─ process {topic.group(1)}  \[support-worker\]",
        result.stdout,
    ), result.stdout
    trace_id = TRACE_LINE.findall(result.stdout)[1][0]
    server = MoxtraceServer(data_dir)
    server.start()
    try:
        key = (data_dir / "demo-api-key").read_text().strip()
        with httpx.Client(base_url=server.base_url, headers={"x-api-key": key}) as http:
            spans = by_name(get(http, f"/traces/{trace_id}"))
    finally:
        server.stop()
    producer, consumer = spans[f"send {topic.group(1)}"], spans[f"process {topic.group(1)}"]
    assert producer["attributes"]["messaging.system"] == "kafka"
    assert consumer["kind"] == "consumer"
    assert consumer["parent_span_id"] == producer["span_id"]
    assert consumer["attributes"]["messaging.consumer.group.name"] == "moxtrace-demo-worker"
    assert consumer["service_name"] == "support-worker"


def test_demo_fails_clearly_and_cleans_up(tmp_path: Path) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    result = run_demo("--kafka", nobody, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "✗ Started the worker (Kafka topic support-replies-" in result.stdout
    assert 'moxtrace demo: failed at step "Started the worker' in result.stderr
    assert f"no Kafka broker answers at {nobody}" in result.stderr
    started = SERVER_LINE.search(result.stdout)
    assert started is not None
    assert gone(int(started.group(3)))
    assert refuses(started.group(1))
    data_dir = re.search(r"SQLite in temporary data dir (\S+),", result.stdout)
    assert data_dir is not None and not Path(data_dir.group(1)).exists()


def test_demo_keep_running_serves_the_viewer_until_ctrl_c(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moxtrace.cli", "demo", "--latency", "0", "--keep-running"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            env=demo_env(),
        )
    try:

        def ready() -> str | None:
            assert proc.poll() is None, log.read_text()
            text = log.read_text(encoding="utf-8")
            return text if "press Ctrl-C to stop it" in text else None

        text = poll(ready, timeout=120, what="moxtrace demo --keep-running", interval=0.1)
        started = SERVER_LINE.search(text)
        assert started is not None
        url, pid = started.group(1), int(started.group(3))
        key = re.search(r"API key: (moxn_demo\.\S+)", text)
        assert key is not None
        page = httpx.get(f"{url}/ui/")
        assert page.status_code == 200 and "moxtrace" in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        traces = httpx.get(f"{url}/traces", headers={"x-api-key": key.group(1)}).json()
        assert len(traces["data"]["traces"]) == 4
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        stop_process(proc, first_signal=signal.SIGTERM, timeout=20)
    assert "Stopping the server." in log.read_text(encoding="utf-8")
    assert gone(pid)
    assert refuses(url)
