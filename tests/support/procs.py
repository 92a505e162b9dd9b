"""Start a service process, wait until it answers, stop it by pid.

The rules every service helper follows:

* the service is a child of the test process (so it can always be reaped), its stdout and stderr
  go to a log file (never a pipe that could fill up), stdin is /dev/null;
* readiness is polled with a deadline: between two checks we wait on the process itself, so a
  service that dies during startup is reported at once with the tail of its log;
* stopping sends a signal to the pid (SIGTERM, or the service's own fast-shutdown signal), waits
  with a deadline, then SIGKILLs, and always reaps the child.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = "run .ci/services.sh to install the test services (see docs/services.md)"


class ServiceError(RuntimeError):
    """A test service failed to start or stop."""


class ServiceNotInstalledError(ServiceError):
    """A test service's binaries are missing: run .ci/services.sh."""


def cache_dir() -> Path:
    """Where .ci/services.sh installs things: $MOXTRACE_CACHE or ~/.cache/moxtrace."""
    root = os.environ.get("MOXTRACE_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "moxtrace"


def log_tail(path: Path | None, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, or "" if there is none."""
    if path is None:
        return ""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    tail = text.splitlines()[-lines:]
    return f"\n--- last {len(tail)} lines of {path} ---\n" + "\n".join(tail)


def start_process(
    argv: Sequence[str | Path],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` as a child process logging to ``log_path``.

    ``user`` runs the child under that account (only possible as root): its uid, primary gid and
    no supplementary groups.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        if user is None:
            return subprocess.Popen(
                [str(arg) for arg in argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
            )
        account = pwd.getpwnam(user)
        return subprocess.Popen(
            [str(arg) for arg in argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            user=account.pw_uid,
            group=account.pw_gid,
            extra_groups=[],
        )


def wait_until_ready(
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    log_path: Path | None = None,
    interval: float = 0.1,
) -> float:
    """Poll ``ready()`` until it returns True; return the seconds it took.

    Between checks, wait on the process for ``interval`` seconds: if it exits, fail at once.
    Raise ServiceError (with the log's tail) on exit or when ``timeout`` seconds have passed.
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        if ready():
            return time.monotonic() - start
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ServiceError(
                f"{what} (pid {proc.pid}) not ready after {timeout:.0f}s" + log_tail(log_path)
            )
        try:
            code = proc.wait(timeout=min(interval, remaining))
        except subprocess.TimeoutExpired:
            continue
        raise ServiceError(
            f"{what} (pid {proc.pid}) exited with code {code} during startup" + log_tail(log_path)
        )


def stop_process(
    proc: subprocess.Popen[bytes],
    *,
    first_signal: signal.Signals = signal.SIGTERM,
    timeout: float = 30.0,
    kill_timeout: float = 10.0,
) -> int:
    """Stop the child by pid: ``first_signal``, SIGKILL after ``timeout`` s; reap it.

    Returns the exit code (negative for a signal, as subprocess reports it).
    """
    if proc.poll() is None:
        # Not reaped yet, so the pid cannot have been reused by another process.
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, first_signal)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            try:
                return proc.wait(timeout=kill_timeout)
            except subprocess.TimeoutExpired as exc:
                raise ServiceError(f"pid {proc.pid} survived SIGKILL for {kill_timeout}s") from exc
    return proc.returncode


@contextlib.contextmanager
def running(
    proc: subprocess.Popen[bytes],
    *,
    first_signal: signal.Signals = signal.SIGTERM,
    stop_timeout: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Yield ``proc``; stop it by pid on exit, whatever happened inside."""
    try:
        yield proc
    finally:
        stop_process(proc, first_signal=first_signal, timeout=stop_timeout)


def listening_addresses(pid: int) -> list[tuple[str, int]]:
    """(host, port) of every TCP socket in LISTEN state that process ``pid`` holds (Linux).

    IPv4-mapped IPv6 addresses are reported as IPv4 ("::ffff:127.0.0.1" -> "127.0.0.1").
    """
    inodes: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    found: list[tuple[str, int]] = []
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A = TCP_LISTEN
                continue
            hex_host, hex_port = local.split(":")
            found.append((_decode_proc_address(hex_host), int(hex_port, 16)))
    return sorted(set(found))


def _decode_proc_address(hex_host: str) -> str:
    # /proc/net/tcp{,6} print addresses as 32-bit words in host (little-endian) byte order.
    raw = b"".join(bytes.fromhex(hex_host[i : i + 8])[::-1] for i in range(0, len(hex_host), 8))
    address = ipaddress.ip_address(raw)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8 and ::1."""
    return ipaddress.ip_address(host).is_loopback
