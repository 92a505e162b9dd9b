"""The registry against the real ``moxtrace serve`` (SQLite and PostgreSQL), through both
clients: create, edit on a branch, commit, branch from a commit, read by branch and by
commit, shared messages, input schemas, concurrent commits, idempotency, isolation."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from moxtrace.errors import ConflictError, NotFoundError, ValidationError
from moxtrace.types import (
    MessageData,
    MessageRole,
    PromptTemplate,
    TextContent,
    Variable,
    VariableType,
)
from tests.integration.registry_support import ClientFactory, client_factory, clients
from tests.support.server import MoxtraceServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry_server(shared_moxtrace_server: MoxtraceServer) -> MoxtraceServer:
    return shared_moxtrace_server


@pytest.fixture(params=["sync", "async"])
def make_client(
    request: pytest.FixtureRequest, registry_server: MoxtraceServer
) -> Iterator[ClientFactory]:
    with clients(request.param, registry_server) as make:
        yield make


def properties(prompt: PromptTemplate) -> dict[str, Any]:
    assert prompt.input_schema is not None
    props: dict[str, Any] = prompt.input_schema.definition["properties"]
    return props


def texts(prompt: PromptTemplate) -> list[str]:
    return [b.text for m in prompt.messages for row in m.blocks for b in row if hasattr(b, "text")]


def make_task(client: Any) -> tuple[Any, Any, PromptTemplate, PromptTemplate]:
    """A task with a shared system message and two prompts using it."""
    task = client.create_task(f"Support bot {uuid.uuid4().hex[:6]}", "Answers customers")
    system = client.create_message(
        task.id,
        MessageData(
            name="System",
            role=MessageRole.SYSTEM,
            blocks=[[TextContent(text="You are helpful. Customer: "), Variable(name="user_name")]],
        ),
    )
    answer = client.create_prompt(
        task.id,
        "Product help",
        [
            system,
            MessageData(
                name="Question",
                role=MessageRole.USER,
                blocks=[[Variable(name="query", description="The user's question")]],
            ),
        ],
    )
    summary = client.create_prompt(task.id, "Summary", [system.id])
    return task, system, answer, summary


def test_branch_commit_and_branch_from_commit(make_client: ClientFactory) -> None:
    client = make_client()
    task, system, answer, summary = make_task(client)
    assert task.branch_name == "main" and task.commit_id is None
    v1 = client.commit(task.id, "main", "first version")
    assert v1.parent_commit_id is None

    client.create_branch(task.id, "terse", v1.id)
    client.update_message(system.id, "terse", blocks=[[TextContent(text="Be terse.")]])
    v2 = client.commit(task.id, "terse", "terse tone")
    assert v2.parent_commit_id == v1.id

    at_v1 = client.get_prompt(answer.id, commit_id=v1.id)
    at_v2 = client.get_prompt(answer.id, commit_id=v2.id)
    on_main = client.get_prompt(answer.id, branch_name="main")
    on_terse = client.get_prompt(str(answer.id), branch_name="terse")
    # One anchor id everywhere; the content differs by version.
    assert at_v1.id == at_v2.id == on_main.id == on_terse.id == answer.id
    assert at_v1.messages[0].id == at_v2.messages[0].id == system.id
    assert texts(at_v1)[0] == "You are helpful. Customer: "
    assert texts(at_v2) == texts(on_terse) == ["Be terse."]
    assert texts(on_main) == texts(at_v1)
    # Each copy says which version it came from.
    assert (at_v1.commit_id, at_v1.branch_name) == (v1.id, None)
    assert (on_terse.commit_id, on_terse.branch_name) == (None, "terse")
    assert at_v2.input_schema is not None
    assert at_v2.input_schema.moxn_metadata["commit_id"] == v2.id
    assert on_terse.input_schema is not None
    assert on_terse.input_schema.moxn_metadata["branch_name"] == "terse"

    task_v1 = client.get_task(task.id, commit_id=v1.id)
    assert [p.id for p in task_v1.prompts] == [answer.id, summary.id]
    assert task_v1.last_commit is not None and task_v1.last_commit.id == v1.id
    assert {b.name for b in task_v1.branches} == {"main", "terse"}
    assert sorted(task_v1.definitions) == ["ProductHelpInput", "SummaryInput"]
    history = client.list_commits(task.id, "terse")
    assert [c.id for c in history] == [v2.id, v1.id]
    assert client.get_commit(v2.id).message == "terse tone"


def test_a_shared_message_edit_shows_in_every_prompt_of_the_branch(
    make_client: ClientFactory,
) -> None:
    client = make_client()
    task, system, answer, summary = make_task(client)
    base = client.commit(task.id, "main", "base")
    client.create_branch(task.id, "other", base.id)
    client.update_message(
        system.id, "main", blocks=[[TextContent(text="Shared edit for "), Variable(name="tier")]]
    )
    for prompt_id in (answer.id, summary.id):
        prompt = client.get_prompt(prompt_id, branch_name="main")
        assert texts(prompt)[0] == "Shared edit for "
        assert "tier" in properties(prompt)
    # Not on another branch, not in the commit.
    for kwargs in ({"branch_name": "other"}, {"commit_id": base.id}):
        assert texts(client.get_prompt(summary.id, **kwargs))[0] == "You are helpful. Customer: "


def test_the_input_schema_follows_the_variables(make_client: ClientFactory) -> None:
    client = make_client()
    task, system, answer, _ = make_task(client)
    assert properties(answer) == {
        "user_name": {"type": "string"},
        "query": {"type": "string", "description": "The user's question"},
    }
    assert answer.input_schema is not None
    assert answer.input_schema.definition["required"] == ["user_name", "query"]
    assert answer.input_schema.name == "ProductHelpInput"
    schema_id = answer.input_schema.id

    question = answer.messages[1]
    client.update_message(
        question.id,
        "main",
        blocks=[
            [Variable(name="query")],
            [Variable(name="screenshot", variable_type=VariableType.IMAGE, required=False)],
            [Variable(name="documents")],
        ],
    )
    client.create_property(
        task.id, "documents", {"type": "array", "items": {"type": "string"}}, "Retrieved docs"
    )
    updated = client.get_prompt(answer.id, branch_name="main")
    assert list(properties(updated)) == ["user_name", "query", "screenshot", "documents"]
    assert properties(updated)["screenshot"]["x-moxn-variable-type"] == "image"
    assert properties(updated)["documents"] == {
        "type": "array",
        "items": {"type": "string"},
        "description": "Retrieved docs",
    }
    assert updated.input_schema is not None
    assert updated.input_schema.definition["required"] == ["user_name", "query", "documents"]
    assert updated.input_schema.id == schema_id  # the schema's anchor id is stable
    # Removing a message from the prompt removes its variables.
    client.update_prompt(answer.id, "main", messages=[system])
    assert list(properties(client.get_prompt(answer.id, branch_name="main"))) == ["user_name"]


def test_branch_head_reports_where_the_branch_stands(make_client: ClientFactory) -> None:
    client = make_client()
    task, system, _, _ = make_task(client)
    head = client.get_branch_head(task.id, "main")
    assert (head.head_commit_id, head.effective_commit_id) == (None, None)
    assert head.has_uncommitted_changes and head.last_committed_at is None

    first = client.commit(task.id, "main", "first")
    head = client.get_branch_head(task.id)
    assert head.effective_commit_id == head.head_commit_id == first.id
    assert not head.has_uncommitted_changes
    assert head.last_committed_at is not None

    client.update_message(system.id, "main", name="System v2")
    assert client.get_branch_head(task.id).has_uncommitted_changes

    client.create_branch(task.id, "release/1", first.id)
    fresh = client.get_branch_head(task.id, "release/1")
    assert fresh.head_commit_id is None and fresh.effective_commit_id == first.id
    assert not fresh.has_uncommitted_changes


def test_concurrent_commits_one_wins_the_other_gets_409(make_client: ClientFactory) -> None:
    client = make_client()
    other = make_client()
    task, system, _, _ = make_task(client)
    client.commit(task.id, "main", "base")
    for round_ in range(3):
        client.update_message(system.id, "main", name=f"System {round_}")
        head = client.get_branch_head(task.id).head_commit_id
        barrier = threading.Barrier(2)
        outcomes: list[Any] = []

        def commit(
            c: Any,
            message: str,
            barrier: threading.Barrier = barrier,
            outcomes: list[Any] = outcomes,
            head: str | None = head,
        ) -> None:
            barrier.wait()
            try:
                outcomes.append(c.commit(task.id, "main", message, expected_head_commit_id=head))
            except ConflictError as exc:
                outcomes.append(exc)

        threads = [
            threading.Thread(target=commit, args=(c, f"{name} {round_}"))
            for c, name in ((client, "a"), (other, "b"))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        conflicts = [o for o in outcomes if isinstance(o, ConflictError)]
        winners = [o for o in outcomes if not isinstance(o, ConflictError)]
        assert len(winners) == 1 and len(conflicts) == 1, outcomes
        assert conflicts[0].status_code == 409
        assert conflicts[0].code == "head_moved"
        assert conflicts[0].details == {"head_commit_id": winners[0].id}
        assert client.get_branch_head(task.id).head_commit_id == winners[0].id
    # Without an expected head, the loser finds nothing left to commit.
    with pytest.raises(ConflictError) as caught:
        client.commit(task.id, "main", "again")
    assert caught.value.code == "nothing_to_commit"


def test_exactly_one_version_selector(
    make_client: ClientFactory, registry_server: MoxtraceServer
) -> None:
    client = make_client()
    task, _, answer, _ = make_task(client)
    with pytest.raises(ValidationError, match="got both"):
        client.get_prompt(answer.id, branch_name="main", commit_id="c" * 32)
    with pytest.raises(ValidationError, match="got neither"):
        client.get_task(task.id)
    with registry_server.client() as http:
        for params, got in (({"branch_name": "main", "commit_id": "x"}, "both"), ({}, "neither")):
            for path in (f"/prompts/{answer.id}", f"/tasks/{task.id}"):
                reply = http.get(path, params=params)
                assert reply.status_code == 422
                error = reply.json()["error"]
                assert error["code"] == "invalid_version_selector"
                assert error["message"] == (
                    f"give exactly one of branch_name or commit_id (got {got})"
                )


def test_missing_things_are_404(make_client: ClientFactory) -> None:
    client = make_client()
    task, _, answer, _ = make_task(client)
    other_task = client.create_task("Other task")
    other_commit = client.commit(other_task.id, "main", "x")
    for call in (
        lambda: client.get_prompt(uuid.uuid4(), branch_name="main"),
        lambda: client.get_prompt(answer.id, branch_name="no-such-branch"),
        lambda: client.get_prompt(answer.id, commit_id="0" * 32),
        lambda: client.get_prompt(answer.id, commit_id=other_commit.id),  # another task's
        lambda: client.get_task(uuid.uuid4(), branch_name="main"),
        lambda: client.get_branch_head(task.id, "nope"),
    ):
        with pytest.raises(NotFoundError):
            call()
    # A prompt created on another branch does not exist on main.
    base = client.commit(task.id, "main", "base")
    client.create_branch(task.id, "feature", base.id)
    new = client.create_prompt(
        task.id,
        "Feature only",
        [MessageData(name="m", role=MessageRole.USER)],
        branch_name="feature",
    )
    assert client.get_prompt(new.id, branch_name="feature").name == "Feature only"
    with pytest.raises(NotFoundError, match="does not exist in this version"):
        client.get_prompt(new.id, branch_name="main")


def test_branches_are_validated_and_unique(make_client: ClientFactory) -> None:
    client = make_client()
    task, _, _, _ = make_task(client)
    first = client.commit(task.id, "main", "v1")
    client.create_branch(task.id, "dup", first.id)
    with pytest.raises(ConflictError) as caught:
        client.create_branch(task.id, "dup", first.id)
    assert caught.value.code == "branch_exists"
    with pytest.raises(ValidationError, match="branch"):
        client.create_branch(task.id, "bad name!", first.id)
    assert {b.name for b in client.list_branches(task.id)} == {"main", "dup"}


def test_a_repeated_idempotency_key_replays_the_first_reply(
    make_client: ClientFactory, registry_server: MoxtraceServer
) -> None:
    client = make_client()
    key = uuid.uuid4().hex
    first = client.create_task("Once", idempotency_key=key)
    again = client.create_task("Once", idempotency_key=key)
    assert again.id == first.id
    with registry_server.client() as http:
        reply = http.post(
            "/tasks",
            json={"name": "Once", "branch_name": "main"},
            headers={"X-Moxn-Idempotency-Key": key},
        )
        assert reply.headers["x-moxn-idempotent-replay"] == "true"
        assert reply.json()["data"]["id"] == str(first.id)
        reused = http.post(
            "/tasks", json={"name": "Something else"}, headers={"X-Moxn-Idempotency-Key": key}
        )
        assert reused.status_code == 422
        assert reused.json()["error"]["code"] == "idempotency_key_reused"
        assert reused.headers["x-request-id"]


def test_tenants_never_see_each_other(registry_server: MoxtraceServer) -> None:
    mine, made = client_factory("sync", registry_server.base_url, registry_server.api_key)
    task, _, answer, _ = make_task(mine())
    other_key = registry_server.create_key(f"t{uuid.uuid4().hex[:8]}")
    theirs, made_too = client_factory("sync", registry_server.base_url, other_key)
    try:
        stranger = theirs()
        assert stranger.verify_access()["tenant_id"] != "dev"
        with pytest.raises(NotFoundError):
            stranger.get_prompt(answer.id, branch_name="main")
        with pytest.raises(NotFoundError):
            stranger.get_task(task.id, branch_name="main")
        with pytest.raises(NotFoundError):
            stranger.create_prompt(task.id, "intruder", [])
    finally:
        for client in made + made_too:
            client.close()


def test_create_prompt_takes_dicts_and_returns_what_a_read_returns(
    make_client: ClientFactory, registry_server: MoxtraceServer
) -> None:
    client = make_client()
    task = client.create_task("Dicts")
    created = client.create_prompt(
        task.id,
        "From dicts",
        [
            {
                "name": "User",
                "role": "user",
                "blocks": [
                    [{"block_type": "text", "text": "Q: "}, {"block_type": "variable", "name": "q"}]
                ],
            }
        ],
        description="made from plain dicts",
        completion_config={"provider": "anthropic", "model": "claude-sonnet-4", "max_tokens": 256},
        tools=[{"name": "search", "schema": {"type": "object"}, "tool_type": "tool"}],
    )
    read = client.get_prompt(created.id, branch_name="main")
    assert read == created
    assert read.completion_config is not None and read.completion_config.max_tokens == 256
    assert [t.name for t in read.function_tools] == ["search"]
    with registry_server.client() as http:
        bad = http.post(
            "/prompts",
            json={
                "task_id": str(task.id),
                "name": "x",
                "messages": [{"name": "m", "role": "robot"}],
            },
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["message"].startswith("messages.0")
        raw = http.get(f"/prompts/{created.id}", params={"branch_name": "main"}).json()["data"]
        assert json.loads(raw["input_schema"]["exportedJSON"])["title"] == "FromDictsInput"
