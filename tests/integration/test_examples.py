"""The examples run as documented, against the real services."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.integration.test_kafka_e2e import create_topic
from tests.support.procs import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "kafka_worker"


async def test_kafka_worker_example_continues_each_trace(kafka_broker: str) -> None:
    topic = await create_topic(kafka_broker)
    args = ["--bootstrap", kafka_broker, "--topic", topic, "--count", "3"]
    worker = subprocess.Popen(
        [sys.executable, str(EXAMPLE / "worker.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=EXAMPLE,
    )
    try:
        producer = subprocess.run(
            [sys.executable, str(EXAMPLE / "producer.py"), *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=EXAMPLE,
            check=True,
        )
        out, err = worker.communicate(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0, err
    sent = dict(re.findall(r"sent ticket (\d+) trace=([0-9a-f]{32})", producer.stdout))
    processed = dict(re.findall(r"processed ticket (\d+) trace=([0-9a-f]{32})", out))
    assert sorted(sent) == ["1", "2", "3"]
    assert processed == sent
