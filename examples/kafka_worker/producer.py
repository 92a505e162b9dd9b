"""Kafka producer: each support ticket is handled in a span and sent with its trace.

    python examples/kafka_worker/producer.py --bootstrap 127.0.0.1:9092 --topic tickets

Start the broker with ``deploy/kafka/kafka.sh start DIR 9092`` (see docs/services.md).
Spans go wherever the client sends them: the Moxn platform when ``MOXN_API_KEY`` is set,
any OTLP backend with ``OTEL_EXPORTER_OTLP_ENDPOINT``.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from aiokafka import AIOKafkaProducer
from ticket_prompt import session_for

from moxtrace import MoxnClient
from moxtrace.kafka import TracedProducer


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="tickets")
    parser.add_argument("--count", type=int, default=3)
    args = parser.parse_args()

    async with MoxnClient() as client:
        producer = TracedProducer(AIOKafkaProducer(bootstrap_servers=args.bootstrap), client)
        await producer.start()
        try:
            for number in range(1, args.count + 1):
                session = session_for(f"Ticket {number}: my order never arrived")
                async with client.span(session, name="open_ticket") as span:
                    await producer.send_and_wait(
                        args.topic,
                        json.dumps({"ticket": number}).encode(),
                        key=f"ticket-{number}".encode(),
                    )
                trace_id = format(span.get_span_context().trace_id, "032x")
                print(f"sent ticket {number} trace={trace_id}", flush=True)
        finally:
            await producer.stop()


if __name__ == "__main__":
    asyncio.run(main())
