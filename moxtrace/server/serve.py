"""Running the server under uvicorn: ``moxtrace serve``.

Prints the dev key on first start and the address it listens on once the socket is bound
(port 0 picks a free port; the line says which). SIGTERM and SIGINT stop it gracefully:
no new connections, live tails closed at once, in-flight requests given
``graceful_timeout`` seconds to finish (each either commits and answers 2xx or is never
acknowledged), then the store is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TextIO

import uvicorn
from fastapi import FastAPI

from moxtrace.server.app import create_app
from moxtrace.server.gcpause import raise_gc_threshold
from moxtrace.server.settings import ServerSettings
from moxtrace.server.store.engine import describe_url

__all__ = ["EXIT_STARTUP_FAILED", "SWITCH_INTERVAL", "serve", "tune_interpreter"]

EXIT_STARTUP_FAILED = 3
"""Exit code when the server could not start (database unreachable, port taken, ...)."""


class _Server(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, app: FastAPI, on_listening: Callable[[str], None]
    ) -> None:
        super().__init__(config)
        self._app = app
        self._on_listening = on_listening
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stopped_by: list[str] = []

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets=sockets)
        if self.should_exit:
            return
        # What exists now lives as long as the process: keep it out of every collection.
        gc.freeze()
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                self._on_listening(f"http://{host}:{port}")

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, so the process would
        # die of the signal: a finished graceful stop exits 0 instead (and says so).
        with super().capture_signals():
            try:
                yield
            finally:
                captured = getattr(self, "_captured_signals", None)
                if isinstance(captured, list):
                    self.stopped_by = [signal.Signals(s).name for s in captured]
                    captured.clear()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Live tails never end by themselves; end them now or shutdown waits for them.
        services = getattr(self._app.state, "services", None)
        if services is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(services.broadcaster.close)
        super().handle_exit(sig, frame)


SWITCH_INTERVAL = 0.0005
"""Seconds a thread may hold the GIL while another waits for it (Python's default is
0.005). The database driver's threads need the GIL for a moment before and after each
statement; while a worker thread parses or derives a batch, each such moment waited up to
5 ms, and a batch's statements took several times their own duration."""


def tune_interpreter() -> None:
    """Tune the garbage collector and the GIL switch interval for the server's workload
    (the server owns its process; see gcpause.GC_THRESHOLD and SWITCH_INTERVAL)."""
    raise_gc_threshold()
    sys.setswitchinterval(SWITCH_INTERVAL)


def _configure_logging(level: str) -> None:
    logger = logging.getLogger("moxtrace")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())


def serve(settings: ServerSettings, *, out: TextIO | None = None) -> int:
    """Serve until SIGTERM or SIGINT; the process exit code (0, or 3 if startup failed)."""
    stream = out if out is not None else sys.stdout

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    _configure_logging(settings.log_level)
    tune_interpreter()
    app = create_app(settings, announce=say)
    database = describe_url(settings.resolved_database_url())

    def listening(url: str) -> None:
        where = f"database {database}, data dir {settings.data_dir}"
        say(f"moxtrace serve: listening on {url} ({where})")

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.graceful_timeout) or 1,
        server_header=False,
    )
    server = _Server(config, app, listening)
    server.run()
    if not server.started:
        return EXIT_STARTUP_FAILED
    why = f" ({', '.join(server.stopped_by)})" if server.stopped_by else ""
    say(f"moxtrace serve: stopped{why}")
    return 0
