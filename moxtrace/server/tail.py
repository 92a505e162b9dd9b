"""``moxtrace tail``: follow the live tail and draw each finished trace as a tree.

A client of ``GET /traces/stream`` (server-sent events) needing only httpx, not the
server extra. When a trace's root span has ended, the whole trace is fetched
(``GET /traces/{id}``) and drawn; traces whose root never shows up (it belongs to another
service) are drawn once they have been quiet for ``quiet`` seconds.

    trace 4bf92f3577b34da6a3ce929d0e0e4736  chat-service  1.23 s  3 spans  ✗ 1 error
    └─ handle_request  1.23 s
       ├─ retrieve  120.0 ms
       └─ chat  980.0 ms  claude-sonnet-4  120→48 tok
          ✗ ERROR  upstream timeout
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import httpx

__all__ = ["SseEvent", "TailOptions", "format_duration", "parse_sse", "render_trace", "run_tail"]

_GLYPHS = {
    "unicode": {
        "branch": "├─ ",
        "last": "└─ ",
        "pipe": "│  ",
        "blank": "   ",
        "error": "✗",
        "arrow": "→",
    },
    "ascii": {
        "branch": "|- ",
        "last": "`- ",
        "pipe": "|  ",
        "blank": "   ",
        "error": "x",
        "arrow": "->",
    },
}
_RED = "\x1b[31m"
_DIM = "\x1b[2m"
_BOLD = "\x1b[1m"
_RESET = "\x1b[0m"


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event."""

    event: str
    data: str
    id: str | None = None


def parse_sse(lines: Iterable[str]) -> Iterator[SseEvent | None]:
    """Server-sent events from a stream of lines; ``None`` for each keep-alive comment."""
    event: str = "message"
    event_id: str | None = None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield SseEvent(event, "\n".join(data), event_id)
            event, event_id, data = "message", None, []
            continue
        if line.startswith(":"):
            yield None
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = value


def format_duration(ms: float | None) -> str:
    """``12.3 ms``, ``1.23 s``, or ``running`` when unknown."""
    if ms is None:
        return "running"
    if ms < 1000:
        return f"{ms:.1f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    return f"{ms / 60_000:.1f} min"


def _tokens(calls: list[dict[str, Any]]) -> tuple[int | None, int | None]:
    inputs = [c["usage"].get("input_tokens") for c in calls if c.get("usage")]
    outputs = [c["usage"].get("output_tokens") for c in calls if c.get("usage")]
    total_in = (
        sum(i for i in inputs if i is not None) if any(i is not None for i in inputs) else None
    )
    total_out = (
        sum(o for o in outputs if o is not None) if any(o is not None for o in outputs) else None
    )
    return total_in, total_out


def _paint(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{_RESET}" if color else text


def _span_line(span: dict[str, Any], color: bool, arrow: str) -> str:
    parts = [
        _paint(span.get("name") or "?", _BOLD, color),
        format_duration(span.get("duration_ms")),
    ]
    calls = span.get("llm_calls") or []
    if calls:
        call = calls[0]
        model = call.get("response_model") or call.get("request_model")
        if model:
            parts.append(model)
        tokens_in, tokens_out = _tokens(calls)
        if tokens_in is not None or tokens_out is not None:
            shown_in = tokens_in if tokens_in is not None else "?"
            shown_out = tokens_out if tokens_out is not None else "?"
            parts.append(f"{shown_in}{arrow}{shown_out} tok")
    return "  ".join(parts)


def render_trace(trace: dict[str, Any], *, ascii: bool = False, color: bool = False) -> str:
    """The trace (as ``GET /traces/{id}`` returns it) drawn as a tree, one span per line."""
    glyph = _GLYPHS["ascii" if ascii else "unicode"]
    spans = {span["span_id"]: span for span in trace.get("spans", [])}
    head = [f"trace {trace.get('trace_id')}"]
    if trace.get("service_name"):
        head.append(str(trace["service_name"]))
    head.append(format_duration(trace.get("duration_ms")))
    count = trace.get("span_count", len(spans))
    head.append(f"{count} span{'s' if count != 1 else ''}")
    usage = trace.get("usage") or {}
    if trace.get("llm_call_count"):
        head.append(
            f"{trace['llm_call_count']} LLM call{'s' if trace['llm_call_count'] != 1 else ''}"
            f" {usage.get('input_tokens', 0)}{glyph['arrow']}{usage.get('output_tokens', 0)} tok"
        )
    errors = trace.get("error_count") or 0
    if errors:
        head.append(
            _paint(f"{glyph['error']} {errors} error{'s' if errors != 1 else ''}", _RED, color)
        )
    lines = ["  ".join(head)]
    seen: set[str] = set()
    roots = [r for r in trace.get("roots", []) if r in spans]
    stack: list[tuple[str, str, bool]] = [
        (root, "", i == len(roots) - 1) for i, root in reversed(list(enumerate(roots)))
    ]
    while stack:
        span_id, prefix, last = stack.pop()
        if span_id in seen:
            continue
        seen.add(span_id)
        span = spans[span_id]
        branch = glyph["last"] if last else glyph["branch"]
        lines.append(f"{prefix}{branch}{_span_line(span, color, glyph['arrow'])}")
        inner = prefix + (glyph["blank"] if last else glyph["pipe"])
        status = span.get("status") or {}
        if status.get("code") == "ERROR":
            message = status.get("message") or ""
            lines.append(_paint(f"{inner}{glyph['error']} ERROR  {message}".rstrip(), _RED, color))
        children = [c for c in span.get("children", []) if c in spans]
        stack.extend(
            (child, inner, i == len(children) - 1)
            for i, child in reversed(list(enumerate(children)))
        )
    return "\n".join(lines)


@dataclass
class TailOptions:
    """How ``run_tail`` behaves."""

    max_traces: int | None = None
    """Exit after drawing this many traces."""
    json_lines: bool = False
    """Print each stream message as a JSON line instead of drawing trees."""
    ascii: bool = False
    color: bool = False
    quiet: float = 5.0
    """Seconds without news after which a trace with no root seen is drawn anyway."""
    reconnect: bool = True
    timeout: float = 10.0


class _Follower:
    """Which traces are waiting to be drawn (bounded)."""

    def __init__(self, limit: int = 10_000) -> None:
        self.pending: OrderedDict[str, float] = OrderedDict()
        self.drawn: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def saw(self, trace_id: str, now: float) -> None:
        if trace_id in self.drawn:
            return
        self.pending[trace_id] = now
        self.pending.move_to_end(trace_id)
        while len(self.pending) > self._limit:
            self.pending.popitem(last=False)

    def done(self, trace_id: str) -> None:
        self.pending.pop(trace_id, None)
        self.drawn[trace_id] = None
        while len(self.drawn) > self._limit:
            self.drawn.popitem(last=False)

    def quiet_since(self, deadline: float) -> list[str]:
        return [t for t, seen in self.pending.items() if seen <= deadline]


def run_tail(
    base_url: str,
    api_key: str,
    *,
    out: TextIO,
    options: TailOptions | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Follow ``base_url``'s live tail, drawing traces to ``out``; the exit code."""
    opts = options or TailOptions()
    headers = {"x-api-key": api_key, "accept": "text/event-stream"}
    follower = _Follower()
    drawn = 0
    backoff = 1.0
    timeout = httpx.Timeout(opts.timeout, read=None)
    with httpx.Client(base_url=base_url, headers=headers, timeout=timeout) as client:

        def draw(trace_id: str) -> bool:
            nonlocal drawn
            follower.done(trace_id)
            reply = client.get(f"/traces/{trace_id}")
            if reply.status_code != 200:
                return False
            trace = reply.json()["data"]
            print(render_trace(trace, ascii=opts.ascii, color=opts.color), file=out, flush=True)
            drawn += 1
            return opts.max_traces is not None and drawn >= opts.max_traces

        while True:
            try:
                with client.stream("GET", "/traces/stream") as response:
                    if response.status_code in (401, 403):
                        print(f"moxtrace tail: {response.read().decode()}", file=out, flush=True)
                        return 2
                    response.raise_for_status()
                    backoff = 1.0
                    for message in parse_sse(response.iter_lines()):
                        now = clock()
                        if message is not None and message.event == "spans":
                            data = json.loads(message.data)
                            if opts.json_lines:
                                print(json.dumps(data), file=out, flush=True)
                                drawn += 1
                                if opts.max_traces is not None and drawn >= opts.max_traces:
                                    return 0
                                continue
                            trace_id = data["trace_id"]
                            follower.saw(trace_id, now)
                            root_done = any(
                                s.get("parent_span_id") is None and s.get("end_time")
                                for s in data.get("spans", [])
                            )
                            if root_done and draw(trace_id):
                                return 0
                        elif message is not None and message.event == "ready":
                            tenant = json.loads(message.data).get("tenant")
                            print(
                                f"moxtrace tail: following {base_url} (tenant {tenant})",
                                file=out,
                                flush=True,
                            )
                        elif message is not None and message.event == "dropped":
                            print(
                                f"moxtrace tail: fell behind, {message.data}", file=out, flush=True
                            )
                        for trace_id in follower.quiet_since(now - opts.quiet):
                            if draw(trace_id):
                                return 0
            except httpx.HTTPError as exc:
                if not opts.reconnect:
                    print(f"moxtrace tail: {exc}", file=out, flush=True)
                    return 1
                print(
                    f"moxtrace tail: {exc}; reconnecting in {backoff:.0f} s", file=out, flush=True
                )
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if not opts.reconnect:
                return 0
