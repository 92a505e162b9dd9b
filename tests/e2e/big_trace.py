"""A large trace for the viewer: ``spans`` spans in a realistic tree, as ingest events.

A root request span; under it "steps" of ten children each, every fourth child an LLM call
(model, tokens, a short conversation), one in fifty failing; three services. Used by the
browser tests (the DOM stays lean) and bench/viewer_paint.py (first paint).
"""

from __future__ import annotations

import time
from typing import Any

from tests.support.server import new_span_id, new_trace_id, span_events

__all__ = ["big_trace_events"]

_SERVICES = ("gateway", "planner", "tools")


def big_trace_events(spans: int, *, start: float | None = None) -> tuple[str, list[dict[str, Any]]]:
    """(trace id, the ingest events of a trace of ``spans`` spans)."""
    trace_id = new_trace_id()
    t0 = time.time() - 60 if start is None else start
    root = new_span_id()
    total = 30.0
    events = span_events(
        trace_id, root, name="handle_request", start=t0, duration=total, service_name="gateway"
    )
    made = 1
    step = 0
    while made < spans:
        step_id = new_span_id()
        step_start = t0 + (step * 0.37) % (total - 2)
        events += span_events(
            trace_id,
            step_id,
            parent_span_id=root,
            name=f"step {step}",
            start=step_start,
            duration=1.5,
            service_name=_SERVICES[step % 3],
        )
        made += 1
        for child in range(min(10, spans - made)):
            llm = child % 4 == 0
            events += span_events(
                trace_id,
                new_span_id(),
                parent_span_id=step_id,
                name=f"chat claude-sonnet-4-6 #{child}" if llm else f"work {step}.{child}",
                start=step_start + child * 0.12,
                duration=0.1,
                status="ERROR" if (made + child) % 50 == 0 else "OK",
                status_message="upstream timeout" if (made + child) % 50 == 0 else None,
                service_name=_SERVICES[(step + child) % 3],
                llm={
                    "provider": "anthropic",
                    "operation": "chat",
                    "request_model": "claude-sonnet-4-6",
                    "response_model": "claude-sonnet-4-6",
                    "finish_reasons": ["stop"],
                    "usage": {"input_tokens": 120 + child, "output_tokens": 40},
                }
                if llm
                else None,
                content={
                    "input_messages": [
                        {"role": "user", "parts": [{"type": "text", "content": f"step {step}"}]}
                    ],
                    "output_messages": [
                        {"role": "assistant", "parts": [{"type": "text", "content": "done"}]}
                    ],
                }
                if llm
                else None,
            )
        made += min(10, spans - made)
        step += 1
    return trace_id, events
