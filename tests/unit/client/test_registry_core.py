"""The content API's I/O-free half: version selectors, request bodies, the cache path."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from opentelemetry import trace

from moxtrace import MoxnClient, SyncMoxnClient
from moxtrace._registry import RegistryCore, session_target
from moxtrace.codegen import MoxnSchemaMetadata, RenderableModel
from moxtrace.errors import ValidationError
from moxtrace.http import IDEMPOTENCY_HEADER
from moxtrace.settings import Settings
from moxtrace.types import (
    Message,
    MessageData,
    MessageRole,
    PromptTemplate,
    TextContent,
    Variable,
)


@pytest.fixture
def core() -> RegistryCore:
    return RegistryCore(
        Settings(base_url="http://127.0.0.1:1", api_key="moxn_t.s"), trace.NoOpTracer(), "Test"
    )


def prompt_data(prompt_id: uuid.UUID, commit_id: str) -> dict[str, Any]:
    return {
        "id": str(prompt_id),
        "name": "p",
        "task_id": str(uuid.uuid4()),
        "commit_id": commit_id,
        "messages": [
            {
                "id": str(uuid.uuid4()),
                "name": "m",
                "role": "user",
                "blocks": [[{"block_type": "text", "text": "hi"}]],
            }
        ],
    }


@pytest.mark.parametrize(
    ("branch", "commit", "got"), [("main", "c1", "got both"), (None, None, "got neither")]
)
def test_exactly_one_version_is_required_before_anything_is_sent(
    core: RegistryCore, branch: str | None, commit: str | None, got: str
) -> None:
    for method in (core.get_prompt, core.get_task):
        with pytest.raises(ValidationError, match=got) as caught:
            method("id", branch, commit)
        assert caught.value.code == "invalid_version_selector"
        assert caught.value.status_code is None
        assert isinstance(caught.value, ValueError)


def test_branch_reads_are_never_cached(core: RegistryCore) -> None:
    prompt_id = uuid.uuid4()
    for _ in range(2):
        call = core.get_prompt(prompt_id, "main", None)
        assert call.request is not None
        assert call.request.params == {"branch_name": "main"}
        call.result(prompt_data(prompt_id, "c1"))
    assert len(core.cache) == 0


def test_a_commit_read_is_cached_and_copied(core: RegistryCore) -> None:
    prompt_id = uuid.uuid4()
    call = core.get_prompt(prompt_id, None, "c1")
    assert call.request is not None and call.request.path == f"/prompts/{prompt_id}"
    first = call.result(prompt_data(prompt_id, "c1"))
    first.messages.clear()
    for key in (prompt_id, str(prompt_id)):
        again = core.get_prompt(key, None, "c1")
        assert again.request is None  # answered without a request
        assert isinstance(again.value, PromptTemplate)
        assert len(again.value.messages) == 1
        assert again.value is not first
    assert core.get_prompt(prompt_id, None, "c2").request is not None


def test_a_task_read_at_a_commit_caches_its_prompts(core: RegistryCore) -> None:
    task_id, prompt_id = uuid.uuid4(), uuid.uuid4()
    data = {
        "id": str(task_id),
        "name": "t",
        "commit_id": "c9",
        "prompts": [{**prompt_data(prompt_id, "c9"), "task_id": str(task_id)}],
    }
    core.get_task(task_id, None, "c9").result(data)
    assert core.get_task(task_id, None, "c9").request is None
    assert core.get_prompt(prompt_id, None, "c9").request is None


def test_create_prompt_accepts_message_data_dicts_and_existing_messages(
    core: RegistryCore,
) -> None:
    existing = Message(id=uuid.uuid4(), name="shared", role=MessageRole.SYSTEM)
    other_id = uuid.uuid4()
    call = core.create_prompt(
        "task-1",
        "Q&A",
        [
            MessageData(
                name="System", role=MessageRole.SYSTEM, blocks=[[TextContent(text="Be kind.")]]
            ),
            {"name": "User", "role": "user", "blocks": [[Variable(name="query")]]},
            existing,
            other_id,
            {"message_id": str(other_id)},
        ],
        None,
        "main",
        {"model": "claude-sonnet-4", "max_tokens": 100},
        None,
        None,
    )
    request = call.request
    assert request is not None
    assert (request.method, request.path) == ("POST", "/prompts")
    body = request.json
    assert body["task_id"] == "task-1" and body["branch_name"] == "main"
    assert body["messages"][0] == {
        "name": "System",
        "role": "system",
        "author": "HUMAN",
        "blocks": [[{"block_type": "text", "text": "Be kind."}]],
    }
    assert body["messages"][1]["blocks"][0][0]["block_type"] == "variable"
    assert body["messages"][1]["blocks"][0][0]["name"] == "query"
    assert (
        body["messages"][2:]
        == [{"message_id": str(existing.id)}] + [{"message_id": str(other_id)}] * 2
    )
    assert body["completion_config"] == {"model": "claude-sonnet-4", "max_tokens": 100}
    assert request.idempotency_key  # generated, so the POST may be retried


def test_create_prompt_rejects_other_message_types(core: RegistryCore) -> None:
    with pytest.raises(TypeError, match="MessageData"):
        core.create_prompt("t", "p", [42], None, "main", None, None, None)  # type: ignore[list-item]


def test_a_given_idempotency_key_is_used(core: RegistryCore) -> None:
    call = core.create_task("t", None, "main", "my-key")
    assert call.request is not None and call.request.idempotency_key == "my-key"
    assert core.create_task("t", None, "main", None).request.idempotency_key != (  # type: ignore[union-attr]
        core.create_task("t", None, "main", None).request.idempotency_key  # type: ignore[union-attr]
    )


def test_edits_send_only_what_changes(core: RegistryCore) -> None:
    call = core.update_message(
        "m1",
        "dev",
        name=None,
        description=None,
        role="user",
        author=None,
        blocks=[[TextContent(text="x")]],
    )
    assert call.request is not None
    assert (call.request.method, call.request.path, call.request.params) == (
        "PATCH",
        "/messages/m1",
        {"branch_name": "dev"},
    )
    assert call.request.json == {"role": "user", "blocks": [[{"block_type": "text", "text": "x"}]]}
    message = Message(id=uuid.uuid4(), name="n", role=MessageRole.USER)
    update = core.update_prompt(
        "p1",
        "dev",
        name="new",
        description=None,
        messages=[message, "m2"],
        completion_config=None,
        tools=None,
    )
    assert update.request is not None
    assert update.request.json == {"name": "new", "message_ids": [str(message.id), "m2"]}


def test_generate_models_defaults_to_main(core: RegistryCore) -> None:
    call = core.generate_task_models("t1", None, None)
    assert call.request is not None
    assert call.request.params == {"branch_name": "main"}
    assert call.request.path == "/tasks/t1/generate-models"


class QueryInput(RenderableModel):
    query: str


def test_session_target_reads_the_schema_metadata() -> None:
    prompt_id = uuid.uuid4()
    QueryInput.moxn_schema_metadata = MoxnSchemaMetadata(prompt_id=prompt_id, commit_id="c1")
    try:
        data = QueryInput(query="hi")
        assert session_target(data, None, None) == (str(prompt_id), None, "c1")
        assert session_target(data, "main", None) == (str(prompt_id), "main", None)
        QueryInput.moxn_schema_metadata = MoxnSchemaMetadata(prompt_id=prompt_id, branch_name="dev")
        assert session_target(data, None, None) == (str(prompt_id), "dev", None)
    finally:
        QueryInput.moxn_schema_metadata = None
    with pytest.raises(ValidationError, match="moxn_schema_metadata"):
        session_target(QueryInput(query="x"), "main", None)


def test_session_target_takes_a_dict_metadata_too() -> None:
    class Legacy:
        moxn_schema_metadata = {"prompt_id": "p-1", "commit_id": None, "branch_name": "main"}

    assert session_target(Legacy(), None, None) == ("p-1", "main", None)


def test_clients_build_their_core_from_constructor_arguments() -> None:
    for cls in (MoxnClient, SyncMoxnClient):
        client = cls(
            api_key="moxn_x.y",
            base_url="http://127.0.0.1:9/",
            timeout=2.5,
            max_retries=1,
            set_global=False,
        )
        try:
            transport = client._registry.transport
            assert transport.base_url == "http://127.0.0.1:9"
            assert transport.timeout == 2.5
            assert transport.policy.max_retries == 1
            assert transport.headers["x-api-key"] == "moxn_x.y"
            assert transport.headers["X-Moxn-Client"].startswith(cls.__name__)
            assert IDEMPOTENCY_HEADER == "X-Moxn-Idempotency-Key"
        finally:
            client.tracing.shutdown(1)


def test_moxn_debug_turns_on_request_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOXN_DEBUG", "1")
    client = SyncMoxnClient()
    try:
        assert client._registry.transport.debug
    finally:
        client.close()
    monkeypatch.delenv("MOXN_DEBUG")
    client = SyncMoxnClient()
    try:
        assert not client._registry.transport.debug
    finally:
        client.close()
