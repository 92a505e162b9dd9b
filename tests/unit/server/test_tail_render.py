"""``moxtrace tail``: parsing the stream and drawing traces."""

from __future__ import annotations

from typing import Any

from moxtrace.server.tail import SseEvent, format_duration, parse_sse, render_trace


def test_parse_sse() -> None:
    lines = [
        ": keep-alive",
        "",
        "id: 7",
        "event: spans",
        'data: {"a": 1}',
        "",
        "data: one",
        "data: two",
        "",
    ]
    assert list(parse_sse(lines)) == [
        None,
        SseEvent("spans", '{"a": 1}', "7"),
        SseEvent("message", "one\ntwo", None),
    ]


def test_format_duration() -> None:
    assert format_duration(None) == "running"
    assert format_duration(12.34) == "12.3 ms"
    assert format_duration(1234) == "1.23 s"
    assert format_duration(90_000) == "1.5 min"


def span(span_id: str, name: str, children: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "span_id": span_id,
        "name": name,
        "children": children,
        "duration_ms": extra.pop("duration_ms", 10.0),
        "status": extra.pop("status", {"code": "OK", "message": None}),
        "llm_calls": extra.pop("llm_calls", []),
        **extra,
    }


TRACE = {
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "service_name": "chat",
    "duration_ms": 1230.0,
    "span_count": 4,
    "llm_call_count": 1,
    "usage": {"input_tokens": 120, "output_tokens": 48},
    "error_count": 1,
    "roots": ["a"],
    "spans": [
        span("a", "handle", ["b", "d"], duration_ms=1230.0),
        span(
            "b",
            "chat",
            ["c"],
            duration_ms=980.0,
            llm_calls=[
                {
                    "response_model": "claude",
                    "usage": {"input_tokens": 120, "output_tokens": 48},
                }
            ],
        ),
        span("c", "tool", [], status={"code": "ERROR", "message": "timeout"}),
        span("d", "save", [], duration_ms=None),
    ],
}


def test_render_a_tree() -> None:
    assert render_trace(TRACE).splitlines() == [
        "trace 4bf92f3577b34da6a3ce929d0e0e4736  chat  1.23 s  4 spans  1 LLM call 120→48 tok"
        "  ✗ 1 error",
        "└─ handle  1.23 s",
        "   ├─ chat  980.0 ms  claude  120→48 tok",
        "   │  └─ tool  10.0 ms",
        "   │     ✗ ERROR  timeout",
        "   └─ save  running",
    ]


def test_render_ascii_and_color() -> None:
    ascii_lines = render_trace(TRACE, ascii=True).splitlines()
    assert ascii_lines[3] == "   |  `- tool  10.0 ms"
    assert all(line.isascii() for line in ascii_lines)
    colored = render_trace(TRACE, color=True)
    assert "\x1b[31m" in colored and "\x1b[0m" in colored


def test_cycles_and_unknown_children_do_not_hang() -> None:
    looped = {
        "trace_id": "t",
        "roots": ["a", "missing"],
        "spans": [span("a", "a", ["b", "zz"]), span("b", "b", ["a"])],
    }
    assert render_trace(looped).splitlines()[1:] == ["└─ a  10.0 ms", "   └─ b  10.0 ms"]
