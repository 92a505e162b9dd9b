"""The demo's steps against a running server: publish prompts, handle tickets with the
worker running, export, and read the traces back.

Two clients stand for two services: ``support-api`` (the bot) and ``support-worker``
(the worker), each with a TracerProvider of its own whose resource names the service,
both exporting to the server with the demo's key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from moxtrace import MoxnClient
from moxtrace.demo.flow import (
    REPLY_TOPIC,
    InProcessQueue,
    KafkaQueue,
    PromptVersion,
    ReplyQueue,
    SupportBot,
    Worker,
)
from moxtrace.demo.model import StandInModel
from moxtrace.demo.scenario import (
    ANSWER_CONFIG,
    ANSWER_PROMPT,
    ANSWER_QUESTION,
    LOOKUP_ORDER_TOOL,
    PERSONA,
    TASK_NAME,
    TICKETS,
    TRIAGE_CONFIG,
    TRIAGE_INSTRUCTIONS,
    TRIAGE_PROMPT,
    TRIAGE_QUESTION,
)
from moxtrace.exporters import MoxnSpanExporter
from moxtrace.pipeline import CollectorPlugin, PluginSpanProcessor
from moxtrace.settings import Settings
from moxtrace.tracing.processor import BatchSpanProcessor

if TYPE_CHECKING:
    from moxtrace.demo.runner import DemoOptions, Progress

__all__ = ["API_SERVICE", "WORKER_SERVICE", "check_trace", "publish_prompts", "run_steps"]

API_SERVICE = "support-api"
WORKER_SERVICE = "support-worker"
_QUEUE_START_TIMEOUT = 30.0
_WORKER_TIMEOUT = 30.0
_FLUSH_TIMEOUT = 15.0


@dataclass
class _Service:
    """One service of the demo: its client, tracer provider and Moxn destination."""

    client: MoxnClient
    provider: TracerProvider
    exporter: MoxnSpanExporter
    processor: BatchSpanProcessor

    @classmethod
    def start(cls, url: str, key: str, name: str) -> _Service:
        """A client for service ``name`` exporting to the server at ``url``."""
        provider = TracerProvider(
            resource=Resource.create({"service.name": name, "service.namespace": "acme"})
        )
        # The Moxn destination is added by hand, behind the cost plugin (which prices each
        # LLM call: moxn.llm.cost.usd), instead of the client's default one.
        settings = Settings(api_key=key, base_url=url, export=False)
        client = MoxnClient(settings=settings, tracer_provider=provider)
        exporter = MoxnSpanExporter(settings=settings)
        processor = client.tracing.batch_processor(exporter, name=f"moxn-{name}")
        client.tracing.add_processor(PluginSpanProcessor(processor, _plugins()))
        return cls(client, provider, exporter, processor)

    async def flush(self) -> tuple[int, int, int]:
        """(exported, dropped, still pending) after flushing."""
        result = await self.client.flush(_FLUSH_TIMEOUT)
        stats = self.exporter.stats
        return stats.exported, stats.dropped + self.processor.stats.dropped, result.pending

    async def close(self) -> None:
        """Close the client (flushing what is left) and shut the provider down."""
        await self.client.close()
        self.provider.shutdown()


def _plugins() -> list[CollectorPlugin]:
    try:
        from collector_plugins.cost import CostPlugin
    except ImportError:  # pragma: no cover - collector_plugins ships with moxtrace
        return []
    return [CostPlugin()]


async def publish_prompts(client: MoxnClient) -> tuple[PromptVersion, str]:
    """Create the task and its two prompts (sharing the persona message), commit, and
    read the task at that commit (which caches its prompts). The version, and the id of
    the trace the registry calls made."""
    tracer = client.tracing.tracer
    with tracer.start_as_current_span("publish_prompts") as span:
        task = await client.create_task(TASK_NAME, "Triage and answer customer tickets")
        triage = await client.create_prompt(
            task.id,
            TRIAGE_PROMPT,
            [PERSONA, TRIAGE_INSTRUCTIONS, TRIAGE_QUESTION],
            "Classify a ticket (category, urgency)",
            completion_config=TRIAGE_CONFIG,
        )
        persona = triage.messages[0]
        answer = await client.create_prompt(
            task.id,
            ANSWER_PROMPT,
            [persona, ANSWER_QUESTION],  # the persona, shared by reference
            "Answer a ticket, looking orders up",
            completion_config=ANSWER_CONFIG,
            tools=[LOOKUP_ORDER_TOOL],
        )
        commit = await client.commit(task.id, "main", "Support prompts, first version")
        await client.get_task(task.id, commit_id=commit.id)
        span.set_attribute("moxn.task.id", str(task.id))
        span.set_attribute("moxn.commit.id", commit.id)
        trace_id = format(span.get_span_context().trace_id, "032x")
    return PromptVersion(str(triage.id), str(answer.id), commit.id), trace_id


def check_trace(trace: Mapping[str, Any], *, worker: bool) -> None:
    """``ValueError`` unless a ticket's trace has the shape the demo promises: one root,
    LLM calls with tokens, and (``worker``) the worker's span under the producer's."""
    spans = {s["span_id"]: s for s in trace.get("spans", [])}
    if len(trace.get("roots", [])) != 1:
        raise ValueError(f"trace {trace['trace_id']}: expected one root, got {trace['roots']}")
    if not any(
        call["usage"].get("input_tokens") for s in spans.values() for call in s["llm_calls"]
    ):
        raise ValueError(f"trace {trace['trace_id']}: no LLM call with tokens")
    if not worker:
        return
    consumers = [s for s in spans.values() if s["name"].startswith(f"process {REPLY_TOPIC}")]
    if not consumers:
        raise ValueError(f"trace {trace['trace_id']}: the worker's span is missing")
    parent = spans.get(consumers[0].get("parent_span_id") or "")
    if parent is None or not parent["name"].startswith(f"send {REPLY_TOPIC}"):
        raise ValueError(
            f"trace {trace['trace_id']}: the worker's span is not under the producer's span"
        )
    if consumers[0].get("service_name") != WORKER_SERVICE:
        raise ValueError(f"trace {trace['trace_id']}: the worker's span has the wrong service")


async def _fetch(url: str, key: str, trace_ids: list[str]) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, headers={"x-api-key": key}, timeout=30) as http:
        traces = []
        for trace_id in trace_ids:
            reply = await http.get(f"/traces/{trace_id}")
            if reply.status_code != 200:
                raise RuntimeError(f"GET /traces/{trace_id}: {reply.status_code} {reply.text}")
            traces.append(reply.json()["data"])
        return traces


async def run_steps(
    url: str, key: str, options: DemoOptions, progress: Progress
) -> list[dict[str, Any]]:
    """Every step that talks to the server; the traces, as the server returns them."""
    api_service = _Service.start(url, key, API_SERVICE)
    worker_service = _Service.start(url, key, WORKER_SERVICE)
    api, worker_client = api_service.client, worker_service.client
    try:
        with progress.step(
            f"Published task '{TASK_NAME}': prompts '{TRIAGE_PROMPT}' and '{ANSWER_PROMPT}' "
            f"sharing the message '{PERSONA.name}', committed"
        ) as notes:
            version, setup_trace = await publish_prompts(api)
            notes.append(f"commit {version.commit_id[:12]}")

        queue: ReplyQueue = (
            KafkaQueue(api, worker_client, options.kafka) if options.kafka else InProcessQueue(api)
        )
        worker = Worker(worker_client, latency=options.latency)
        try:
            with progress.step(f"Started the worker ({queue.description})"):
                await asyncio.wait_for(queue.start(worker), _QUEUE_START_TIMEOUT)
            bot = SupportBot(api, StandInModel(latency=options.latency), version, queue)
            trace_ids = []
            for ticket in TICKETS:
                with progress.step(f"Ticket {ticket.id} from {ticket.customer.name}") as notes:
                    outcome = await bot.handle(ticket)
                    trace_ids.append(outcome.trace_id)
                    notes.append(f"{outcome.category}, {outcome.llm_calls} LLM calls")
                    if outcome.tool_calls:
                        notes.append(f"{outcome.tool_calls} tool call")
                    if outcome.error:
                        notes.append(f"the model failed ({outcome.error}): escalated")
                    notes.append(f"trace {outcome.trace_id}")
            worker.expect(len(TICKETS))
            with progress.step(f"The worker processed {len(TICKETS)} jobs in the same traces"):
                await worker.wait(_WORKER_TIMEOUT)
        finally:
            await queue.stop()

        with progress.step("Exported every span to the server") as notes:
            total = 0
            for service in (api_service, worker_service):
                exported, dropped, pending = await service.flush()
                if dropped or pending:
                    raise RuntimeError(
                        f"{service.provider.resource.attributes.get('service.name')}: "
                        f"{pending} spans still pending, {dropped} dropped"
                    )
                total += exported
            notes.append(f"{total} spans, priced by the cost plugin")

        with progress.step("Read the traces back from the server") as notes:
            traces = await _fetch(url, key, [setup_trace, *trace_ids])
            for trace in traces[1:]:
                check_trace(trace, worker=True)
            notes.append(f"{len(traces)} traces, {sum(t['span_count'] for t in traces)} spans")
        return traces
    finally:
        await api_service.close()
        await worker_service.close()
