"""The platform server the demo runs on: ``moxtrace serve`` as a child process.

The server gets its own process (as in production) on 127.0.0.1, with its log in
``DATA_DIR/serve.log``. It is started on a free port (``--port 0``); the port is read from
the ``listening on`` line it logs once its socket is bound. Stopping is by pid: SIGTERM
(graceful), SIGKILL after a deadline, always reaped.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["DemoServer", "DemoServerError", "create_api_key"]

_LISTENING = re.compile(r"moxtrace serve: listening on (http://\S+)")


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, SIGTERM the server if the demo dies (even by
    SIGKILL), so a killed demo leaves no server behind."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


_PR_SET_PDEATHSIG = 1


class DemoServerError(RuntimeError):
    """The server did not start (the message ends with the tail of its log)."""


async def create_api_key(data_dir: Path, tenant: str, label: str) -> str:
    """A new API key for ``tenant`` in the SQLite store of ``data_dir`` (created if new)."""
    from moxtrace.server.settings import ServerSettings
    from moxtrace.server.store import Store

    settings = ServerSettings(data_dir=data_dir)
    store = await Store.open(settings.resolved_database_url())
    try:
        key = await store.keys.create(tenant, label=label)
    finally:
        await store.close()
    return key.api_key


class DemoServer:
    """``moxtrace serve --data-dir DATA_DIR`` on 127.0.0.1, started and stopped by pid.

    >>> server = DemoServer(Path("/tmp/demo"))
    >>> server.start(timeout=30)
    'http://127.0.0.1:41237'
    >>> server.stop()
    """

    def __init__(self, data_dir: Path, *, port: int = 0) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log_path = data_dir / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url: str | None = None

    def argv(self) -> list[str]:
        """The server's command line."""
        return [
            sys.executable,
            "-m",
            "moxtrace.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--no-dev-key",
            "--log-level",
            "warning",
        ]

    def start(self, timeout: float = 60.0) -> str:
        """Start the server and wait (at most ``timeout`` s) until it listens; its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # The server reads MOXN_SERVER_*: the demo's own settings are the command line.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOXN_SERVER_")}
        env["PYTHONUNBUFFERED"] = "1"
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C reaches the demo, which stops the server
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while True:
            text = self._log_since(offset)
            found = _LISTENING.search(text)
            if found:
                self.url = found.group(1)
                return self.url
            code = self.proc.poll()
            if code is not None:
                self.proc = None
                raise DemoServerError(
                    f"moxtrace serve exited with code {code} during startup{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise DemoServerError(
                    f"moxtrace serve did not listen within {timeout:.0f} s{self.log_tail()}"
                )
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=0.05)

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's pid while it runs."""
        return self.proc.pid if self.proc is not None else None

    def wait(self, timeout: float) -> bool:
        """Wait at most ``timeout`` s for the server to exit; whether it is gone."""
        proc = self.proc
        if proc is None:
            return True
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` s; the exit code (None if not started)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                return proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
        return proc.wait()

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log, as a block to append to a message."""
        tail = self._log_since(0).splitlines()[-lines:]
        if not tail:
            return ""
        return f"\n--- last lines of {self.log_path} ---\n" + "\n".join(tail)
