"""A worker process: consumes, processes each record in its CONSUMER span, logs an LLM call.

python -m tests.integration.kafka_apps.worker_app BOOTSTRAP TOPIC GROUP MODE SPANS_FILE
MODE: parent | links | batch | handler | json. Prints "assigned <partitions>" on each
rebalance and "processed <topic>:<partition>:<offset>" per record; runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

from moxtrace import MoxnTraceCarrier, Provider
from moxtrace.kafka import TracedConsumer
from tests.integration.kafka_apps.common import RESPONSE, client_writing_to, session


class Announce(ConsumerRebalanceListener):  # type: ignore[misc]
    async def on_partitions_revoked(self, revoked: Any) -> None:
        pass

    async def on_partitions_assigned(self, assigned: Any) -> None:
        print("assigned", sorted(tp.partition for tp in assigned), flush=True)


async def main(bootstrap: str, topic: str, group: str, mode: str, spans_file: str) -> None:
    client = client_writing_to(spans_file)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    consumer.subscribe([topic], listener=Announce())
    await consumer.start()
    traced = TracedConsumer(consumer, client, group_id=group, use_links=mode == "links")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def answer(ticket: Any) -> None:
        s = session(f"ticket {ticket}")
        async with client.span(s, name="answer_question"):
            await client.log_telemetry_event_from_response(s, RESPONSE, Provider.ANTHROPIC)
            if ticket == "boom":
                raise RuntimeError("handler failed")

    @traced.handler
    async def handle(record: Any) -> None:
        await answer(json.loads(record.value).get("ticket"))

    async def run() -> None:
        if mode == "batch":
            async for batch in traced.batches(timeout_ms=200):
                async with batch as records:
                    for record in records:
                        await answer(json.loads(record.value).get("ticket"))
                await consumer.commit()
                for record in batch.records:
                    print(
                        f"processed {record.topic}:{record.partition}:{record.offset}", flush=True
                    )
            return
        async for message in traced.messages():
            record = message.record
            try:
                if mode == "handler":
                    await handle(record)
                elif mode == "json":
                    body = json.loads(record.value)
                    carrier = MoxnTraceCarrier.model_validate(body["carrier"])
                    async with client.span_from_carrier(carrier, name="process_item"):
                        await answer(body["data"]["ticket"])
                else:
                    async with message:
                        await answer(json.loads(record.value).get("ticket"))
            except RuntimeError:
                pass  # the span recorded it; the worker goes on
            await consumer.commit()
            print(f"processed {record.topic}:{record.partition}:{record.offset}", flush=True)

    task = asyncio.create_task(run())
    await stop.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await consumer.stop()
    await client.close()


if __name__ == "__main__":
    bootstrap, topic, group, mode, spans_file = sys.argv[1:6]
    asyncio.run(main(bootstrap, topic, group, mode, spans_file))
