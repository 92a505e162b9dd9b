"""Drawing stored traces as trees in a terminal: names, services, durations, models,
tokens, cost and errors, as ``GET /traces/{trace_id}`` returns them.

    trace 4bf92f3577b34da6a3ce929d0e0e4736  handle_ticket  412.0 ms  9 spans  3 LLM calls  …
    └─ handle_ticket  support-api  412.0 ms  customer_id=cust_1001
       ├─ triage  61.2 ms  gpt-4o-mini-2024-07-18  74→13 tok  $0.00002
       └─ send support-replies  2.1 ms
          └─ process support-replies  support-worker  21.4 ms
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from moxtrace.server.tail import format_duration

__all__ = [
    "COST_ATTRIBUTES",
    "Glyphs",
    "format_cost",
    "render_trace_tree",
    "span_cost",
    "trace_cost",
]

COST_ATTRIBUTES: tuple[str, ...] = (
    "moxn.llm.cost.usd",  # collector_plugins.cost
    "gen_ai.usage.cost",
)
"""Span attributes read as an LLM call's cost in US dollars (the first one present)."""

_MAX_MESSAGE = 100


@dataclass(frozen=True)
class Glyphs:
    """The characters trees are drawn with."""

    branch: str = "├─ "
    last: str = "└─ "
    pipe: str = "│  "
    blank: str = "   "
    error: str = "✗"
    arrow: str = "→"
    ellipsis: str = "…"

    @classmethod
    def ascii(cls) -> Glyphs:
        """Plain ASCII, for terminals that cannot show box drawing characters."""
        return cls("|- ", "`- ", "|  ", "   ", "x", "->", "...")


def span_cost(span: Mapping[str, Any]) -> float | None:
    """The cost of a span's LLM calls (US dollars), from its attributes; None if unknown."""
    attributes = span.get("attributes") or {}
    for name in COST_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def trace_cost(spans: Iterable[Mapping[str, Any]]) -> float | None:
    """The summed cost of the spans that have one; None when none has."""
    costs = [c for c in (span_cost(s) for s in spans) if c is not None]
    return sum(costs) if costs else None


def format_cost(cost: float | None) -> str:
    """``$0.0123``; ``$0.00004`` for small amounts; empty when unknown."""
    if cost is None:
        return ""
    if cost == 0:
        return "$0"
    if cost < 0.001:
        return f"${cost:.5f}"
    return f"${cost:.4f}"


def _tokens(span: Mapping[str, Any]) -> tuple[int, int] | None:
    calls = span.get("llm_calls") or []
    if not calls:
        return None
    usage = [c.get("usage") or {} for c in calls]
    if all(u.get("input_tokens") is None and u.get("output_tokens") is None for u in usage):
        return None
    return (
        sum(u.get("input_tokens") or 0 for u in usage),
        sum(u.get("output_tokens") or 0 for u in usage),
    )


def _span_line(span: Mapping[str, Any], parent_service: str | None, glyph: Glyphs) -> list[str]:
    parts = [str(span.get("name") or "?")]
    service = span.get("service_name")
    if service and service != parent_service:
        parts.append(f"[{service}]")
    parts.append(format_duration(span.get("duration_ms")))
    calls = span.get("llm_calls") or []
    if calls:
        model = calls[0].get("response_model") or calls[0].get("request_model")
        if model:
            parts.append(str(model))
    tokens = _tokens(span)
    if tokens is not None:
        parts.append(f"{tokens[0]}{glyph.arrow}{tokens[1]} tok")
    cost = format_cost(span_cost(span))
    if cost:
        parts.append(cost)
    metadata = span.get("metadata") or {}
    if metadata and span.get("parent_span_id") is None:
        parts.append(" ".join(f"{k}={v}" for k, v in sorted(metadata.items())))
    return parts


def render_trace_tree(trace: Mapping[str, Any], *, glyph: Glyphs | None = None) -> str:
    """A trace (``GET /traces/{id}``'s ``data``) drawn as a tree, one span a line."""
    g = glyph or Glyphs()
    spans = {s["span_id"]: s for s in trace.get("spans", [])}
    usage = trace.get("usage") or {}
    head = [
        f"trace {trace.get('trace_id')}",
        str(trace.get("root_name") or "?"),
        format_duration(trace.get("duration_ms")),
        f"{trace.get('span_count', len(spans))} spans",
    ]
    if trace.get("llm_call_count"):
        calls = trace["llm_call_count"]
        head.append(f"{calls} LLM call{'s' if calls != 1 else ''}")
        head.append(f"{usage.get('input_tokens', 0)}{g.arrow}{usage.get('output_tokens', 0)} tok")
    cost = format_cost(trace_cost(spans.values()))
    if cost:
        head.append(cost)
    errors = trace.get("error_count") or 0
    if errors:
        head.append(f"{g.error} {errors} error{'s' if errors != 1 else ''}")
    lines = ["  ".join(head)]
    roots = [r for r in trace.get("roots", []) if r in spans]
    stack: list[tuple[str, str, bool, str | None]] = [
        (root, "", i == len(roots) - 1, None) for i, root in reversed(list(enumerate(roots)))
    ]
    seen: set[str] = set()
    while stack:
        span_id, prefix, last, parent_service = stack.pop()
        if span_id in seen:
            continue
        seen.add(span_id)
        span = spans[span_id]
        lines.append(
            prefix + (g.last if last else g.branch) + "  ".join(_span_line(span, parent_service, g))
        )
        inner = prefix + (g.blank if last else g.pipe)
        status = span.get("status") or {}
        if status.get("code") == "ERROR":
            message = str(status.get("message") or "")
            if len(message) > _MAX_MESSAGE:
                message = message[: _MAX_MESSAGE - len(g.ellipsis)] + g.ellipsis
            lines.append(f"{inner}{g.error} ERROR  {message}".rstrip())
        children = [c for c in span.get("children", []) if c in spans]
        service = span.get("service_name")
        stack.extend(
            (child, inner, i == len(children) - 1, service)
            for i, child in reversed(list(enumerate(children)))
        )
    return "\n".join(lines)
