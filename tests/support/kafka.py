"""A single-node Apache Kafka broker (KRaft) on 127.0.0.1, from the jars deploy/kafka fetches.

Configuration and storage formatting are done by ``deploy/kafka/kafka.sh prepare`` (one source of
truth for the broker's settings); the broker itself is ``kafka.sh run``, which execs the JVM, so
the child's pid is the broker's pid.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .ports import LOOPBACK, free_ports
from .procs import (
    INSTALL_HINT,
    REPO_ROOT,
    ServiceError,
    ServiceNotInstalledError,
    cache_dir,
    log_tail,
    running,
    start_process,
    wait_until_ready,
)

KAFKA_SH = REPO_ROOT / "deploy" / "kafka" / "kafka.sh"
PROBE_PY = REPO_ROOT / "deploy" / "kafka" / "probe.py"


@dataclass(frozen=True)
class KafkaBroker:
    """A running broker."""

    host: str
    port: int
    controller_port: int
    pid: int
    data_dir: Path
    startup_seconds: float

    @property
    def bootstrap(self) -> str:
        """The bootstrap servers string, "127.0.0.1:PORT"."""
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        """The broker's own log (log4j)."""
        return self.data_dir / "server.log"


def require_installed() -> None:
    """Raise ServiceNotInstalledError unless ``kafka.sh fetch`` has run."""
    lib = cache_dir() / "kafka" / "lib"
    if not (cache_dir() / "kafka" / ".fetched").is_file() or not any(lib.glob("kafka_2.13-*.jar")):
        raise ServiceNotInstalledError(f"Kafka broker jars not found in {lib}: {INSTALL_HINT}")


def broker_answers(host: str, port: int) -> bool:
    """True when the broker answers a Metadata request listing at least one broker."""
    try:
        result = subprocess.run(
            [sys.executable, "-I", "-S", str(PROBE_PY), f"{host}:{port}", "--timeout", "1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=10,
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


@contextlib.contextmanager
def kafka_broker(
    data_dir: Path,
    *,
    port: int | None = None,
    controller_port: int | None = None,
    timeout: float = 90.0,
) -> Iterator[KafkaBroker]:
    """Start a broker with its data and logs in ``data_dir``; stop it by pid on exit."""
    require_installed()
    started = time.monotonic()
    if port is None or controller_port is None:
        picked = free_ports(2)
        port = port if port is not None else picked[0]
        controller_port = controller_port if controller_port is not None else picked[1]
    data_dir.mkdir(parents=True, exist_ok=True)
    prepare = subprocess.run(
        ["bash", str(KAFKA_SH), "prepare", str(data_dir), str(port), str(controller_port)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if prepare.returncode != 0:
        raise ServiceError(f"kafka.sh prepare failed:\n{prepare.stdout}{prepare.stderr}")
    out_log = data_dir / "kafka.out"
    proc = start_process(["bash", str(KAFKA_SH), "run", str(data_dir)], log_path=out_log)
    with running(proc, stop_timeout=30.0):
        try:
            wait_until_ready(
                proc,
                lambda: broker_answers(LOOPBACK, port),
                timeout=timeout,
                what=f"Kafka broker on {LOOPBACK}:{port}",
                log_path=out_log,
                interval=0.2,
            )
        except ServiceError as exc:
            raise ServiceError(f"{exc}{log_tail(data_dir / 'server.log')}") from None
        yield KafkaBroker(
            host=LOOPBACK,
            port=port,
            controller_port=controller_port,
            pid=proc.pid,
            data_dir=data_dir,
            startup_seconds=time.monotonic() - started,
        )
