"""``moxtrace serve`` as a real subprocess on 127.0.0.1, for integration tests and benchmarks.

    with moxtrace_server(tmp_path / "data") as server:
        httpx.post(f"{server.base_url}/telemetry/log-events", headers=server.headers, json=...)
        server.kill()       # SIGKILL, e.g. in the middle of an export
        server.restart()    # same data dir (or database), same port; a new pid

The server runs under uvicorn on a free port with its data in ``data_dir``; readiness is
polled on ``GET /health`` with a deadline (a server that dies during startup is reported at
once, with its log), then the dev key it wrote to ``data_dir/dev-api-key`` is read. Limits
are command-line options (``max_body_bytes=1024`` becomes ``--max-body-bytes 1024``).
Stopping is by pid: SIGTERM (graceful) or SIGKILL, always reaped.

``fresh_postgres_database`` gives each server its own empty PostgreSQL database on the
session's server, so servers (and their dev keys) never share data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx

from .ports import LOOPBACK, free_port
from .procs import REPO_ROOT, ServiceError, log_tail, start_process, stop_process, wait_until_ready

__all__ = [
    "MoxtraceServer",
    "fresh_postgres_database",
    "moxtrace_server",
    "new_span_id",
    "new_trace_id",
    "poll",
    "run_cli",
    "span_events",
]

_T = TypeVar("_T")


def poll(
    check: Callable[[], _T | None], *, timeout: float, what: str, interval: float = 0.05
) -> _T:
    """Call ``check`` every ``interval`` seconds until it returns something truthy; return
    that. ``TimeoutError`` naming ``what`` when ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{what}: not true after {timeout:.1f}s")
        time.sleep(min(interval, remaining))


def _cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    # The server reads MOXN_SERVER_*: never let the test runner's environment leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOXN_SERVER_")}
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60.0) -> str:
    """Run ``python -m moxtrace.cli ARGS``; its stdout. ``ServiceError`` when it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "moxtrace.cli", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        cwd=REPO_ROOT,
        env=_cli_env(env),
    )
    if result.returncode != 0:
        raise ServiceError(
            f"moxtrace {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result.stdout


def _option(name: str, value: object) -> list[str]:
    flag = "--" + name.replace("_", "-")
    if value is True:
        return [flag]
    if value is False or value is None:
        return []
    return [flag, str(value)]


class MoxtraceServer:
    """One ``moxtrace serve`` process (restartable on the same port and data)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        database_url: str | None = None,
        options: Mapping[str, object] | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.data_dir = data_dir
        self.port = port if port is not None else free_port()
        self.database_url = database_url
        self.options = dict(options or {})
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.log_path = data_dir / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._api_key: str | None = None
        self.starts = 0

    @property
    def host(self) -> str:
        """Always 127.0.0.1."""
        return LOOPBACK

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        """The pid of the running process."""
        if self.proc is None:
            raise ServiceError("moxtrace serve is not running")
        return self.proc.pid

    @property
    def api_key(self) -> str:
        """The dev key the server created on its first start (tenant ``dev``)."""
        if self._api_key is None:
            raise ServiceError("moxtrace serve has not started yet")
        return self._api_key

    @property
    def headers(self) -> dict[str, str]:
        """``{"x-api-key": api_key}``"""
        return {"x-api-key": self.api_key}

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def argv(self) -> list[str]:
        """The command line of the server."""
        argv = [sys.executable, "-m", "moxtrace.cli", "serve", "--host", LOOPBACK]
        argv += ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        if self.database_url:
            argv += ["--database-url", self.database_url]
        for name, value in self.options.items():
            argv += _option(name, value)
        return argv

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self) -> MoxtraceServer:
        """Start the process and wait (with a deadline) until it answers ``/health``."""
        if self.running:
            raise ServiceError(f"moxtrace serve already running (pid {self.pid})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start {self.starts + 1}: {' '.join(self.argv())}\n".encode())
        self.proc = start_process(
            self.argv(), log_path=self.log_path, env=_cli_env(self.env), cwd=REPO_ROOT
        )
        self.starts += 1
        try:
            wait_until_ready(
                self.proc,
                self._healthy,
                timeout=self.startup_timeout,
                what=f"moxtrace serve on {self.base_url}",
                log_path=self.log_path,
                interval=0.05,
            )
            key_file = self.data_dir / "dev-api-key"
            if self._api_key is None and key_file.is_file():
                self._api_key = key_file.read_text().strip()
        except BaseException:
            self.kill()
            raise
        return self

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (graceful shutdown), SIGKILL after ``timeout``; the exit code."""
        if self.proc is None:
            return None
        code = stop_process(self.proc, first_signal=signal.SIGTERM, timeout=timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL now (no graceful shutdown), and reap."""
        if self.proc is None:
            return
        stop_process(self.proc, first_signal=signal.SIGKILL, timeout=10.0)
        self.proc = None

    def restart(self, *, graceful: bool = True) -> MoxtraceServer:
        """Stop (SIGTERM, or SIGKILL if not ``graceful``) if running, then start again."""
        if self.running:
            if graceful:
                self.stop()
            else:
                self.kill()
        self.proc = None
        return self.start()

    def cli(self, *args: str) -> str:
        """Run ``moxtrace ARGS --data-dir .. [--database-url ..]`` against this server's store."""
        store = ["--data-dir", str(self.data_dir)]
        if self.database_url:
            store += ["--database-url", self.database_url]
        return run_cli(*args, *store)

    def create_key(self, tenant: str) -> str:
        """A new API key for ``tenant`` (``moxtrace keys create``); the server sees it at once."""
        return self.cli("keys", "create", "--tenant", tenant).strip()

    def client(self, api_key: str | None = None, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` for this server with ``x-api-key`` set (the dev key by default)."""
        headers = {"x-api-key": api_key or self.api_key, **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.base_url, headers=headers, **kwargs)

    def log(self) -> str:
        """The tail of the server's log (for assertion messages)."""
        return log_tail(self.log_path)


@contextlib.contextmanager
def moxtrace_server(
    data_dir: Path,
    *,
    database_url: str | None = None,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 60.0,
    **options: object,
) -> Iterator[MoxtraceServer]:
    """Start ``moxtrace serve`` with its data in ``data_dir``; stop it by pid on exit.

    ``options`` become command-line flags: ``max_body_bytes=1024``, ``rate_limit=5``.
    """
    server = MoxtraceServer(
        data_dir,
        port=port,
        database_url=database_url,
        options=options,
        env=env,
        startup_timeout=startup_timeout,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _run_async(coro: Coroutine[Any, Any, _T]) -> _T:
    # In a thread of its own: callers may be inside a running event loop (async tests).
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


async def _admin(dsn: str, statement: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_postgres_database(postgres_url: str) -> Iterator[str]:
    """A new empty database on the server of ``postgres_url``; its URL; dropped on exit."""
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    name = f"moxtrace_{uuid.uuid4().hex[:12]}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    _run_async(_admin(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with contextlib.suppress(Exception):
            _run_async(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def options_argv(options: Mapping[str, object]) -> Sequence[str]:
    """Command-line flags for ``options`` (as ``moxtrace_server`` builds them)."""
    return [arg for name, value in options.items() for arg in _option(name, value)]


# --- payloads of the ingest API (docs/wire-format.md) --------------------------------------


def new_trace_id() -> str:
    """A random trace id: 32 lowercase hex digits."""
    return uuid.uuid4().hex


def new_span_id() -> str:
    """A random span id: 16 lowercase hex digits."""
    return uuid.uuid4().hex[:16]


def _iso(moment: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(moment, timezone.utc).isoformat().replace("+00:00", "Z")


def span_events(
    trace_id: str,
    span_id: str,
    *,
    parent_span_id: str | None = None,
    name: str = "span",
    start: float = 1_700_000_000.0,
    duration: float = 0.25,
    status: str = "OK",
    status_message: str | None = None,
    kind: str = "internal",
    attributes: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    prompt_id: str | None = None,
    task_id: str | None = None,
    service_name: str = "test-service",
    llm: Mapping[str, Any] | None = None,
    content: Any = None,
) -> list[dict[str, Any]]:
    """The wire events of one span (span_start, [llm_call], span_end/span_error).

    ``llm`` is the ``llm_call`` event's ``system_metadata`` (provider, response_model,
    usage, ...); ``content`` its content.
    """
    end = start + duration
    common: dict[str, Any] = {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent_span_id,
        "prompt_id": prompt_id,
        "task_id": task_id,
        "user_metadata": dict(metadata or {}),
    }
    events: list[dict[str, Any]] = [
        {
            **common,
            "id": str(uuid.uuid4()),
            "event_type": "span_start",
            "sequence_number": 0,
            "timestamp": _iso(start),
            "system_metadata": {
                "span_name": name,
                "span_kind": kind,
                "start_time": _iso(start),
                "attributes": dict(attributes or {}),
                "resource": {"service.name": service_name},
                "service_name": service_name,
                "scope": {"name": "tests", "version": "1"},
                "links": [],
            },
        }
    ]
    if llm is not None:
        events.append(
            {
                **common,
                "id": str(uuid.uuid4()),
                "event_type": "llm_call",
                "sequence_number": 1,
                "timestamp": _iso(end),
                "system_metadata": {"span_name": name, **llm},
                "content": content,
            }
        )
    events.append(
        {
            **common,
            "id": str(uuid.uuid4()),
            "event_type": "span_error" if status == "ERROR" else "span_end",
            "sequence_number": 2,
            "timestamp": _iso(end),
            "system_metadata": {
                "span_name": name,
                "end_time": _iso(end),
                "duration_ms": duration * 1000,
                "status_code": status,
                "status_message": status_message,
                "events": [],
            },
        }
    )
    return events
