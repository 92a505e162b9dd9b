"""A producer process: an app span per message, sent through TracedProducer.

python -m tests.integration.kafka_apps.producer_app BOOTSTRAP TOPIC COUNT MODE SPANS_FILE
MODE: headers (traced send_and_wait), json (carrier in the body, plain producer),
batch (create_batch + append_to_batch), poison (garbage trace headers, plain producer).
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiokafka import AIOKafkaProducer

from moxtrace.kafka import TracedProducer
from tests.integration.kafka_apps.common import client_writing_to, session


async def main(bootstrap: str, topic: str, count: int, mode: str, spans_file: str) -> None:
    client = client_writing_to(spans_file)
    raw = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer = TracedProducer(raw, client)
    await producer.start()
    try:
        batch = producer.create_batch() if mode == "batch" else None
        for i in range(count):
            s = session(f"ticket {i}")
            async with client.span(s, name="handle_request", metadata={"ticket": i}):
                key = f"order-{i}".encode()
                if mode == "headers":
                    await producer.send_and_wait(
                        topic,
                        json.dumps({"ticket": i}).encode(),
                        key=key,
                        headers=[("app-header", b"kept")],
                    )
                elif mode == "json":
                    carrier = client.extract_context()
                    assert carrier is not None
                    body = {"carrier": carrier.model_dump(mode="json"), "data": {"ticket": i}}
                    await raw.send_and_wait(topic, json.dumps(body).encode(), key=key)
                elif mode == "batch":
                    assert batch is not None
                    producer.append_to_batch(
                        batch, topic=topic, value=json.dumps({"ticket": i}).encode(), key=key
                    )
                elif mode == "poison":
                    await raw.send_and_wait(
                        topic,
                        b"{}",
                        key=key,
                        headers=[("traceparent", b"\xff\xfegarbage"), ("tracestate", b"x" * 9000)],
                    )
        if batch is not None:
            partitions = await raw.partitions_for(topic)
            fut = await producer.send_batch(batch, topic, partition=min(partitions))
            await fut
    finally:
        await producer.stop()
        await client.close()


if __name__ == "__main__":
    bootstrap, topic, count, mode, spans_file = sys.argv[1:6]
    asyncio.run(main(bootstrap, topic, int(count), mode, spans_file))
