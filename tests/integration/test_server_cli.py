"""The ``moxtrace`` command: help texts, ``serve`` start-up and shutdown, ``keys``, durability."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.procs import start_process, stop_process, wait_until_ready
from tests.support.server import (
    MoxtraceServer,
    new_span_id,
    new_trace_id,
    poll,
    run_cli,
    span_events,
)

pytestmark = pytest.mark.integration

Factory = Callable[..., MoxtraceServer]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moxtrace.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--help"], ["serve", "keys", "tail"]),
        (
            ["serve", "--help"],
            [
                "--data-dir",
                "--database-url",
                "--max-body-bytes",
                "--rate-limit",
                "MOXN_SERVER_RATE_LIMIT",
                "--max-queued",
                "SIGTERM",
            ],
        ),
        (["keys", "--help"], ["create", "list", "revoke"]),
        (["keys", "create", "--help"], ["--tenant", "--database-url"]),
        (["tail", "--help"], ["--base-url", "MOXN_API_KEY", "--max-traces"]),
    ],
)
def test_help_texts(args: list[str], expected: list[str]) -> None:
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    for word in expected:
        assert word in result.stdout, (word, result.stdout)


def test_bad_options_fail_with_a_message(tmp_path: Path) -> None:
    bad_value = cli("serve", "--data-dir", str(tmp_path), "--max-body-bytes", "12")
    bad_tenant = cli("keys", "create", "--tenant", "no spaces", "--data-dir", str(tmp_path))
    no_db = cli(
        "serve",
        "--data-dir",
        str(tmp_path),
        "--port",
        "0",
        "--database-url",
        "postgresql+asyncpg://nobody@127.0.0.1:1/none",
    )

    assert bad_value.returncode == 2
    assert "max_body_bytes" in bad_value.stderr
    assert bad_tenant.returncode == 2
    assert "invalid tenant" in bad_tenant.stderr
    assert no_db.returncode == 3


def test_first_start_prints_the_dev_key_and_where_it_listens(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log = tmp_path / "serve.log"

    def start() -> subprocess.Popen[bytes]:
        return start_process(
            [sys.executable, "-m", "moxtrace.cli", "serve", "--port", "0", "--data-dir", str(data)],
            log_path=log,
        )

    def listening() -> bool:
        return "listening on" in log.read_text()

    proc = start()
    try:
        wait_until_ready(proc, listening, timeout=60, what="moxtrace serve", log_path=log)
        first = log.read_text()
        key = (data / "dev-api-key").read_text().strip()
        port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)", first).group(1))  # type: ignore[union-attr]
        assert f"dev API key (tenant 'dev'): {key}" in first
        assert (
            httpx.get(f"http://127.0.0.1:{port}/traces", headers={"x-api-key": key}).status_code
            == 200
        )
    finally:
        assert stop_process(proc) == 0
    assert "moxtrace serve: stopped" in log.read_text()
    log.write_text("")

    proc = start()
    try:
        wait_until_ready(proc, listening, timeout=60, what="moxtrace serve", log_path=log)
        second = log.read_text()
        assert f"dev API key: in {data / 'dev-api-key'}" in second
        assert key not in second  # printed once, on creation
        assert (data / "dev-api-key").stat().st_mode & 0o777 == 0o600
    finally:
        stop_process(proc)


def test_keys_create_list_revoke(moxtrace_server_factory: Factory) -> None:
    server = moxtrace_server_factory(key_cache_ttl=0)
    key = server.create_key("acme")
    key_id = key.split(".", 1)[1][:8]
    assert key.startswith("moxn_acme.")
    with server.client(key) as acme:
        assert acme.get("/stats").json()["data"]["tenant"] == "acme"

        listing = server.cli("keys", "list")
        assert re.search(rf"^acme\s+{key_id}\s+\S+\s+-", listing, re.MULTILINE), listing
        assert key.split(".", 1)[1] not in listing  # never the secret
        server.cli("keys", "revoke", key_id)

        assert acme.get("/stats").status_code == 401
    assert re.search(
        rf"^acme\s+{key_id}\s+\S+\s+\d{{4}}-", server.cli("keys", "list"), re.MULTILINE
    )
    assert "dev" in server.cli("keys", "list", "--tenant", "dev")


def test_keys_on_postgresql(moxtrace_server_factory: Factory) -> None:
    server = moxtrace_server_factory("postgres")
    key = server.create_key("pg-tenant")
    with server.client(key) as client:
        assert client.get("/stats").json()["data"]["tenant"] == "pg-tenant"


def test_sigterm_stops_gracefully_even_with_a_live_tail_open(
    moxtrace_server_factory: Factory,
) -> None:
    server = moxtrace_server_factory(graceful_timeout=30)
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        with client.stream("GET", "/traces/stream", headers=server.headers) as stream:
            lines = stream.iter_lines()
            assert next(lines) == "event: ready"
            proc = server.proc
            assert proc is not None
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
            assert list(lines)[-1:] in ([], [""])  # the server closed the stream
    server.proc = None
    assert "moxtrace serve: stopped" in server.log_path.read_text()


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_acknowledged_batches_survive_kill_9(
    moxtrace_server_factory: Factory, database: str
) -> None:
    server = moxtrace_server_factory(database)
    traces = [new_trace_id() for _ in range(20)]
    with server.client() as client:
        for trace_id in traces:
            events = [
                e
                for _ in range(25)
                for e in span_events(trace_id, new_span_id(), llm={"provider": "x"})
            ]
            assert client.post("/telemetry/log-events", json={"events": events}).status_code == 200
    server.kill()  # at once: the indexer may be mid-batch
    server.restart()

    with server.client() as client:
        stats = client.get("/stats").json()["data"]
        assert stats["stored"]["events"] == 20 * 25 * 3
        assert stats["stored"]["spans"] == 20 * 25
        assert stats["stored"]["llm_calls"] == 20 * 25
        for trace_id in traces:
            assert client.get(f"/traces/{trace_id}").json()["data"]["span_count"] == 25


def test_restart_keeps_data_port_and_key(moxtrace_server_factory: Factory) -> None:
    server = moxtrace_server_factory()
    trace_id = new_trace_id()
    with server.client() as client:
        client.post("/telemetry/log-events", json={"events": span_events(trace_id, new_span_id())})
    port, key, pid = server.port, server.api_key, server.pid

    server.restart()

    assert (server.port, server.api_key) == (port, key)
    assert server.pid != pid
    with server.client() as client:
        poll(
            lambda: client.get(f"/traces/{trace_id}").status_code == 200,
            timeout=10,
            what="the trace is there after a restart",
        )


def test_run_cli_helper_reports_failures(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="invalid tenant"):
        run_cli("keys", "create", "--tenant", "bad tenant", "--data-dir", str(tmp_path))
