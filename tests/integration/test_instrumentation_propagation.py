"""The ``moxn`` propagator across a real HTTP hop: instrumented httpx into instrumented FastAPI.

The caller (this process) makes the request inside ``client.span(session)`` with an
httpx client instrumented by ``opentelemetry-instrumentation-httpx``, under the propagators
``tracecontext,baggage,moxn`` loaded from their entry points. The handler is the unchanged
example app under ``opentelemetry-instrument`` (``OTEL_PROPAGATORS=tracecontext,baggage,moxn``),
on 127.0.0.1. One trace, stored in ``moxtrace serve``: the caller's span, the httpx span,
the FastAPI server span and the handler's LLM span, which carries the caller's prompt
identity; the identity goes on with the handler's own call to the provider.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest
from opentelemetry import propagate
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.propagators.composite import CompositePropagator

from examples.existing_app.standins import TEXT, StandIn
from moxtrace import PromptSession, Provider, SyncMoxnClient
from moxtrace.types.carrier import decode_identity, split_tracestate
from tests.integration.test_existing_app import existing_app, stored_trace, zero_code_env
from tests.support.server import MoxtraceServer
from tests.unit.conftest import make_prompt

pytestmark = pytest.mark.integration


@pytest.fixture
def propagators() -> Iterator[None]:
    """``OTEL_PROPAGATORS=tracecontext,baggage,moxn`` for this process, as OpenTelemetry
    builds it: each propagator loaded from its entry point."""
    found = {e.name: e for e in entry_points(group="opentelemetry_propagator")}
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(
        CompositePropagator([found[name].load()() for name in ("tracecontext", "baggage", "moxn")])
    )
    yield
    propagate.set_global_textmap(previous)


def test_the_handlers_llm_span_carries_the_callers_prompt_identity(
    moxtrace_server: MoxtraceServer, propagators: None, tmp_path: Path
) -> None:
    service = f"support-app-{uuid.uuid4().hex[:8]}"
    caller = SyncMoxnClient(api_key=moxtrace_server.api_key, base_url=moxtrace_server.base_url)
    session = PromptSession(make_prompt(provider=Provider.OPENAI_CHAT), {"query": "Hi"})
    with (
        StandIn() as standin,
        existing_app(zero_code_env(standin, moxtrace_server, service), tmp_path) as url,
    ):
        http = httpx.Client(timeout=30)
        HTTPXClientInstrumentor.instrument_client(http, tracer_provider=caller.tracing.provider)
        try:
            with caller.span(session, name="ask-support") as ask:
                reply = http.post(f"{url}/ask/openai", json={"question": "Where is my order?"})
        finally:
            HTTPXClientInstrumentor.uninstrument_client(http)
            http.close()
        assert reply.json() == {"answer": TEXT}
        assert caller.flush(30).complete
        caller.close()

        trace_id = format(ask.get_span_context().trace_id, "032x")
        trace = stored_trace(
            moxtrace_server,
            trace_id,
            {"ask-support", "POST", "POST /ask/openai", "chat gpt-4o-mini"},
            min_spans=8,  # + the second POST and the server's receive/send spans
        )
        # The handler's call to the provider went on carrying the identity.
        provider_request = standin.received[-1]

    spans = {s["name"]: s for s in trace["spans"] if s["name"] != "POST"}
    ask_span, server_span, llm = (
        spans["ask-support"],
        spans["POST /ask/openai"],
        spans["chat gpt-4o-mini"],
    )
    # Two httpx client spans: the caller's request, and the handler's call to the provider.
    caller_post, provider_post = sorted(
        (s for s in trace["spans"] if s["name"] == "POST"),
        key=lambda s: s["parent_span_id"] != ask_span["span_id"],
    )
    assert ask_span["parent_span_id"] is None
    assert caller_post["parent_span_id"] == ask_span["span_id"]
    assert server_span["parent_span_id"] == caller_post["span_id"]
    assert llm["parent_span_id"] == server_span["span_id"]
    assert provider_post["parent_span_id"] == llm["span_id"]
    assert {s["service_name"] for s in (server_span, llm)} == {service}

    prompt = session.prompt
    for span in (ask_span, llm):
        assert span["prompt_id"] == str(prompt.id)
        assert span["task_id"] == str(prompt.task_id)
        assert span["branch_id"] == str(prompt.branch_id)
        assert span["session_id"] == str(session.id)
    assert llm["attributes"]["moxn.prompt.name"] == "support-answer"
    assert llm["attributes"]["gen_ai.usage.output_tokens"] == 9

    assert provider_request.headers["traceparent"].split("-")[1] == trace_id
    moxn, _ = split_tracestate(provider_request.headers["tracestate"])
    assert decode_identity(moxn)["prompt_id"] == str(prompt.id)
