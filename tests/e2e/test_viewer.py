"""The trace viewer (``/ui``) in Chromium: log in, list, filter, open a trace, read an LLM
call, follow a prompt link, and see a new trace arrive without a reload."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.big_trace import big_trace_events
from tests.e2e.conftest import DemoData
from tests.support.server import MoxtraceServer, new_span_id, new_trace_id, span_events

pytestmark = pytest.mark.integration


def login(page: Any, demo: DemoData, key: str | None = None) -> None:
    page.goto(demo.ui_url)
    page.fill("#api-key", key or demo.api_key)
    page.click("#login-form button[type=submit]")


def ticket_trace(demo: DemoData, ticket: str) -> str:
    """The trace id of a demo ticket (the trees print ticket_id=...)."""
    for trace_id, _ in demo.traces:
        block = demo.output.split(f"\ntrace {trace_id}", 1)[1].split("\n\n", 1)[0]
        if f"ticket_id={ticket}" in block:
            return trace_id
    raise AssertionError(f"no trace for {ticket} in the demo's output")


def open_trace(page: Any, demo: DemoData, trace_id: str) -> None:
    page.locator(f"tr.trace-row[data-trace-id='{trace_id}'] a.root-name").click()
    page.wait_for_selector("html[data-waterfall=painted]")


def row(page: Any, name: str) -> Any:
    return page.locator(".wf-row", has=page.locator(".span-name", has_text=re.compile(f"^{name}$")))


def test_login_with_a_key_kept_in_the_tab(page: Any, demo_data: DemoData) -> None:
    login(page, demo_data, key="moxn_demo.not-a-real-key")
    page.wait_for_selector("#login-error:has-text('not valid')")
    assert page.evaluate("sessionStorage.getItem('moxtrace.apiKey')") is None
    page.fill("#api-key", demo_data.api_key)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("tr.trace-row")
    assert page.evaluate("sessionStorage.getItem('moxtrace.apiKey')") == demo_data.api_key
    assert page.inner_text("#tenant") == "tenant demo"
    page.reload()  # the key survives a reload of the tab...
    page.wait_for_selector("tr.trace-row")
    page.click("#logout")  # ...and signing out forgets it
    page.wait_for_selector("#login-form")
    assert page.evaluate("sessionStorage.getItem('moxtrace.apiKey')") is None


def test_list_shows_the_demo_traces(page: Any, demo_data: DemoData, artifacts: Path) -> None:
    login(page, demo_data)
    page.wait_for_selector("tr.trace-row")
    ids = page.eval_on_selector_all("tr.trace-row", "rows => rows.map(r => r.dataset.traceId)")
    assert sorted(ids) == sorted(trace_id for trace_id, _ in demo_data.traces)
    failed = page.locator(f"tr.trace-row[data-trace-id='{ticket_trace(demo_data, 'T-1003')}']")
    assert failed.locator(".badge.error").inner_text() == "✗ 1 error"
    ok = page.locator(f"tr.trace-row[data-trace-id='{ticket_trace(demo_data, 'T-1001')}']")
    assert ok.locator(".badge.ok").inner_text() == "OK"
    # Enriched from each trace: prompts with their commit, metadata, tokens.
    ok.locator(".prompt-name").first.wait_for()
    assert ok.locator(".prompt-name").all_inner_texts() == ["triage-ticket", "answer-ticket"]
    assert re.fullmatch(r" @[0-9a-f]{7}", ok.locator(".version").first.inner_text())
    assert "customer_id=cust_1001" in ok.locator(".meta-chip").all_inner_texts()
    assert re.fullmatch(r"\d+ → \d+", ok.locator("td.num").nth(3).inner_text())
    assert re.fullmatch(r"\$0\.\d+", ok.locator("td.cost").inner_text())  # the cost plugin's
    page.wait_for_function(
        "() => [...document.querySelectorAll('td.prompt')].every(c => c.textContent !== '…')"
    )
    page.screenshot(path=str(artifacts / "list.png"))


def test_filters(page: Any, demo_data: DemoData) -> None:
    login(page, demo_data)
    page.wait_for_selector("tr.trace-row")
    count = "document.querySelectorAll('tr.trace-row').length"
    page.select_option("#filter-status", "error")
    page.wait_for_function(f"() => location.hash.includes('status=error') && {count} === 1")
    assert page.locator("tr.trace-row").get_attribute("data-trace-id") == ticket_trace(
        demo_data, "T-1003"
    )
    page.select_option("#filter-status", "")
    page.fill("#filter-meta", "customer_id=cust_1002")
    page.press("#filter-meta", "Enter")
    page.wait_for_function(f"() => location.hash.includes('meta=') && {count} === 1")
    assert page.locator("tr.trace-row").get_attribute("data-trace-id") == ticket_trace(
        demo_data, "T-1002"
    )
    page.goto(f"{demo_data.ui_url}#/traces?since=15m")
    page.wait_for_function(f"() => {count} === 4")
    # The prompt filter offers the prompts seen in the traces.
    page.wait_for_selector("#filter-prompt option:has-text('answer-ticket')", state="attached")
    page.select_option("#filter-prompt", label="answer-ticket")
    page.wait_for_function(f"() => location.hash.includes('prompt_id=') && {count} === 3")
    page.click("a.clear-filters")
    page.wait_for_function(f"() => {count} === 4")


def test_waterfall_has_the_worker_under_the_producer(
    page: Any, demo_data: DemoData, artifacts: Path
) -> None:
    login(page, demo_data)
    page.wait_for_selector("tr.trace-row")
    open_trace(page, demo_data, ticket_trace(demo_data, "T-1001"))
    producer, consumer = row(page, "send support-replies"), row(page, "process support-replies")
    assert consumer.get_attribute("data-parent-span-id") == producer.get_attribute("data-span-id")
    assert (
        int(consumer.get_attribute("data-depth")) == int(producer.get_attribute("data-depth")) + 1
    )
    assert int(consumer.get_attribute("data-index")) > int(producer.get_attribute("data-index"))
    assert producer.get_attribute("data-service") == "support-api"
    assert consumer.get_attribute("data-service") == "support-worker"
    for name in ("render_email", "smtp send"):
        assert row(page, name).get_attribute("data-parent-span-id") == consumer.get_attribute(
            "data-span-id"
        )
    assert page.locator(".services .service").all_inner_texts() == ["support-api", "support-worker"]
    # Collapsing the producer hides the worker's spans.
    producer.locator("button.toggle").click()
    assert row(page, "process support-replies").count() == 0
    row(page, "send support-replies").locator("button.toggle").click()
    row(page, "process support-replies").wait_for()
    row(page, "chat claude-sonnet-4-6").click()  # the call that saw the tool's result
    page.wait_for_selector("#detail-title:has-text('chat claude-sonnet-4-6')")
    page.screenshot(path=str(artifacts / "trace.png"))  # docs/viewer.png is one of these


def test_llm_call_shows_the_conversation_and_tokens(page: Any, demo_data: DemoData) -> None:
    trace_id = ticket_trace(demo_data, "T-1001")
    with httpx.Client(base_url=demo_data.base_url, headers={"x-api-key": demo_data.api_key}) as h:
        spans = h.get(f"/traces/{trace_id}").json()["data"]["spans"]
    usage = next(s for s in spans if s["name"] == "chat claude-sonnet-4-6")["llm_calls"][0]["usage"]
    login(page, demo_data)
    page.wait_for_selector("tr.trace-row")
    open_trace(page, demo_data, trace_id)
    row(page, "chat claude-sonnet-4-6").click()
    call = page.locator("#detail .llm-call")
    call.wait_for()
    roles = call.locator(".message").evaluate_all("nodes => nodes.map(n => n.dataset.role)")
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    assert "Acme's customer-support assistant" in call.locator(".message.role-system").inner_text()
    assert "Where is my order A-1042?" in call.locator(".message.role-user").inner_text()
    assistant = call.locator(".message.role-assistant").first
    assert "look it up first" in assistant.locator("details.thinking").inner_text()
    assert assistant.locator(".tool-call code").inner_text() == "lookup_order"
    assert '"A-1042"' in assistant.locator(".tool-call pre").inner_text()
    assert '"in_transit"' in call.locator(".message.role-tool .tool-result").inner_text()
    assert "should arrive Thursday" in call.locator(".message.output").inner_text()
    facts = dict(
        zip(
            call.locator("dl.facts dt").all_inner_texts(),
            call.locator("dl.facts dd").all_inner_texts(),
            strict=True,
        )
    )
    assert facts["Tokens"] == f"{usage['input_tokens']} in · {usage['output_tokens']} out"
    assert facts["Model"] == "claude-sonnet-4-6" and facts["Provider"] == "anthropic"
    assert re.fullmatch(r"\$0\.\d+", facts["Cost"])
    assert re.fullmatch(r"[\d.]+ (ms|µs|s)", facts["Latency"])
    # The prompt version the call came from, read from the registry.
    link = page.locator("#prompt-link")
    assert link.inner_text() == "answer-ticket"
    assert re.search(r"#/prompt/[0-9a-f-]{36}\?commit_id=[0-9a-f]+$", link.get_attribute("href"))
    link.click()
    view = page.locator("#prompt-view")
    view.wait_for()
    assert view.locator("h2").inner_text().startswith("answer-ticket")
    assert "commit " in view.locator(".version-tag").inner_text()
    assert view.locator(".message").first.get_attribute("class") == "message role-system"
    assert "{{question}}" in view.locator(".block.variable").all_inner_texts()


def test_the_failed_call_shows_its_error(page: Any, demo_data: DemoData) -> None:
    login(page, demo_data)
    page.wait_for_selector("tr.trace-row")
    open_trace(page, demo_data, ticket_trace(demo_data, "T-1003"))
    failed = row(page, "answer_ticket")
    assert "error" in (failed.get_attribute("class") or "")
    failed.click()
    page.wait_for_selector("#detail .error-message")
    assert page.inner_text("#detail .error-message").startswith("OverloadedError: Error code: 529")
    assert page.locator("#detail .event.error strong").inner_text() == "exception"


def test_a_new_trace_appears_without_reload(page: Any, demo_data: DemoData) -> None:
    key = demo_data.server.create_key(f"live{uuid.uuid4().hex[:6]}")  # a tenant of its own
    login(page, demo_data, key=key)
    page.wait_for_selector("#list-status:has-text('No traces yet')")
    page.wait_for_selector("#live[data-state=live]")
    page.evaluate("window.__sameDocument = true")
    trace_id = new_trace_id()
    name = f"live-{uuid.uuid4().hex[:8]}"
    events = span_events(trace_id, new_span_id(), name=name, start=time.time(), duration=0.05)
    with httpx.Client(base_url=demo_data.base_url, headers={"x-api-key": key}) as http:
        assert http.post("/telemetry/log-events", json={"events": events}).status_code == 200
    new = page.locator(f"tr.trace-row[data-trace-id='{trace_id}']")
    new.wait_for()
    assert new.locator("a.root-name").inner_text() == name
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator("#list-status").is_hidden()


def test_a_500_span_trace_keeps_the_dom_lean(page: Any, demo_data: DemoData) -> None:
    key = demo_data.server.create_key(f"big{uuid.uuid4().hex[:6]}")
    trace_id, events = big_trace_events(500)
    with httpx.Client(base_url=demo_data.base_url, headers={"x-api-key": key}) as http:
        assert http.post("/telemetry/log-events", json={"events": events}).status_code == 200
    login(page, demo_data, key=key)
    page.wait_for_selector("tr.trace-row")
    page.goto(f"{demo_data.ui_url}#/trace/{trace_id}")
    page.wait_for_selector("html[data-waterfall=painted]")
    assert page.inner_text(".wf-name-head") == "500 spans"
    assert page.locator(".wf-row").count() < 80  # only the rows in view (and a margin)
    page.locator(".wf-body").evaluate("body => { body.scrollTop = body.scrollHeight; }")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.wf-row')].some(r => r.dataset.index === '499')"
    )
    assert page.locator(".wf-row").count() < 80


def test_a_trace_bigger_than_a_page_is_shown_whole(page: Any, tmp_path: Path) -> None:
    server = MoxtraceServer(tmp_path / "paged", options={"max_trace_spans": 120})
    server.start()
    try:
        trace_id, events = big_trace_events(500)
        with server.client() as http:
            assert http.post("/telemetry/log-events", json={"events": events}).status_code == 200
            first = http.get(f"/traces/{trace_id}").json()["data"]
        assert first["truncated"] and len(first["spans"]) == 120  # the server pages it
        page.goto(f"{server.base_url}/ui/")
        page.fill("#api-key", server.api_key)
        page.click("#login-form button[type=submit]")
        row = page.locator(f"tr.trace-row[data-trace-id='{trace_id}']")
        # Enriched, although this server refuses pages of the 2,000 spans the list asks for.
        page.wait_for_function(
            f"() => document.querySelector(\"tr[data-trace-id='{trace_id}'] td.cost\")"
            "?.textContent === '—'"
        )
        assert row.locator("td.num").first.inner_text() == "30.00 s"
        row.locator("a.root-name").click()
        page.wait_for_selector("html[data-waterfall=painted]")
        assert page.inner_text(".wf-name-head") == "500 spans"
        page.locator(".wf-body").evaluate("body => { body.scrollTop = body.scrollHeight; }")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.wf-row')].some(r => r.dataset.index === '499')"
        )
    finally:
        server.stop()
