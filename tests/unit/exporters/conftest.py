"""Fixtures for the exporter unit tests: a client whose spans land in memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moxtrace import PromptSession, SyncMoxnClient
from moxtrace._ratelimit import RateLimitedLogger
from moxtrace.exporters import _pipeline, _split, _spool, moxn
from tests.unit.exporters.factories import make_prompt


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    # Rate-limited warnings are process-wide; each test sees its own.
    for module in (_pipeline, _spool, _split, moxn):
        warn = getattr(module, "_warn", None)
        if isinstance(warn, RateLimitedLogger):
            warn.reset()


@pytest.fixture
def session() -> PromptSession:
    """A prompt session on a branch, with its ``query`` variable filled."""
    return PromptSession(make_prompt(), {"query": "Where is my order?"})


@pytest.fixture
def memory() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def mx_client(memory: InMemorySpanExporter) -> Iterator[SyncMoxnClient]:
    """A client whose spans land in ``memory`` as they end (no API key: no Moxn export)."""
    c = SyncMoxnClient(span_processors=[SimpleSpanProcessor(memory)])
    yield c
    c.close()
