"""One trace from producer to worker, across OS processes, on a real Apache Kafka broker."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.procs import REPO_ROOT
from tests.support.spanfile import SpanRecord, read_spans, wait_for_spans

APPS = "tests.integration.kafka_apps"
ANSWER_PROMPT_ID = "00000000-0000-4000-8000-00000000bbbb"


async def create_topic(bootstrap: str, partitions: int = 1) -> str:
    topic = f"t-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
        )
    finally:
        await admin.close()
    return topic


class Worker:
    """A worker_app process; its stdout lines are collected as they come."""

    def __init__(self, bootstrap: str, topic: str, group: str, mode: str, spans: Path) -> None:
        self.spans = spans
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"{APPS}.worker_app", bootstrap, topic, group, mode, str(spans)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.stderr = ""
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def wait_for(self, predicate: object, what: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited: {self.stop()}")
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if predicate(line):  # type: ignore[operator]
                return line
        raise AssertionError(f"worker never printed {what}; printed {self.seen}")

    def processed(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                break
        return [line for line in self.seen if line.startswith("processed")]

    def stop(self) -> str:
        if self.proc.stderr is None or self.proc.stderr.closed:
            return self.stderr
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._pump_thread.join(10)
        self.stderr = self.proc.stderr.read()
        self.proc.stderr.close()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return self.stderr


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


def produce(bootstrap: str, topic: str, count: int, mode: str, spans: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            f"{APPS}.producer_app",
            bootstrap,
            topic,
            str(count),
            mode,
            str(spans),
        ],
        cwd=REPO_ROOT,
        check=True,
        timeout=120,
        capture_output=True,
    )


def assigned(line: str) -> bool:
    return line.startswith("assigned [") and line != "assigned []"


def by_id(spans: list[SpanRecord]) -> dict[str, SpanRecord]:
    return {s.span_id: s for s in spans}


def check_worker_tree(process: SpanRecord, spans: list[SpanRecord]) -> None:
    """The handler's span and its LLM call hang under the process span, same trace."""
    children = [s for s in spans if s.parent_span_id == process.span_id]
    (answer,) = [s for s in children if s.name == "answer_question"]
    assert answer.trace_id == process.trace_id
    assert answer.attributes["gen_ai.usage.input_tokens"] == 12
    assert answer.attributes["moxn.prompt.id"] == ANSWER_PROMPT_ID
    assert answer.attributes["gen_ai.provider.name"] == "anthropic"


async def test_one_trace_from_app_span_to_worker_llm_call(
    kafka_broker: str, tmp_path: Path, workers: list[Worker]
) -> None:
    topic = await create_topic(kafka_broker)
    worker = Worker(kafka_broker, topic, "g-parent", "parent", tmp_path / "worker.jsonl")
    workers.append(worker)
    worker.wait_for(assigned, "an assignment")
    produce(kafka_broker, topic, 3, "headers", tmp_path / "producer.jsonl")

    worker_spans = wait_for_spans(tmp_path / "worker.jsonl", name=f"process {topic}", count=3)
    producer_spans = read_spans(tmp_path / "producer.jsonl")
    apps = [s for s in producer_spans if s.name == "handle_request"]
    sends = by_id([s for s in producer_spans if s.name == f"send {topic}"])
    assert len(apps) == 3 and len(sends) == 3
    processes = [s for s in worker_spans if s.name == f"process {topic}"]
    assert len({p.trace_id for p in processes}) == 3  # one trace per request
    for process in processes:
        send = sends[process.parent_span_id or ""]  # parent: the producer's span
        assert process.parent_is_remote
        assert process.kind == "CONSUMER" and send.kind == "PRODUCER"
        assert process.trace_id == send.trace_id
        app = next(a for a in apps if a.span_id == send.parent_span_id)
        assert app.trace_id == process.trace_id
        attrs = process.attributes
        assert attrs["messaging.system"] == "kafka"
        assert attrs["messaging.destination.name"] == topic
        assert attrs["messaging.operation.type"] == "process"
        assert attrs["messaging.consumer.group.name"] == "g-parent"
        assert attrs["messaging.destination.partition.id"] == "0"
        assert isinstance(attrs["messaging.kafka.offset"], int)
        assert attrs["messaging.kafka.message.key"].startswith("order-")
        # The app's prompt identity travelled in tracestate and is restored.
        assert attrs["moxn.prompt.id"] == ANSWER_PROMPT_ID
        assert attrs["moxn.commit.id"] == "c0mm1t"
        assert send.attributes["messaging.kafka.offset"] == attrs["messaging.kafka.offset"]
        check_worker_tree(process, worker_spans)


async def test_link_mode_starts_new_traces_linked_to_the_producer(
    kafka_broker: str, tmp_path: Path, workers: list[Worker]
) -> None:
    topic = await create_topic(kafka_broker)
    worker = Worker(kafka_broker, topic, "g-links", "links", tmp_path / "worker.jsonl")
    workers.append(worker)
    worker.wait_for(assigned, "an assignment")
    produce(kafka_broker, topic, 2, "headers", tmp_path / "producer.jsonl")
    spans = wait_for_spans(tmp_path / "worker.jsonl", name=f"process {topic}", count=2)
    sends = by_id([s for s in read_spans(tmp_path / "producer.jsonl") if s.name == f"send {topic}"])
    for process in (s for s in spans if s.name == f"process {topic}"):
        assert process.parent_span_id is None
        (link,) = process.links
        send = sends[link["span_id"]]
        assert link["trace_id"] == send.trace_id != process.trace_id
        check_worker_tree(process, spans)


async def test_batch_processing_is_one_span_with_a_link_per_record(
    kafka_broker: str, tmp_path: Path, workers: list[Worker]
) -> None:
    topic = await create_topic(kafka_broker)
    produce(kafka_broker, topic, 4, "batch", tmp_path / "producer.jsonl")
    worker = Worker(kafka_broker, topic, "g-batch", "batch", tmp_path / "worker.jsonl")
    workers.append(worker)
    deadline = time.monotonic() + 60
    while len(worker.processed()) < 4:
        assert time.monotonic() < deadline, worker.seen
        await asyncio.sleep(0.1)
    spans = read_spans(tmp_path / "worker.jsonl")
    batches = [s for s in spans if s.name == f"process {topic}"]
    sends = by_id([s for s in read_spans(tmp_path / "producer.jsonl") if s.name == f"send {topic}"])
    assert len(sends) == 4
    linked = [link["span_id"] for b in batches for link in b.links]
    assert sorted(linked) == sorted(sends)  # every record linked once
    assert sum(b.attributes["messaging.batch.message_count"] for b in batches) == 4
    answers = [s for s in spans if s.name == "answer_question"]
    assert {a.parent_span_id for a in answers} <= {b.span_id for b in batches}


async def test_two_workers_in_one_group_split_the_partitions(
    kafka_broker: str, tmp_path: Path, workers: list[Worker]
) -> None:
    topic = await create_topic(kafka_broker, partitions=2)
    first = Worker(kafka_broker, topic, "g-split", "handler", tmp_path / "w1.jsonl")
    workers.append(first)
    first.wait_for(lambda line: line == "assigned [0, 1]", "both partitions")
    second = Worker(kafka_broker, topic, "g-split", "handler", tmp_path / "w2.jsonl")
    workers.append(second)
    second.wait_for(assigned, "an assignment")
    first.wait_for(lambda line: line in ("assigned [0]", "assigned [1]"), "one partition")
    produce(kafka_broker, topic, 12, "headers", tmp_path / "producer.jsonl")
    spans = wait_for_spans(
        tmp_path / "w1.jsonl", tmp_path / "w2.jsonl", name=f"process {topic}", count=12
    )
    one = {
        s.attributes["messaging.destination.partition.id"]
        for s in read_spans(tmp_path / "w1.jsonl")
        if s.name == f"process {topic}"
    }
    two = {
        s.attributes["messaging.destination.partition.id"]
        for s in read_spans(tmp_path / "w2.jsonl")
        if s.name == f"process {topic}"
    }
    assert len(one) == 1 and len(two) == 1 and one != two
    processes = [s for s in spans if s.name == f"process {topic}"]
    offsets = {
        (p.attributes["messaging.destination.partition.id"], p.attributes["messaging.kafka.offset"])
        for p in processes
    }
    assert len(offsets) == 12 == len(processes)  # nothing lost, nothing twice
    sends = by_id([s for s in read_spans(tmp_path / "producer.jsonl") if s.name == f"send {topic}"])
    assert {p.parent_span_id for p in processes} == set(sends)


async def test_poison_record_gets_a_new_trace_and_the_worker_goes_on(
    kafka_broker: str, tmp_path: Path, workers: list[Worker]
) -> None:
    topic = await create_topic(kafka_broker)
    worker = Worker(kafka_broker, topic, "g-poison", "parent", tmp_path / "worker.jsonl")
    workers.append(worker)
    worker.wait_for(assigned, "an assignment")
    produce(kafka_broker, topic, 2, "poison", tmp_path / "poison.jsonl")
    produce(kafka_broker, topic, 1, "headers", tmp_path / "producer.jsonl")
    spans = wait_for_spans(tmp_path / "worker.jsonl", name=f"process {topic}", count=3)
    processes = [s for s in spans if s.name == f"process {topic}"]
    roots = [p for p in processes if p.parent_span_id is None]
    continued = [p for p in processes if p.parent_span_id is not None]
    assert len(roots) == 2 and len(continued) == 1
    assert roots[0].trace_id != roots[1].trace_id
    for process in processes:
        check_worker_tree(process, spans)
    stderr = worker.stop()
    assert stderr.count("unusable trace headers") == 1  # rate-limited
    assert "Traceback" not in stderr


async def test_json_payload_pattern_gives_the_same_trace_shape(
    kafka_broker: str, tmp_path: Path, workers: list[Worker]
) -> None:
    topic = await create_topic(kafka_broker)
    worker = Worker(kafka_broker, topic, "g-json", "json", tmp_path / "worker.jsonl")
    workers.append(worker)
    worker.wait_for(assigned, "an assignment")
    produce(kafka_broker, topic, 2, "json", tmp_path / "producer.jsonl")
    spans = wait_for_spans(tmp_path / "worker.jsonl", name="process_item", count=2)
    apps = by_id([s for s in read_spans(tmp_path / "producer.jsonl") if s.name == "handle_request"])
    for item in (s for s in spans if s.name == "process_item"):
        app = apps[item.parent_span_id or ""]
        assert item.parent_is_remote and item.trace_id == app.trace_id
        assert item.attributes["moxn.prompt.id"] == ANSWER_PROMPT_ID
        check_worker_tree(item, spans)
