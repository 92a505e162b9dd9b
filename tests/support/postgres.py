"""A throwaway PostgreSQL server on 127.0.0.1 (Debian's server binaries, our own data dir).

initdb runs into a fresh temporary directory; the server runs as ``postgres -D DIR -h 127.0.0.1
-p PORT -k SOCKDIR`` with durability off (fsync, synchronous_commit, full_page_writes: it is a
test database) and trust authentication. initdb and postgres refuse to run as root, so as root
both run as the ``postgres`` account (the child is started with that uid directly, so its pid is
the postmaster's). Stopping sends SIGINT: PostgreSQL's "fast" shutdown, which does not wait for
clients to disconnect.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .ports import LOOPBACK, free_port
from .procs import (
    INSTALL_HINT,
    ServiceError,
    ServiceNotInstalledError,
    running,
    start_process,
    wait_until_ready,
)

SUPERUSER = "postgres"
_TOOLS = ("postgres", "initdb", "pg_isready", "createdb")
_SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
}


@dataclass(frozen=True)
class PostgresServer:
    """A running PostgreSQL server with one database."""

    host: str
    port: int
    database: str
    user: str
    pid: int
    data_dir: Path
    socket_dir: Path
    startup_seconds: float

    @property
    def url(self) -> str:
        """SQLAlchemy async URL: postgresql+asyncpg://postgres@127.0.0.1:PORT/DATABASE."""
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        """libpq / asyncpg DSN: postgresql://postgres@127.0.0.1:PORT/DATABASE."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"


def find_bindir() -> Path | None:
    """$MOXTRACE_PG_BINDIR, else the newest /usr/lib/postgresql/<major>/bin, else PATH."""
    override = os.environ.get("MOXTRACE_PG_BINDIR")
    candidates: list[Path] = [Path(override)] if override else []
    versioned = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    candidates += sorted(versioned, key=lambda p: int(p.parent.name), reverse=True)
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in _TOOLS):
            return bindir
    return None


def require_installed() -> Path:
    """The server's bin directory; ServiceNotInstalledError if there is none."""
    bindir = find_bindir()
    if bindir is None:
        raise ServiceNotInstalledError(
            f"PostgreSQL server binaries (postgres, initdb) not found: {INSTALL_HINT}"
        )
    return bindir


def _run_as() -> str | None:
    """The account to run the server as: "postgres" when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise ServiceNotInstalledError(
            f"running as root but there is no {SUPERUSER!r} account: {INSTALL_HINT}"
        ) from None
    return SUPERUSER


def _run(argv: list[str], *, user: str | None, cwd: Path, env: dict[str, str]) -> str:
    account = pwd.getpwnam(user) if user is not None else None
    result = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=cwd,
        env=env,
        user=account.pw_uid if account else None,
        group=account.pw_gid if account else None,
        extra_groups=[] if account else None,
    )
    if result.returncode != 0:
        raise ServiceError(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


@contextlib.contextmanager
def postgres_server(
    *,
    port: int | None = None,
    database: str = "moxtrace",
    timeout: float = 60.0,
    keep_dir: bool = False,
) -> Iterator[PostgresServer]:
    """initdb + start a server in a new temporary directory; stop by pid and delete on exit."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", database):
        raise ValueError(f"database name must be a plain identifier, got {database!r}")
    bindir = require_installed()
    user = _run_as()
    started = time.monotonic()
    port = port if port is not None else free_port()
    # Not pytest's tmp_path: its parents are private to root, and the server may run as postgres.
    base = Path(tempfile.mkdtemp(prefix="moxtrace-pg-"))
    try:
        data_dir, socket_dir, log_path = base / "data", base / "sock", base / "postgres.log"
        socket_dir.mkdir()
        if user is not None:
            account = pwd.getpwnam(user)
            for path in (base, socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "LANG": "C",
            "HOME": str(base),
            "TZ": "UTC",
        }
        _run(
            [
                str(bindir / "initdb"),
                "--pgdata",
                str(data_dir),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            user=user,
            cwd=base,
            env=env,
        )
        argv = [str(bindir / "postgres"), "-D", str(data_dir), "-h", LOOPBACK, "-p", str(port)]
        argv += ["-k", str(socket_dir)]
        for key, value in _SERVER_SETTINGS.items():
            argv += ["-c", f"{key}={value}"]
        proc = start_process(argv, log_path=log_path, env=env, cwd=base, user=user)
        isready = [str(bindir / "pg_isready"), "-q", "-h", LOOPBACK, "-p", str(port)]
        isready += ["-U", SUPERUSER, "-d", "postgres", "-t", "2"]

        def accepting() -> bool:
            return subprocess.run(isready, stdin=subprocess.DEVNULL, check=False).returncode == 0

        # SIGINT = fast shutdown: roll back open transactions, disconnect clients, stop.
        with running(proc, first_signal=signal.SIGINT, stop_timeout=30.0):
            wait_until_ready(
                proc,
                accepting,
                timeout=timeout,
                what=f"PostgreSQL on {LOOPBACK}:{port}",
                log_path=log_path,
            )
            createdb = [str(bindir / "createdb"), "-h", LOOPBACK, "-p", str(port)]
            _run(
                [*createdb, "-U", SUPERUSER, database],
                user=None,
                cwd=base,
                env=env,
            )
            yield PostgresServer(
                host=LOOPBACK,
                port=port,
                database=database,
                user=SUPERUSER,
                pid=proc.pid,
                data_dir=data_dir,
                socket_dir=socket_dir,
                startup_seconds=time.monotonic() - started,
            )
    finally:
        if not keep_dir:
            shutil.rmtree(base, ignore_errors=True)
