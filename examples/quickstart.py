"""A first trace: a prompt session, a span, an LLM call recorded, a carrier handed on.

Runs with no server and no network: the LLM response is a recorded Anthropic payload,
and spans are printed as a tree when the script ends.

    python examples/quickstart.py
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moxtrace import MoxnTraceCarrier, PromptSession, Provider, SyncMoxnClient
from moxtrace.types import (
    CompletionConfig,
    Message,
    MessageRole,
    PromptTemplate,
    TextContent,
    Variable,
)

PROMPT = PromptTemplate(
    id=uuid.uuid4(),
    name="support-answer",
    task_id=uuid.uuid4(),
    branch_id=uuid.uuid4(),
    branch_name="main",
    messages=[
        Message(
            id=uuid.uuid4(),
            name="system",
            role=MessageRole.SYSTEM,
            blocks=[[TextContent(text="You are a support agent for Acme.")]],
        ),
        Message(
            id=uuid.uuid4(),
            name="question",
            role=MessageRole.USER,
            blocks=[[TextContent(text="Customer asks: "), Variable(name="query")]],
        ),
    ],
    completion_config=CompletionConfig(provider=Provider.ANTHROPIC, model="claude-sonnet-4"),
)
RESPONSE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "Your order #42 ships tomorrow."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 31, "output_tokens": 9},
}


def print_tree(spans: Sequence[ReadableSpan]) -> None:
    children: dict[int | None, list[ReadableSpan]] = {}
    ids = {s.context.span_id for s in spans}
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        parent = span.parent.span_id if span.parent and span.parent.span_id in ids else None
        children.setdefault(parent, []).append(span)

    def walk(parent: int | None, depth: int) -> None:
        for span in children.get(parent, []):
            attrs = span.attributes or {}
            ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
            extra = ""
            if "gen_ai.request.model" in attrs:
                extra = (
                    f"  model={attrs['gen_ai.request.model']}"
                    f" tokens={attrs.get('gen_ai.usage.input_tokens')}"
                    f"+{attrs.get('gen_ai.usage.output_tokens')}"
                )
            print(f"{'  ' * depth}- {span.name} ({ms:.2f} ms){extra}")
            walk(span.context.span_id, depth + 1)

    trace_id = format(spans[0].context.trace_id, "032x")
    print(f"trace {trace_id}")
    walk(None, 1)


def main() -> None:
    exporter = InMemorySpanExporter()
    client = SyncMoxnClient(span_processors=[SimpleSpanProcessor(exporter)])
    jobs: queue.Queue[dict[str, object]] = queue.Queue()

    def worker() -> None:
        message = jobs.get()
        carrier = MoxnTraceCarrier.model_validate(message["carrier"])
        with client.span_from_carrier(carrier, name="send_reply_email"):
            pass

    thread = threading.Thread(target=worker)
    thread.start()
    session = PromptSession(PROMPT, {"query": "Where is my order #42?"})
    with client.span(session, metadata={"customer_id": "cust_123"}):
        # response = anthropic.Anthropic().messages.create(**session.to_anthropic_invocation())
        client.log_telemetry_event_from_response(session, RESPONSE, Provider.ANTHROPIC)
        carrier = client.extract_context()
        assert carrier is not None
        jobs.put({"carrier": carrier.model_dump(mode="json"), "order": 42})
    thread.join()
    client.close()
    print_tree(exporter.get_finished_spans())


if __name__ == "__main__":
    main()
