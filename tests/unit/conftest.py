"""Fixtures for unit tests: clients whose spans land in an in-memory exporter."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moxtrace import MoxnClient, PromptSession, Provider, SyncMoxnClient
from moxtrace._ratelimit import RateLimitedLogger
from moxtrace.types import (
    CompletionConfig,
    Message,
    MessageRole,
    PromptTemplate,
    TextContent,
    Variable,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_SDK_DISABLED",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        "MOXN_CONTENT_CAPTURE",
        "MOXN_API_KEY",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    # Rate-limited warnings are process-wide; every test starts with a clean slate.
    for module in ("moxtrace.tracing.spans", "moxtrace.tracing.processor"):
        import importlib

        warn = getattr(importlib.import_module(module), "_warn", None)
        if isinstance(warn, RateLimitedLogger):
            warn.reset()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def client(exporter: InMemorySpanExporter) -> Iterator[SyncMoxnClient]:
    c = SyncMoxnClient(span_processors=[SimpleSpanProcessor(exporter)])
    yield c
    c.close()


@pytest.fixture
def aclient(exporter: InMemorySpanExporter) -> Iterator[MoxnClient]:
    c = MoxnClient(span_processors=[SimpleSpanProcessor(exporter)])
    yield c
    c.tracing.shutdown(1)


def make_prompt(
    name: str = "support-answer",
    *,
    commit_id: str | None = None,
    provider: Provider = Provider.ANTHROPIC,
) -> PromptTemplate:
    return PromptTemplate(
        id=uuid.uuid4(),
        name=name,
        task_id=uuid.uuid4(),
        branch_id=None if commit_id else uuid.uuid4(),
        branch_name=None if commit_id else "main",
        commit_id=commit_id,
        messages=[
            Message(
                id=uuid.uuid4(),
                name="system",
                role=MessageRole.SYSTEM,
                blocks=[[TextContent(text="You are a support agent.")]],
            ),
            Message(
                id=uuid.uuid4(),
                name="question",
                role=MessageRole.USER,
                blocks=[[TextContent(text="Question: "), Variable(name="query")]],
            ),
        ],
        completion_config=CompletionConfig(provider=provider, model="claude-sonnet-4"),
    )


@pytest.fixture
def make_session() -> Callable[..., PromptSession]:
    def make(name: str = "support-answer", **kwargs: object) -> PromptSession:
        return PromptSession(make_prompt(name, **kwargs), {"query": "Where is my order?"})  # type: ignore[arg-type]

    return make
