"""Commit reads come from the cache (no request); branch reads always ask the server.

Requests are counted by the CLIENT spans the client makes for every API call (and the
server's view agrees: a cached read works with the server gone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from moxtrace import MoxnClient, Settings
from moxtrace.errors import MoxnConnectionError, NotFoundError
from moxtrace.types import MessageData, MessageRole, TextContent, ToolCall, Variable
from tests.integration.registry_support import ClientFactory, clients
from tests.support.server import MoxtraceServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MoxtraceServer]:
    server = MoxtraceServer(tmp_path_factory.mktemp("moxtrace-cache"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sync", "async"])
def make_client(
    request: pytest.FixtureRequest, registry_server: MoxtraceServer
) -> Iterator[ClientFactory]:
    with clients(request.param, registry_server) as make:
        yield make


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def api_calls(spans: InMemorySpanExporter) -> list[str]:
    return [s.name for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]


def setup_task(client: Any) -> tuple[Any, Any, Any]:
    task = client.create_task("Cache")
    prompt = client.create_prompt(
        task.id,
        "Cached",
        [
            MessageData(
                name="User",
                role=MessageRole.USER,
                blocks=[
                    [TextContent(text="Q: "), Variable(name="q")],
                    [ToolCall(tool_name="search", tool_call_id="t1", input={"k": "v"})],
                ],
            )
        ],
    )
    commit = client.commit(task.id, "main", "v1")
    return task, prompt, commit


def test_a_second_commit_read_makes_no_request(
    make_client: ClientFactory, spans: InMemorySpanExporter
) -> None:
    client = make_client(span_processors=[SimpleSpanProcessor(spans)])
    task, prompt, commit = setup_task(client)
    spans.clear()
    first = client.get_prompt(prompt.id, commit_id=commit.id)
    assert api_calls(spans) == ["GET /prompts/{prompt_id}"]
    for _ in range(3):
        assert client.get_prompt(prompt.id, commit_id=commit.id) == first
        assert client.get_prompt(str(prompt.id), commit_id=commit.id) == first
    assert api_calls(spans) == ["GET /prompts/{prompt_id}"]

    # A task read at a commit caches the task and its prompts.
    other = client.create_prompt(task.id, "Second", [prompt.messages[0]])
    second_commit = client.commit(task.id, "main", "v2")
    spans.clear()
    task_read = client.get_task(task.id, commit_id=second_commit.id)
    assert client.get_task(task.id, commit_id=second_commit.id) == task_read
    assert client.get_prompt(other.id, commit_id=second_commit.id).name == "Second"
    assert api_calls(spans) == ["GET /tasks/{task_id}"]


def test_branch_reads_always_ask_and_see_edits(
    make_client: ClientFactory, spans: InMemorySpanExporter
) -> None:
    client = make_client(span_processors=[SimpleSpanProcessor(spans)])
    _, prompt, _ = setup_task(client)
    spans.clear()
    first = client.get_prompt(prompt.id, branch_name="main")
    client.update_message(first.messages[0].id, "main", name="Renamed")
    second = client.get_prompt(prompt.id, branch_name="main")
    assert second.messages[0].name == "Renamed"
    assert api_calls(spans) == [
        "GET /prompts/{prompt_id}",
        "PATCH /messages/{message_id}",
        "GET /prompts/{prompt_id}",
    ]


def test_callers_cannot_corrupt_the_cache(make_client: ClientFactory) -> None:
    client = make_client()
    _, prompt, commit = setup_task(client)
    got = client.get_prompt(prompt.id, commit_id=commit.id)
    snapshot = got.model_dump(mode="json")
    got.name = "mine now"
    got.messages[0].blocks[0].append(TextContent(text="!"))
    tool_call = got.messages[0].blocks[1][0]
    assert isinstance(tool_call, ToolCall)
    tool_call.input["k"] = "changed"
    got.messages.clear()
    assert client.get_prompt(prompt.id, commit_id=commit.id).model_dump(mode="json") == snapshot


def test_a_cached_read_needs_no_server(registry_server: MoxtraceServer) -> None:
    with clients("sync", registry_server) as make:
        client = make()
        _, prompt, commit = setup_task(client)
        client.get_prompt(prompt.id, commit_id=commit.id)
        # Point the same cache at a dead address: a commit read still answers.
        client._registry.transport.base_url = "http://127.0.0.1:9"
        client._registry.transport.policy = type(client._registry.transport.policy)(max_retries=0)
        assert client.get_prompt(prompt.id, commit_id=commit.id).id == prompt.id
        with pytest.raises(MoxnConnectionError):
            client.get_prompt(prompt.id, branch_name="main")


def test_the_cache_is_bounded(registry_server: MoxtraceServer) -> None:
    with clients("sync", registry_server) as make:
        client = make(settings=Settings(export=False, prompt_cache_size=2))
        task, prompt, first = setup_task(client)
        commits = [first]
        for i in range(2):
            client.update_message(prompt.messages[0].id, "main", name=f"v{i + 2}")
            commits.append(client.commit(task.id, "main", f"v{i + 2}"))
        for commit in commits:
            client.get_prompt(prompt.id, commit_id=commit.id)
        assert len(client._registry.cache) == 2
        misses = client._registry.cache.misses
        client.get_prompt(prompt.id, commit_id=commits[0].id)  # evicted: read again
        assert client._registry.cache.misses == misses + 1


def test_every_api_call_is_a_client_span_with_http_attributes(
    make_client: ClientFactory, spans: InMemorySpanExporter, registry_server: MoxtraceServer
) -> None:
    client = make_client(span_processors=[SimpleSpanProcessor(spans)])
    _, prompt, _ = setup_task(client)
    spans.clear()
    client.get_prompt(prompt.id, branch_name="main")
    with pytest.raises(NotFoundError):
        client.get_prompt(prompt.id, branch_name="nope")
    ok, failed = spans.get_finished_spans()
    for span in (ok, failed):
        assert span.kind is SpanKind.CLIENT
        assert span.name == "GET /prompts/{prompt_id}"
        assert span.attributes is not None
        assert span.attributes["http.request.method"] == "GET"
        assert span.attributes["server.address"] == "127.0.0.1"
        assert span.attributes["server.port"] == registry_server.port
        assert span.attributes["url.template"] == "/prompts/{prompt_id}"
        assert str(span.attributes["url.full"]).startswith(registry_server.base_url)
        assert span.attributes["moxn.api.operation"] == "get_prompt"
    assert ok.attributes is not None and ok.attributes["http.response.status_code"] == 200
    assert failed.attributes is not None
    assert failed.attributes["http.response.status_code"] == 404
    assert failed.attributes["error.type"] == "404"
    assert failed.status.status_code is StatusCode.ERROR


def test_an_async_client_outlives_its_event_loops(registry_server: MoxtraceServer) -> None:
    client = MoxnClient(
        api_key=registry_server.api_key,
        base_url=registry_server.base_url,
        settings=Settings(export=False),
    )
    try:
        for _ in range(2):  # each asyncio.run() is a new loop: the pool follows it
            assert asyncio.run(client.verify_access())["tenant_id"] == "dev"
    finally:
        asyncio.run(client.close())
