"""The unchanged example app (examples/existing_app) traced by ``opentelemetry-instrument``.

The application has no moxtrace and no OpenTelemetry in its code. It runs as a subprocess on
127.0.0.1 under ``opentelemetry-instrument``, configured by environment variables only:
``OTEL_TRACES_EXPORTER=moxn,otlp`` (moxtrace's exporter into a real ``moxtrace serve``, and
OTLP into a real Arize Phoenix), ``OTEL_PROPAGATORS=tracecontext,baggage,moxn``. The
provider APIs are the stand-ins on 127.0.0.1, reached through the SDKs' own
``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL``.

Each request is one trace: the FastAPI server span, and the LLM span as its child with the
model, the token counts and the finish reason; stored in moxtrace serve (with the message
content, which the default policy keeps for Moxn) and visible in Phoenix (without it).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples.existing_app.standins import TEXT, StandIn
from tests.support.phoenix import PROJECT_ATTRIBUTE, PhoenixServer, phoenix_spans
from tests.support.ports import LOOPBACK, free_port, port_is_open
from tests.support.procs import (
    REPO_ROOT,
    listening_addresses,
    running,
    start_process,
    wait_until_ready,
)
from tests.support.server import MoxtraceServer, poll

pytestmark = pytest.mark.integration

APP_DIR = REPO_ROOT / "examples" / "existing_app"
OPENTELEMETRY_INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"
ROUTES = {"/ask/openai": "chat gpt-4o-mini", "/ask/anthropic": "chat claude-sonnet-4-6"}
QUESTION = "Where is my order?"


def zero_code_env(
    standin: StandIn,
    server: MoxtraceServer,
    service: str,
    *,
    phoenix: PhoenixServer | None = None,
    project: str | None = None,
) -> dict[str, str]:
    """Only environment variables: OpenTelemetry's, moxtrace's and the SDKs'."""
    env = {
        **standin.env(),
        "OTEL_SERVICE_NAME": service,
        "OTEL_TRACES_EXPORTER": "moxn,otlp" if phoenix else "moxn",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_PROPAGATORS": "tracecontext,baggage,moxn",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "MOXN_API_KEY": server.api_key,
        "MOXN_BASE_URL": server.base_url,
    }
    if phoenix is not None:
        env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = phoenix.otlp_traces_endpoint
        env["OTEL_RESOURCE_ATTRIBUTES"] = f"{PROJECT_ATTRIBUTE}={project}"
    return env


@contextlib.contextmanager
def existing_app(env: Mapping[str, str], log_dir: Path) -> Iterator[str]:
    """``opentelemetry-instrument python app.py`` on 127.0.0.1; its base URL. Stopped by pid."""
    port = free_port()
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "MOXN_", "OPENAI_", "ANTHROPIC_", "GOOGLE_", "GEMINI_"))
    }
    log_path = log_dir / "existing-app.log"
    proc = start_process(
        [OPENTELEMETRY_INSTRUMENT, sys.executable, "app.py"],
        log_path=log_path,
        env={**inherited, **env, "PORT": str(port), "PYTHONUNBUFFERED": "1"},
        cwd=APP_DIR,
    )
    with running(proc, stop_timeout=20):
        # Readiness by the port alone: a request would be a trace of its own.
        wait_until_ready(
            proc,
            lambda: port_is_open(LOOPBACK, port),
            timeout=60,
            what="the example app under opentelemetry-instrument",
            log_path=log_path,
        )
        assert listening_addresses(proc.pid) == [(LOOPBACK, port)]
        yield f"http://{LOOPBACK}:{port}"


def stored_traces(server: MoxtraceServer, service: str, count: int) -> list[str]:
    """The ids of the ``count`` traces of ``service`` in moxtrace serve (polled)."""

    def check() -> list[str] | None:
        with server.client() as http:
            reply = http.get("/traces", params={"service": service}, timeout=30)
        assert reply.status_code == 200, reply.text[:300]
        traces = reply.json()["data"]["traces"]
        return [t["trace_id"] for t in traces] if len(traces) >= count else None

    return poll(check, timeout=60, what=f"{count} traces of {service} in moxtrace serve")


def stored_trace(
    server: MoxtraceServer, trace_id: str, names: set[str], min_spans: int = 0
) -> dict[str, Any]:
    """``GET /traces/{id}`` once the spans called ``names`` (and ``min_spans`` in all) are
    stored."""

    def check() -> dict[str, Any] | None:
        with server.client() as http:
            reply = http.get(f"/traces/{trace_id}", timeout=30)
        if reply.status_code == 404:
            return None
        data: dict[str, Any] = reply.json()["data"]
        complete = names <= {s["name"] for s in data["spans"]} and len(data["spans"]) >= min_spans
        return data if complete else None

    return poll(check, timeout=60, what=f"spans {sorted(names)} of trace {trace_id}")


def server_route(server: MoxtraceServer, trace_id: str) -> str | None:
    """The route whose server span is in the stored trace, once it is there."""
    with server.client() as http:
        reply = http.get(f"/traces/{trace_id}", timeout=30)
    if reply.status_code == 404:
        return None
    names = {s["name"] for s in reply.json()["data"]["spans"]}
    return next((route for route in ROUTES if f"POST {route}" in names), None)


def test_unchanged_app_under_opentelemetry_instrument_one_trace_per_request(
    moxtrace_server: MoxtraceServer, phoenix: PhoenixServer, tmp_path: Path
) -> None:
    service = f"support-app-{uuid.uuid4().hex[:8]}"
    project = f"existing-app-{uuid.uuid4().hex[:8]}"
    with StandIn() as standin:
        env = zero_code_env(standin, moxtrace_server, service, phoenix=phoenix, project=project)
        with existing_app(env, tmp_path) as url:
            for route in ROUTES:
                reply = httpx.post(url + route, json={"question": QUESTION}, timeout=30)
                assert reply.status_code == 200, reply.text
                assert reply.json() == {"answer": TEXT}
            trace_ids = stored_traces(moxtrace_server, service, len(ROUTES))
            assert len(trace_ids) == len(ROUTES)  # nothing else: not the exporter's own calls
            by_route: dict[str, dict[str, Any]] = {}
            for trace_id in trace_ids:
                route = poll(
                    lambda tid=trace_id: server_route(moxtrace_server, tid),
                    timeout=60,
                    what=f"the server span of trace {trace_id}",
                )
                by_route[route] = stored_trace(
                    moxtrace_server, trace_id, {f"POST {route}", ROUTES[route]}
                )
            assert set(by_route) == set(ROUTES)  # one trace per request

    for route, trace in by_route.items():
        # One LLM span per call, whatever other GenAI instrumentation is installed (the
        # dev environment has opentelemetry-instrumentation-openai-v2: it loads too).
        genai = [s["name"] for s in trace["spans"] if "gen_ai.operation.name" in s["attributes"]]
        assert genai == [ROUTES[route]]
        spans = {s["name"]: s for s in trace["spans"]}
        server_span, llm = spans[f"POST {route}"], spans[ROUTES[route]]
        assert server_span["parent_span_id"] is None
        assert trace["root_span_id"] == server_span["span_id"]
        assert llm["parent_span_id"] == server_span["span_id"]
        attrs = llm["attributes"]
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.request.model"] == ROUTES[route].removeprefix("chat ")
        assert attrs["gen_ai.response.model"] == attrs["gen_ai.request.model"] + "-2026-01-15"
        assert attrs["gen_ai.usage.input_tokens"] == 21
        assert attrs["gen_ai.usage.output_tokens"] == 9
        assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
        (call,) = llm["llm_calls"]
        assert call["usage"]["input_tokens"] == 21
        assert call["finish_reasons"] == ["stop"]
        # The default content policy: Moxn gets the messages.
        assert call["content"]["input_messages"] == [
            {"role": "user", "parts": [{"type": "text", "content": QUESTION}]}
        ]

    # Phoenix, through OTLP: the same traces, without the content.
    for route, trace in by_route.items():
        spans = phoenix_spans(
            phoenix.base_url, project, min_count=2, timeout=60, trace_id=trace["trace_id"]
        )
        named = {s["name"]: s for s in spans}
        server_span, llm = named[f"POST {route}"], named[ROUTES[route]]
        assert server_span["parent_id"] is None
        assert llm["parent_id"] == server_span["context"]["span_id"]
        attrs = llm["attributes"]
        assert attrs["gen_ai.request.model"] == ROUTES[route].removeprefix("chat ")
        assert attrs["gen_ai.usage.output_tokens"] == 9
        assert list(attrs["gen_ai.response.finish_reasons"]) == ["stop"]
        assert "gen_ai.input.messages" not in attrs
        assert QUESTION not in json.dumps(spans)
