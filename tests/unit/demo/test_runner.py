"""The demo's progress lines, its tree drawing and its preflight check (no server needed)."""

from __future__ import annotations

import importlib.util
import io
from typing import Any

import pytest

from moxtrace.demo import DemoFailed, DemoOptions, run_demo
from moxtrace.demo.report import Glyphs, format_cost, render_trace_tree
from moxtrace.demo.runner import Progress


class Out(io.StringIO):
    encoding = "utf-8"


def test_progress_reports_each_step_and_names_the_one_that_failed() -> None:
    out = Out()
    progress = Progress(out)
    with progress.step("Did a thing") as notes:
        notes.append("3 items")
    with pytest.raises(DemoFailed, match=r'^at step "Broke": ValueError: bad input$'):
        with progress.step("Broke"):
            raise ValueError("bad input")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("  ✓ Did a thing (3 items)  ") and lines[0].endswith(" s")
    assert lines[1] == "  ✗ Broke"


def test_progress_falls_back_to_ascii() -> None:
    class Latin1(io.StringIO):
        encoding = "latin-1"

    out = Latin1()
    with Progress(out).step("Fine"):
        pass
    assert out.getvalue().startswith("  ok Fine  ")


def span(span_id: str, parent: str | None, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "duration_ms": 12.5,
        "service_name": "api",
        "status": {"code": "OK", "message": None},
        "attributes": {},
        "metadata": {},
        "llm_calls": [],
        "children": [],
        **extra,
    }


def test_trees_show_services_models_tokens_cost_and_errors() -> None:
    root = span("r", None, "handle", metadata={"customer_id": "c1"}, children=["a", "w"])
    call = span(
        "a",
        "r",
        "answer",
        attributes={"moxn.llm.cost.usd": 0.0123},
        llm_calls=[{"response_model": "m-1", "usage": {"input_tokens": 10, "output_tokens": 4}}],
        status={"code": "ERROR", "message": "x" * 300},
    )
    worker = span("w", "r", "process", service_name="worker")
    trace = {
        "trace_id": "t" * 32,
        "root_name": "handle",
        "duration_ms": 20.0,
        "span_count": 3,
        "llm_call_count": 1,
        "usage": {"input_tokens": 10, "output_tokens": 4},
        "error_count": 1,
        "roots": ["r"],
        "spans": [root, call, worker],
    }
    lines = render_trace_tree(trace, glyph=Glyphs.ascii()).splitlines()
    assert lines[0] == (
        f"trace {'t' * 32}  handle  20.0 ms  3 spans  1 LLM call  10->4 tok  $0.0123  x 1 error"
    )
    assert lines[1] == "`- handle  [api]  12.5 ms  customer_id=c1"
    assert lines[2] == "   |- answer  12.5 ms  m-1  10->4 tok  $0.0123"
    assert lines[3].startswith("   |  x ERROR  xxx") and lines[3].endswith("x...")
    assert lines[3].isascii()
    assert len(lines[3]) < 120
    assert lines[4] == "   `- process  [worker]  12.5 ms"


def test_costs_are_readable() -> None:
    assert [format_cost(c) for c in (None, 0, 0.00002, 0.0123)] == ["", "$0", "$0.00002", "$0.0123"]


def test_without_the_server_extra_the_demo_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "aiosqlite" else real(name)
    )
    err = Out()
    assert run_demo(DemoOptions(out=Out(), err=err)) == 2
    assert err.getvalue() == (
        "moxtrace demo: the server extra is missing (aiosqlite): pip install 'moxtrace[server]'\n"
    )
