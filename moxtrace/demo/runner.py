"""``moxtrace demo``: the whole product in one command.

``run_demo`` starts ``moxtrace serve`` (SQLite, a free port on 127.0.0.1), creates an API
key, publishes a task with two prompts sharing a message and commits it, runs the
support bot (``flow``) on a few tickets with a stand-in model, hands each reply to a
worker through a queue (or Kafka), flushes, reads the traces back from the server and
draws them, then stops the server (or leaves it up with ``keep_running`` until Ctrl-C).

Every step is reported as it finishes; a step that fails ends the demo with exit code 1
and a message saying which step and why. Nothing is left running either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from moxtrace.demo.server import DemoServer

__all__ = ["DEMO_TENANT", "DemoFailed", "DemoOptions", "Progress", "run_demo"]

DEMO_TENANT = "demo"
_SERVER_EXTRA = ("fastapi", "uvicorn", "sqlalchemy", "aiosqlite")
KEY_FILE = "demo-api-key"
"""The file in the data directory the demo's API key is saved to (mode 0600)."""


class DemoFailed(Exception):
    """A step of the demo failed; the message says which and why."""


@dataclass
class DemoOptions:
    """What ``moxtrace demo`` was asked to do."""

    data_dir: Path | None = None
    """Keep the data here (default: a temporary directory, removed at the end)."""
    port: int = 0
    """Server port (0: a free one)."""
    kafka: str | None = None
    """Bootstrap servers of a Kafka broker for the worker's queue (default in-process)."""
    keep_running: bool = False
    """Leave the server up after the demo, until Ctrl-C or SIGTERM."""
    latency: float = 1.0
    """Scale of the stand-in model's and worker's simulated time (0: none)."""
    ascii: bool = False
    """Draw with ASCII characters only."""
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)


def _can_encode(stream: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class Progress:
    """Step lines: ``✓ what  1.2 s`` when a step ends, ``✗ what: why`` when it fails.

    On a terminal the running step is shown first (``… what``) and overwritten.
    """

    def __init__(self, out: TextIO, *, ascii: bool = False) -> None:
        self.out = out
        self.tty = out.isatty()
        fancy = not ascii and _can_encode(out, "✓✗…→└─")
        self.ok, self.fail, self.running = ("✓", "✗", "…") if fancy else ("ok", "FAIL", "..")

    def say(self, line: str = "") -> None:
        """Print a line now."""
        print(line, file=self.out, flush=True)

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[list[str]]:
        """Run a step; append to the yielded list to say more on its line."""
        notes: list[str] = []
        if self.tty:
            print(f"  {self.running} {what}", end="", file=self.out, flush=True)
        start = time.monotonic()
        try:
            yield notes
        except BaseException as exc:
            self._end(f"  {self.fail} {what}")
            if isinstance(exc, DemoFailed | KeyboardInterrupt):
                raise
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise DemoFailed(f'at step "{what}": {reason}') from exc
        took = time.monotonic() - start
        detail = f" ({'; '.join(notes)})" if notes else ""
        self._end(f"  {self.ok} {what}{detail}  {took:.1f} s")

    def _end(self, line: str) -> None:
        if self.tty:
            print("\r\x1b[K", end="", file=self.out)
        print(line, file=self.out, flush=True)


def _save_key(data_dir: Path, key: str) -> Path:
    path = data_dir / KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return path


def run_demo(options: DemoOptions) -> int:
    """Run the demo; the exit code (0; 1 when a step failed; 2 without the server extra;
    130 on Ctrl-C)."""
    from moxtrace.demo.server import DemoServer

    missing = [name for name in _SERVER_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f"moxtrace demo: the server extra is missing ({', '.join(missing)}): "
            "pip install 'moxtrace[server]'",
            file=options.err,
        )
        return 2
    progress = Progress(options.out, ascii=options.ascii)
    temporary = options.data_dir is None
    data_dir = (
        Path(tempfile.mkdtemp(prefix="moxtrace-demo-"))
        if options.data_dir is None
        else options.data_dir.expanduser().resolve()
    )
    server = DemoServer(data_dir, port=options.port)
    progress.say("moxtrace demo: a support bot traced end to end, on a local moxtrace serve")
    try:
        return _run(options, progress, server, data_dir, temporary)
    except DemoFailed as exc:
        print(f"moxtrace demo: failed {exc}", file=options.err, flush=True)
        tail = server.log_tail()
        told = "--- last lines of" in str(exc)
        if not told and ("Traceback" in tail or " ERROR " in tail):  # the server's reason
            print(tail, file=options.err, flush=True)
        return 1
    except KeyboardInterrupt:
        print("moxtrace demo: interrupted", file=options.err, flush=True)
        return 130
    finally:
        code = server.stop()
        if code not in (None, 0):
            print(f"moxtrace demo: the server exited with code {code}", file=options.err)
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)


def _run(
    options: DemoOptions, progress: Progress, server: DemoServer, data_dir: Path, temporary: bool
) -> int:
    from moxtrace.demo.report import Glyphs, render_trace_tree
    from moxtrace.demo.server import create_api_key

    with progress.step("Created an API key for tenant 'demo'") as notes:
        data_dir.mkdir(parents=True, exist_ok=True)
        key = asyncio.run(create_api_key(data_dir, DEMO_TENANT, "moxtrace demo"))
        key_path = _save_key(data_dir, key)
        notes.append(f"saved to {key_path}")
    with progress.step("Started moxtrace serve") as notes:
        url = server.start()
        where = "temporary data dir" if temporary else "data dir"
        notes.append(f"{url}, SQLite in {where} {data_dir}, pid {server.pid}")

    from moxtrace.demo.steps import run_steps

    traces = asyncio.run(run_steps(url, key, options, progress))

    glyph = Glyphs.ascii() if progress.ok == "ok" else Glyphs()
    progress.say()
    for trace in traces:
        progress.say(render_trace_tree(trace, glyph=glyph))
        progress.say()
    viewer = f"{url}/ui/"
    if options.keep_running:
        progress.say(f"Trace viewer: {viewer}")
        progress.say(f"API key: {key}  (also in {key_path})")
        progress.say("The server keeps running; press Ctrl-C to stop it.")
        return _wait_for_stop(server, progress)
    progress.say(f"Trace viewer: {viewer}  (while the server runs)")
    if temporary:
        progress.say(
            "The server stops now and its temporary data goes with it: run "
            "`moxtrace demo --keep-running` to browse the traces in the viewer."
        )
    else:
        progress.say(
            f"The server stops now. To browse these traces: `moxtrace serve --data-dir "
            f"{data_dir}`, open /ui/ and log in with the key in {key_path}."
        )
    return 0


def _wait_for_stop(server: DemoServer, progress: Progress) -> int:
    """Until Ctrl-C or SIGTERM (0), or the server dies (1)."""
    stopped: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        stopped.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopped:
            if server.wait(0.5):
                progress.say("moxtrace demo: the server stopped unexpectedly")
                return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    progress.say("Stopping the server.")
    return 0
