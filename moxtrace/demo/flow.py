"""The demo's application: a support bot that triages and answers tickets, and a worker.

It is written the way an application uses moxtrace, against the public API only:

- prompts are read from the registry at a commit, sessions made from typed session data;
- each ticket is handled in a span (``handle_ticket``, with the customer as metadata) in
  which the ``triage-ticket`` call, the ``answer-ticket`` call(s), the ``lookup_order``
  tool and the hand-off to the worker are child spans;
- the reply is handed to a background worker through a queue, with the trace: an
  in-process queue carrying a ``MoxnTraceCarrier`` in the job's JSON, or a Kafka topic
  carrying it in record headers (``TracedProducer`` / ``TracedConsumer``). Either way the
  worker's spans (another service, ``support-worker``) continue the ticket's trace under
  the producer's span.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from opentelemetry.trace import SpanKind

from moxtrace import MoxnClient, MoxnTraceCarrier, Provider
from moxtrace.demo.model import StandInModel, lookup_order
from moxtrace.demo.scenario import AnswerInput, Ticket, TriageInput
from moxtrace.tracing import semconv
from moxtrace.types.telemetry import ParsedResponse, StopReason

__all__ = [
    "REPLY_TOPIC",
    "InProcessQueue",
    "KafkaQueue",
    "PromptVersion",
    "ReplyQueue",
    "SupportBot",
    "TicketOutcome",
    "Worker",
    "describe_error",
]

REPLY_TOPIC = "support-replies"
"""Where replies go (a Kafka topic gets a per-run suffix, and is deleted afterwards)."""

Job = dict[str, Any]
_STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class PromptVersion:
    """The prompts the bot uses, pinned to a commit."""

    triage_prompt_id: str
    answer_prompt_id: str
    commit_id: str


@dataclass
class TicketOutcome:
    """What happened to one ticket."""

    ticket: Ticket
    trace_id: str
    category: str = "?"
    llm_calls: int = 0
    tool_calls: int = 0
    error: str | None = None
    reply: str = ""


class ReplyQueue(Protocol):
    """How a job travels from the bot to the worker, with its trace."""

    description: str

    async def start(self, worker: Worker) -> None:
        """Connect, and start delivering jobs to ``worker``."""

    async def send(self, job: Job) -> None:
        """Send ``job`` from inside the current span (the worker continues its trace)."""

    async def stop(self) -> None:
        """Stop delivering and disconnect (idempotent)."""


class Worker:
    """The background worker: sends the reply email, or pages a human for escalations.

    ``process`` runs inside the span that continues the producer's trace.
    """

    def __init__(self, client: MoxnClient, *, latency: float = 1.0) -> None:
        self.client = client
        self.latency = latency
        self.done: list[Job] = []
        self._expected = 0
        self._all_done = asyncio.Event()

    def expect(self, count: int) -> None:
        """``wait`` returns once ``count`` jobs were processed."""
        self._expected = count
        if len(self.done) >= count:
            self._all_done.set()

    async def wait(self, timeout: float) -> None:
        """Until the expected jobs are processed; ``TimeoutError`` after ``timeout`` s."""
        await asyncio.wait_for(self._all_done.wait(), timeout)

    async def _work(self, seconds: float) -> None:
        if seconds * self.latency > 0:
            await asyncio.sleep(seconds * self.latency)

    async def process(self, job: Job) -> None:
        """Handle one job (inside its trace)."""
        tracer = self.client.tracing.tracer
        if job["kind"] == "escalation":
            with tracer.start_as_current_span(
                "page_on_call",
                kind=SpanKind.CLIENT,
                attributes={"pager.service": "billing-oncall", "ticket.id": job["ticket_id"]},
            ):
                await self._work(0.012)
        else:
            with tracer.start_as_current_span(
                "render_email", attributes={"email.template": "support-reply"}
            ):
                await self._work(0.004)
            with tracer.start_as_current_span(
                "smtp send",
                kind=SpanKind.CLIENT,
                attributes={"server.address": "smtp.acme.test", "email.to": job["customer_id"]},
            ):
                await self._work(0.015)
        self.done.append(job)
        if self._expected and len(self.done) >= self._expected:
            self._all_done.set()


class InProcessQueue:
    """An ``asyncio.Queue`` between the bot and the worker, in this process.

    The producer side sends from a PRODUCER span and puts a ``MoxnTraceCarrier`` (as JSON)
    in the job; the worker continues the trace with ``span_from_carrier``.
    """

    description = "in-process queue"

    def __init__(self, client: MoxnClient) -> None:
        self._client = client
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=100)
        self._task: asyncio.Task[None] | None = None

    async def start(self, worker: Worker) -> None:
        """Start the consuming task."""
        self._task = asyncio.create_task(self._consume(worker), name="demo-worker")

    async def _consume(self, worker: Worker) -> None:
        while True:
            raw = await self._queue.get()
            if raw is None:
                return
            message = json.loads(raw)
            carrier = MoxnTraceCarrier.model_validate(message["carrier"])
            async with worker.client.span_from_carrier(
                carrier,
                name=f"process {REPLY_TOPIC}",
                metadata={"ticket_id": message["job"]["ticket_id"]},
            ) as span:
                span.set_attributes(
                    {
                        semconv.MESSAGING_SYSTEM: "in_process",
                        semconv.MESSAGING_DESTINATION_NAME: REPLY_TOPIC,
                        semconv.MESSAGING_OPERATION_TYPE: "process",
                    }
                )
                await worker.process(message["job"])

    async def send(self, job: Job) -> None:
        """Put ``job`` on the queue from a PRODUCER span, with the carrier."""
        with self._client.tracing.tracer.start_as_current_span(
            f"send {REPLY_TOPIC}",
            kind=SpanKind.PRODUCER,
            attributes={
                semconv.MESSAGING_SYSTEM: "in_process",
                semconv.MESSAGING_DESTINATION_NAME: REPLY_TOPIC,
                semconv.MESSAGING_OPERATION_TYPE: "send",
            },
        ):
            carrier = self._client.extract_context()
            assert carrier is not None  # inside a span
            payload = {"carrier": carrier.model_dump(mode="json"), "job": job}
            await self._queue.put(json.dumps(payload))

    async def stop(self) -> None:
        """Let the worker finish what is queued, then end it."""
        task, self._task = self._task, None
        if task is None:
            return
        await self._queue.put(None)
        try:
            await asyncio.wait_for(task, 10)
        except asyncio.TimeoutError:
            task.cancel()


class KafkaQueue:
    """A Kafka topic between the bot and the worker (``--kafka HOST:PORT``).

    The topic (``support-replies-<run>``) is created for the run and deleted at the end.
    ``TracedProducer`` sends each job in a PRODUCER span with the trace in the record
    headers; ``TracedConsumer`` processes each record in a CONSUMER span, its child.
    """

    def __init__(self, client: MoxnClient, worker_client: MoxnClient, bootstrap: str) -> None:
        self._client = client
        self._worker_client = worker_client
        self.bootstrap = bootstrap
        self.topic = f"{REPLY_TOPIC}-{uuid.uuid4().hex[:8]}"
        self.description = f"Kafka topic {self.topic} on {bootstrap}"
        self._producer: Any = None
        self._consumer: Any = None
        self._admin: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, worker: Worker) -> None:
        """Create the topic, start the traced producer and consumer."""
        try:
            from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
            from aiokafka.admin import AIOKafkaAdminClient, NewTopic
        except ImportError as exc:
            raise RuntimeError(
                f"--kafka needs aiokafka ({exc}): pip install 'moxtrace[kafka]'"
            ) from None
        from moxtrace.kafka import TracedConsumer, TracedProducer

        # The reason a connection fails is in the exception the demo reports.
        logging.getLogger("aiokafka").addHandler(logging.NullHandler())
        timeouts = {"request_timeout_ms": 10_000}
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, **timeouts)
        try:
            await admin.start()
        except Exception as exc:
            raise ConnectionError(
                f"no Kafka broker answers at {self.bootstrap} ({type(exc).__name__})"
            ) from exc
        self._admin = admin
        await admin.create_topics([NewTopic(self.topic, 1, 1)])
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, **timeouts)
        await producer.start()
        self._producer = TracedProducer(producer, self._client)
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id="moxtrace-demo-worker",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **timeouts,
        )
        await consumer.start()
        self._consumer = consumer
        traced = TracedConsumer(consumer, self._worker_client, group_id="moxtrace-demo-worker")
        self._task = asyncio.create_task(self._consume(traced, worker), name="demo-kafka-worker")

    async def _consume(self, traced: Any, worker: Worker) -> None:
        async for message in traced.messages():
            async with message as record:
                await worker.process(json.loads(record.value))
            await self._consumer.commit()

    async def send(self, job: Job) -> None:
        """Send ``job`` and wait for the broker's acknowledgement."""
        await self._producer.send_and_wait(
            self.topic, json.dumps(job).encode(), key=job["ticket_id"].encode()
        )

    async def stop(self) -> None:
        """Stop the consumer and producer; delete the run's topic (each step bounded)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        consumer, producer, admin = self._consumer, self._producer, self._admin
        self._consumer = self._producer = self._admin = None
        steps: list[Awaitable[Any]] = []
        if consumer is not None:
            steps.append(consumer.stop())
        if producer is not None:
            steps.append(producer.stop())
        if admin is not None:
            steps.append(admin.delete_topics([self.topic]))
            steps.append(admin.close())
        for step in steps:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(step, _STOP_TIMEOUT)


@dataclass
class SupportBot:
    """Handles tickets: triage (OpenAI Chat), answer (Anthropic, with a tool), hand-off."""

    client: MoxnClient
    llm: StandInModel
    prompts: PromptVersion
    queue: ReplyQueue

    async def handle(self, ticket: Ticket) -> TicketOutcome:
        """Handle one ticket in a trace of its own."""
        client, llm, version = self.client, self.llm, self.prompts
        triage = await client.create_prompt_session(
            version.triage_prompt_id,
            commit_id=version.commit_id,
            session_data=TriageInput(ticket=ticket),
        )
        metadata = {
            "customer_id": ticket.customer.id,
            "ticket_id": ticket.id,
            "channel": ticket.channel,
            "plan": ticket.customer.plan,
        }
        async with client.span(triage, name="handle_ticket", metadata=metadata) as root:
            outcome = TicketOutcome(ticket, format(root.get_span_context().trace_id, "032x"))
            async with client.span(triage, name="triage"):
                completion = await llm.openai.chat.completions.create(
                    **triage.to_openai_chat_invocation()
                )
                await client.log_telemetry_event_from_response(
                    triage, completion, Provider.OPENAI_CHAT
                )
            outcome.llm_calls += 1
            verdict = json.loads(triage.parse_response(completion).text)
            outcome.category = str(verdict.get("category", "other"))
            root.set_attribute("ticket.category", outcome.category)
            root.set_attribute("ticket.urgency", str(verdict.get("urgency", "low")))

            try:
                outcome.reply = await self._answer(ticket, outcome)
            except Exception as exc:  # the provider failed: a human takes over
                outcome.error = describe_error(exc)
                root.add_event("escalated", {"reason": type(exc).__name__})
                await self.queue.send(
                    {
                        "kind": "escalation",
                        "ticket_id": ticket.id,
                        "customer_id": ticket.customer.id,
                        "reason": outcome.error,
                    }
                )
            else:
                await self.queue.send(
                    {
                        "kind": "reply",
                        "ticket_id": ticket.id,
                        "customer_id": ticket.customer.id,
                        "text": outcome.reply,
                    }
                )
        return outcome

    async def _answer(self, ticket: Ticket, outcome: TicketOutcome) -> str:
        client, llm, version = self.client, self.llm, self.prompts
        session = await client.create_prompt_session(
            version.answer_prompt_id,
            commit_id=version.commit_id,
            session_data=AnswerInput(ticket=ticket, category=outcome.category),
        )
        tracer = client.tracing.tracer
        async with client.span(session, name="answer_ticket"):
            outcome.llm_calls += 1
            try:
                response = await llm.anthropic.messages.create(**session.to_anthropic_invocation())
            except Exception as exc:
                # Record the failed call (what was asked, and why it failed), then let the
                # span record the exception.
                failed = ParsedResponse(
                    provider=Provider.ANTHROPIC, model=session.model, stop_reason=StopReason.ERROR
                )
                await client.log_telemetry_event(
                    session.create_llm_event_from_parsed_response(failed, error=describe_error(exc))
                )
                raise
            await client.log_telemetry_event_from_response(session, response, Provider.ANTHROPIC)
            parsed = session.append_response(response)
            if not parsed.tool_calls:
                return parsed.text
            for call in parsed.tool_calls:
                outcome.tool_calls += 1
                with tracer.start_as_current_span(
                    f"tool {call.tool_name}",
                    attributes={
                        "gen_ai.tool.name": call.tool_name,
                        "gen_ai.tool.call.id": call.tool_call_id,
                    },
                ) as tool_span:
                    result = await self._call_tool(call.tool_name, call.input)
                    tool_span.set_attribute("tool.result.status", str(result.get("status")))
                session.append_tool_result(call.tool_call_id, result, tool_name=call.tool_name)
            # A second call in the same span: recorded with its own timing, as a child span.
            outcome.llm_calls += 1
            started = datetime.now(timezone.utc)
            response = await llm.anthropic.messages.create(**session.to_anthropic_invocation())
            event = session.create_llm_event_from_response(
                response, started_at=started, ended_at=datetime.now(timezone.utc)
            )
            await client.log_telemetry_event(event)
            return session.parse_response(response).text

    async def _call_tool(self, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        if name != "lookup_order":
            return {"error": f"unknown tool {name}"}
        if self.llm.latency > 0:
            await asyncio.sleep(0.008 * self.llm.latency)  # a database read
        return lookup_order(str(arguments.get("order_id")))


def describe_error(exc: BaseException) -> str:
    """A provider error in one short line: ``OverloadedError (529 overloaded_error)``."""
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    kind = None
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        kind = body["error"].get("type")
    detail = " ".join(str(part) for part in (status, kind) if part is not None)
    return f"{type(exc).__name__} ({detail})" if detail else f"{type(exc).__name__}: {exc}"
