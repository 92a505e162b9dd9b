"""``moxtrace collector`` as a real subprocess, plus Kafka topic helpers, for tests and benches.

    collector = CollectorProcess(tmp_path / "c1", kafka=f"kafka://{bootstrap}/{topic}",
                                 sinks=[f"store:{database_url}"], group="g").start()
    collector.stats()["processor"]["spans_out"]
    collector.kill()        # SIGKILL
    collector.stop()        # SIGTERM: graceful (exit code 0), its last line has its counters

Each collector listens on a free port on 127.0.0.1 (``/health``, ``/ready``, ``/stats``,
``POST /v1/traces``); ``start`` waits (with a deadline) until ``/ready`` answers 200: the
consumer joined its group and every sink answers. Stopping is by pid.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from .ports import LOOPBACK, free_port
from .procs import REPO_ROOT, ServiceError, log_tail, start_process, stop_process, wait_until_ready

__all__ = [
    "CollectorProcess",
    "DeadLetter",
    "create_topics",
    "produce",
    "read_topic",
]


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MOXN_COLLECTOR_", "MOXN_SERVER_"))
    }
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


class CollectorProcess:
    """One ``moxtrace collector`` process."""

    def __init__(
        self,
        work_dir: Path,
        *,
        kafka: str | None,
        sinks: Sequence[str],
        group: str = "moxtrace-test",
        config: Path | None = None,
        options: Mapping[str, object] | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.work_dir = work_dir
        self.kafka = kafka
        self.sinks = list(sinks)
        self.group = group
        self.config = config
        self.options = dict(options or {})
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.log_path = work_dir / "collector.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT of its listener."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        """The pid of the running process."""
        if self.proc is None:
            raise ServiceError("the collector is not running")
        return self.proc.pid

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def argv(self) -> list[str]:
        """The command line."""
        argv = [sys.executable, "-m", "moxtrace.cli", "collector"]
        argv += ["--listen", f"{LOOPBACK}:{self.port}", "--group", self.group]
        if self.kafka:
            argv += ["--kafka", self.kafka]
        for sink in self.sinks:
            argv += ["--sink", sink]
        if self.config is not None:
            argv += ["--config", str(self.config)]
        for name, value in self.options.items():
            argv += ["--" + name.replace("_", "-"), str(value)]
        return argv

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/ready", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self) -> CollectorProcess:
        """Start and wait until ``/ready`` answers 200."""
        if self.running:
            raise ServiceError(f"collector already running (pid {self.pid})")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start: {' '.join(self.argv())}\n".encode())
        self.proc = start_process(
            self.argv(), log_path=self.log_path, env=_env(self.env), cwd=REPO_ROOT
        )
        try:
            wait_until_ready(
                self.proc,
                self._ready,
                timeout=self.startup_timeout,
                what=f"moxtrace collector on {self.base_url}",
                log_path=self.log_path,
                interval=0.05,
            )
        except BaseException:
            self.kill()
            raise
        return self

    def stats(self) -> dict[str, Any]:
        """Its counters (``GET /stats``)."""
        response = httpx.get(f"{self.base_url}/stats", timeout=5.0)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (graceful), SIGKILL after ``timeout``; the exit code."""
        if self.proc is None:
            return self.exit_code
        self.exit_code = stop_process(self.proc, first_signal=signal.SIGTERM, timeout=timeout)
        self.proc = None
        return self.exit_code

    def kill(self) -> None:
        """SIGKILL now, and reap."""
        if self.proc is None:
            return
        self.exit_code = stop_process(self.proc, first_signal=signal.SIGKILL, timeout=10.0)
        self.proc = None

    def final_stats(self) -> dict[str, Any]:
        """The counters it printed when it stopped (after ``stop``)."""
        for line in reversed(self.log_path.read_text().splitlines()):
            if line.startswith("moxtrace collector: stopped"):
                result: dict[str, Any] = json.loads(line[line.index("{") :])
                return result
        raise ServiceError(f"no 'stopped' line in the collector's log{self.log()}")

    def log(self) -> str:
        """The tail of its log."""
        return log_tail(self.log_path, 60)


# --- Kafka -------------------------------------------------------------------------------


def _run(coro: Any) -> Any:
    # A thread of its own: callers may be inside a running event loop (async tests).
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=120)


def create_topics(bootstrap: str, partitions: int = 4, *names: str) -> str:
    """A fresh topic with ``partitions`` partitions (and topics ``names``, one partition
    each); the fresh topic's name."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"spans-{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
                + [NewTopic(name, num_partitions=1, replication_factor=1) for name in names]
            )
        finally:
            await admin.close()

    _run(create())
    return topic


def produce(
    bootstrap: str,
    topic: str,
    records: Sequence[tuple[bytes | None, bytes, Sequence[tuple[str, bytes]]]],
) -> None:
    """Send (key, value, headers) records and wait until the broker has them all."""
    from aiokafka import AIOKafkaProducer

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            futures = [
                await producer.send(topic, value=value, key=key, headers=list(headers))
                for key, value, headers in records
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    _run(send())


class DeadLetter:
    """A record read back from a topic."""

    def __init__(self, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]):
        self.key = key
        self.value = value
        self.headers = dict(headers)


def read_topic(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[DeadLetter]:
    """The first ``count`` records of ``topic`` (polled until they are there or ``timeout``)."""
    from aiokafka import AIOKafkaConsumer

    async def read() -> list[DeadLetter]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        found: list[DeadLetter] = []
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while len(found) < count and loop.time() < deadline:
                batches = await consumer.getmany(timeout_ms=200)
                for messages in batches.values():
                    found.extend(DeadLetter(m.key, m.value, m.headers) for m in messages)
        finally:
            await consumer.stop()
        return found

    result: list[DeadLetter] = _run(read())
    return result


# --- spans -------------------------------------------------------------------------------


def make_spans(
    count: int,
    *,
    spans_per_trace: int = 5,
    seed: int = 7,
    attributes: Mapping[str, Any] | None = None,
    start_ns: int | None = None,
) -> list[Any]:
    """``count`` finished spans as the SDK hands them to an exporter, ``spans_per_trace``
    to a trace (a root and its children); every third one an LLM call with content.

    Ids are random from ``seed``; ``attributes`` are added to every span.
    """
    import random
    import time

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

    rng = random.Random(seed)
    resource = Resource({"service.name": "pipeline-test"})
    scope = InstrumentationScope("tests.pipeline", "1")
    base = start_ns if start_ns is not None else time.time_ns()
    spans: list[Any] = []
    trace_id = root = 0
    for index in range(count):
        if index % spans_per_trace == 0:
            trace_id = rng.getrandbits(128) | 1
            root = 0
        span_id = rng.getrandbits(64) | 1
        attrs: dict[str, Any] = {"index": index, "moxn.metadata.batch": "pipeline"}
        if index % 3 == 1:
            attrs.update(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "anthropic",
                    "gen_ai.request.model": "claude-sonnet-4",
                    "gen_ai.usage.input_tokens": 120,
                    "gen_ai.usage.output_tokens": 14,
                    "gen_ai.input.messages": json.dumps(
                        [{"role": "user", "parts": [{"type": "text", "content": f"q{index}"}]}]
                    ),
                }
            )
        attrs.update(attributes or {})
        start = base + index * 1000
        spans.append(
            ReadableSpan(
                name="root" if root == 0 else f"step-{index % spans_per_trace}",
                context=SpanContext(trace_id, span_id, False, TraceFlags(1)),
                parent=SpanContext(trace_id, root, False) if root else None,
                resource=resource,
                attributes=attrs,
                events=[],
                links=[],
                kind=SpanKind.INTERNAL,
                status=Status(StatusCode.UNSET),
                start_time=start,
                end_time=start + 5_000_000,
                instrumentation_scope=scope,
            )
        )
        if root == 0:
            root = span_id
    return spans
