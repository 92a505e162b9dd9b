"""Arize Phoenix (an OTLP backend with a REST API) on 127.0.0.1, from its own virtualenv.

deploy/phoenix/install.sh installs Phoenix into $MOXTRACE_CACHE/phoenix-venv; this module starts
it through deploy/phoenix/serve.py, which keeps Phoenix's OTLP/gRPC listener on loopback (Phoenix
itself binds it to every interface).

Phoenix acknowledges an OTLP export before it has stored the spans, so read them back with
``phoenix_spans``, which polls ``GET /v1/projects/{project}/spans``. Each span it returns is a
dict with ``name``, ``context.trace_id``, ``context.span_id``, ``parent_id`` (hex span id or
None) and ``attributes`` (a flat dict keyed by dotted attribute name). Phoenix drops span kind and
resource attributes; a span's project comes from the resource attribute
``openinference.project.name`` (default project: "default").
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from .ports import LOOPBACK, free_ports
from .procs import (
    INSTALL_HINT,
    REPO_ROOT,
    ServiceNotInstalledError,
    cache_dir,
    running,
    start_process,
    wait_until_ready,
)

INSTALL_SH = REPO_ROOT / "deploy" / "phoenix" / "install.sh"
SERVE_PY = REPO_ROOT / "deploy" / "phoenix" / "serve.py"
PROJECT_ATTRIBUTE = "openinference.project.name"

# Phoenix features that reach the internet or run code on the server: off in tests.
_QUIET_ENV = {
    "PHOENIX_TELEMETRY_ENABLED": "false",
    "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
    "PHOENIX_ENABLE_MCP_SERVER": "false",
    "PHOENIX_AGENTS_DISABLE_WEB_ACCESS": "true",
    "PHOENIX_AGENTS_DISABLE_BASH": "true",
    "PHOENIX_AGENTS_DISABLE_GITHUB": "true",
    "PHOENIX_ENABLE_AUTH": "false",
}


@dataclass(frozen=True)
class PhoenixServer:
    """A running Phoenix."""

    host: str
    port: int
    grpc_port: int
    pid: int
    working_dir: Path
    startup_seconds: float

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT (UI, REST API under /v1, OTLP/HTTP at /v1/traces)."""
        return f"http://{self.host}:{self.port}"

    @property
    def otlp_traces_endpoint(self) -> str:
        """The OTLP/HTTP traces endpoint (protobuf), for OTLPSpanExporter(endpoint=...)."""
        return f"{self.base_url}/v1/traces"

    @property
    def otlp_grpc_endpoint(self) -> str:
        """The OTLP/gRPC endpoint (loopback only)."""
        return f"http://{self.host}:{self.grpc_port}"

    @property
    def log_path(self) -> Path:
        return self.working_dir / "phoenix.log"


def pinned_version() -> str:
    """The arize-phoenix version deploy/phoenix/install.sh pins."""
    match = re.search(r'^PHOENIX_VERSION="([^"]+)"', INSTALL_SH.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no PHOENIX_VERSION in {INSTALL_SH}")
    return match.group(1)


def venv_dir() -> Path:
    return cache_dir() / "phoenix-venv"


def require_installed() -> Path:
    """The Phoenix venv's python; ServiceNotInstalledError if missing or not the pinned version."""
    python = venv_dir() / "bin" / "python"
    want = pinned_version()
    dist = venv_dir() / "lib"
    installed = sorted(dist.glob("python3*/site-packages/arize_phoenix-*.dist-info"))
    versions = {
        path.name.removeprefix("arize_phoenix-").removesuffix(".dist-info") for path in installed
    }
    if not python.exists() or want not in versions:
        found = ", ".join(sorted(versions)) or "nothing"
        raise ServiceNotInstalledError(
            f"arize-phoenix {want} not installed in {venv_dir()} (found {found}): {INSTALL_HINT}"
        )
    return python


def _server_env(host: str, port: int, grpc_port: int, working_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PHOENIX_", "OTEL_"))
        and key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    env.update(_QUIET_ENV)
    env.update(
        PHOENIX_HOST=host,
        PHOENIX_PORT=str(port),
        PHOENIX_GRPC_HOST=host,
        PHOENIX_GRPC_PORT=str(grpc_port),
        PHOENIX_WORKING_DIR=str(working_dir),
        PYTHONUNBUFFERED="1",
    )
    return env


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def phoenix_server(
    working_dir: Path,
    *,
    port: int | None = None,
    grpc_port: int | None = None,
    timeout: float = 120.0,
) -> Iterator[PhoenixServer]:
    """Start Phoenix with its SQLite database in ``working_dir``; stop it by pid on exit."""
    python = require_installed()
    started = time.monotonic()
    if port is None or grpc_port is None:
        picked = free_ports(2)
        port = port if port is not None else picked[0]
        grpc_port = grpc_port if grpc_port is not None else picked[1]
    working_dir.mkdir(parents=True, exist_ok=True)
    log_path = working_dir / "phoenix.log"
    proc = start_process(
        [python, SERVE_PY],
        log_path=log_path,
        env=_server_env(LOOPBACK, port, grpc_port, working_dir),
        cwd=working_dir,
    )
    base_url = f"http://{LOOPBACK}:{port}"
    with running(proc, stop_timeout=30.0):
        wait_until_ready(
            proc,
            lambda: _healthy(base_url),
            timeout=timeout,
            what=f"Phoenix on {base_url}",
            log_path=log_path,
            interval=0.2,
        )
        yield PhoenixServer(
            host=LOOPBACK,
            port=port,
            grpc_port=grpc_port,
            pid=proc.pid,
            working_dir=working_dir,
            startup_seconds=time.monotonic() - started,
        )


def _fetch_spans(
    client: httpx.Client, base_url: str, project: str, trace_id: str | None
) -> list[dict[str, Any]] | None:
    """All spans of ``project`` (following pagination), or None if the project doesn't exist."""
    url = f"{base_url}/v1/projects/{quote(project, safe='')}/spans"
    params: dict[str, str | int] = {"limit": 1000}
    if trace_id is not None:
        params["trace_id"] = trace_id
    spans: list[dict[str, Any]] = []
    while True:
        response = client.get(url, params=params)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        spans.extend(body["data"])
        cursor = body.get("next_cursor")
        if not cursor:
            return spans
        params["cursor"] = str(cursor)


def phoenix_spans(
    base_url: str,
    project: str,
    min_count: int = 1,
    timeout: float = 30.0,
    *,
    trace_id: str | None = None,
    interval: float = 0.2,
) -> list[dict[str, Any]]:
    """Poll Phoenix's REST API until ``project`` holds at least ``min_count`` spans.

    Optionally only spans of one trace (32 hex digits). Returns the spans (newest first);
    raises AssertionError listing what was there if ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] | None = None
    with httpx.Client(timeout=10.0) as client:
        while True:
            seen = _fetch_spans(client, base_url, project, trace_id)
            if seen is not None and len(seen) >= min_count:
                return seen
            if time.monotonic() >= deadline:
                break
            time.sleep(interval)  # Phoenix stores asynchronously: nothing to wait on but time
    found = (
        "project does not exist"
        if seen is None
        else f"{len(seen)} span(s): " + ", ".join(str(span.get("name")) for span in seen)
    )
    raise AssertionError(
        f"Phoenix at {base_url}: expected >= {min_count} span(s) in project {project!r}"
        f"{'' if trace_id is None else f' for trace {trace_id}'} within {timeout}s; {found}"
    )


def span_by_name(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The single span called ``name`` (AssertionError if none or several)."""
    matching = [span for span in spans if span.get("name") == name]
    assert len(matching) == 1, f"expected one span named {name!r}, got {len(matching)}"
    return matching[0]
