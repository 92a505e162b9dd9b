"""Fixtures for the instrumentation unit tests: the real SDKs over an in-process transport.

``fake`` answers every SDK request with the payloads of the stand-in provider APIs
(examples/existing_app/standins.py, shaped exactly like the providers' own) through an
``httpx2.MockTransport``; ``memory`` holds the spans of ``provider``; ``instrument``
instruments the SDKs for one test (and uninstruments them after it).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span

import moxtrace
from examples.existing_app.standins import reply
from moxtrace._ratelimit import RateLimitedLogger
from moxtrace.instrumentation import _recorder


class FakeProviders:
    """An ``httpx2.MockTransport`` handler answering as the providers do."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.current_spans: list[Span] = []  # the span current while each request was sent
        self.replace: dict[str, Any] | None = None  # answer this JSON instead
        self._lock = threading.Lock()

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        with self._lock:
            self.current_spans.append(trace.get_current_span())
            self.requests.append(request)
            n = len(self.requests)
        body = json.loads(request.content or b"{}")
        if self.replace is not None:
            return httpx2.Response(200, json=self.replace)
        status, payload = reply(request.url.path, body, n)
        if isinstance(payload, dict):
            return httpx2.Response(status, json=payload)
        return httpx2.Response(
            status,
            content="".join(payload).encode(),
            headers={"content-type": "text/event-stream"},
        )

    @property
    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.requests[-1].content)
        return data

    # -- SDK clients talking to it ------------------------------------------------------
    def openai(self) -> openai.OpenAI:
        http = httpx2.Client(transport=httpx2.MockTransport(self))
        return openai.OpenAI(
            api_key="x", base_url="http://fake/v1", http_client=http, max_retries=0
        )

    def async_openai(self) -> openai.AsyncOpenAI:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(self))
        return openai.AsyncOpenAI(
            api_key="x", base_url="http://fake/v1", http_client=http, max_retries=0
        )

    def anthropic(self, **options: Any) -> anthropic.Anthropic:
        http = httpx2.Client(transport=httpx2.MockTransport(self))
        return anthropic.Anthropic(
            api_key="x", base_url="http://fake", http_client=http, max_retries=0, **options
        )

    def async_anthropic(self) -> anthropic.AsyncAnthropic:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(self))
        return anthropic.AsyncAnthropic(
            api_key="x", base_url="http://fake", http_client=http, max_retries=0
        )

    def google(self, *, vertexai: bool = False) -> Any:
        from google import genai
        from google.genai import types as genai_types

        options = genai_types.HttpOptions(
            base_url="http://fake",
            httpx_client=httpx2.Client(transport=httpx2.MockTransport(self)),
            httpx_async_client=httpx2.AsyncClient(transport=httpx2.MockTransport(self)),
        )
        if vertexai:
            return genai.Client(
                vertexai=True, project="p", location="us-central1", http_options=options
            )
        return genai.Client(api_key="x", http_options=options)


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("OTEL_SDK_DISABLED", "MOXN_CONTENT_CAPTURE", "MOXN_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")
    warn = getattr(_recorder, "_warn", None)
    if isinstance(warn, RateLimitedLogger):
        warn.reset()
    yield
    moxtrace.uninstrument()


@pytest.fixture
def fake() -> FakeProviders:
    return FakeProviders()


@pytest.fixture
def memory() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(memory: InMemorySpanExporter) -> Iterator[TracerProvider]:
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(SimpleSpanProcessor(memory))
    yield tp
    tp.shutdown()


@pytest.fixture
def instrument(provider: TracerProvider) -> Callable[..., tuple[str, ...]]:
    """``moxtrace.instrument`` into ``provider``, content recorded, unless told otherwise."""

    def call(*args: Any, **kwargs: Any) -> tuple[str, ...]:
        if not args and "tracer_provider" not in kwargs:
            kwargs["tracer_provider"] = provider
        kwargs.setdefault("content_capture", "all")
        return moxtrace.instrument(*args, **kwargs)

    return call
