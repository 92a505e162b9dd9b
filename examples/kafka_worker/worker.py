"""Kafka worker: continues each ticket's trace and answers it with an LLM call.

    python examples/kafka_worker/worker.py --bootstrap 127.0.0.1:9092 --topic tickets

Each record is processed in a CONSUMER span ``process tickets``, the child of the
producer's span; the handler's own span and its LLM call hang under it. Offsets are
committed by hand, after the record was processed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer
from opentelemetry import trace
from ticket_prompt import RESPONSE, session_for

from moxtrace import MoxnClient, Provider
from moxtrace.kafka import TracedConsumer


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="tickets")
    parser.add_argument("--group", default="ticket-workers")
    parser.add_argument("--count", type=int, default=3, help="records to process, then exit")
    args = parser.parse_args()

    async with MoxnClient() as client:
        consumer = AIOKafkaConsumer(
            args.topic,
            bootstrap_servers=args.bootstrap,
            group_id=args.group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        traced = TracedConsumer(consumer, client, group_id=args.group)

        @traced.handler
        async def handle(record: Any) -> None:
            ticket = json.loads(record.value)["ticket"]
            session = session_for(f"Ticket {ticket}: my order never arrived")
            async with client.span(session, name="answer_ticket"):
                # response = await anthropic.messages.create(**session.to_anthropic_invocation())
                await client.log_telemetry_event_from_response(
                    session, RESPONSE, Provider.ANTHROPIC
                )
            process = trace.get_current_span()
            trace_id = format(process.get_span_context().trace_id, "032x")
            print(f"processed ticket {ticket} trace={trace_id}", flush=True)

        try:
            for _ in range(args.count):
                await handle(await consumer.getone())
                await consumer.commit()
        finally:
            await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main())
