"""The trace context reaches thread-pool workers through the documented helpers."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moxtrace import ContextThreadPoolExecutor, PromptSession, SyncMoxnClient, bind_context


def test_bind_context_and_context_pool_keep_the_parent(
    client: SyncMoxnClient,
    exporter: InMemorySpanExporter,
    make_session: Callable[..., PromptSession],
) -> None:
    session = make_session()

    def work(name: str) -> None:
        with client.span(session, name=name):
            pass

    with client.span(session, name="request") as request:
        with ThreadPoolExecutor(2) as pool:
            pool.submit(work, "plain").result()
            pool.submit(bind_context(work), "bound").result()
        with ContextThreadPoolExecutor(2) as cpool:
            cpool.submit(work, "pooled").result()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    request_id = request.get_span_context().span_id
    assert spans["plain"].parent is None  # what happens without the helpers
    for name in ("bound", "pooled"):
        parent = spans[name].parent
        assert parent is not None and parent.span_id == request_id, name
