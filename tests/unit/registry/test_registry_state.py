"""The registry's pure core: edits of a task state, shared messages, input schemas."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from moxtrace.server.registry.state import (
    EditError,
    TaskState,
    Version,
    prompt_json,
    schema_name,
    task_json,
)
from moxtrace.types import PromptTemplate, Task
from moxtrace.types.content import MessageRole


def text(value: str) -> dict[str, Any]:
    return {"block_type": "text", "text": value}


def var(name: str, **extra: Any) -> dict[str, Any]:
    return {"block_type": "variable", "name": name, **extra}


@pytest.fixture
def state() -> TaskState:
    return TaskState(name="Support bot")


def test_a_prompt_schema_follows_its_variables(state: TaskState) -> None:
    system = state.add_message(
        name="sys", role=MessageRole.SYSTEM, blocks=[[text("Hi "), var("user")]]
    )
    ask = state.add_message(
        name="ask",
        role=MessageRole.USER,
        blocks=[
            [var("query", description="The question")],
            [var("user"), var("note", required=False)],
        ],
    )
    prompt = state.add_prompt(name="Product help", message_ids=[system.id, ask.id])
    assert prompt.schema_name == "ProductHelpInput"
    assert prompt.input_schema == {
        "title": "ProductHelpInput",
        "type": "object",
        "properties": {
            "user": {"type": "string"},
            "query": {"type": "string", "description": "The question"},
            "note": {"type": "string"},
        },
        "required": ["user", "query"],
    }
    # Editing a message regenerates the schema.
    state.update_message(
        ask.id, {"blocks": [[var("query")], [var("image", variable_type="image")]]}
    )
    schema = state.prompt(prompt.id).input_schema
    assert list(schema["properties"]) == ["user", "query", "image"]
    assert schema["properties"]["image"] == {"type": "string", "x-moxn-variable-type": "image"}


def test_a_shared_message_edit_changes_every_prompt_using_it(state: TaskState) -> None:
    shared = state.add_message(name="shared", role=MessageRole.SYSTEM, blocks=[[text("v1")]])
    own = state.add_message(name="own", role=MessageRole.USER, blocks=[[var("q")]])
    first = state.add_prompt(name="A", message_ids=[shared.id, own.id])
    second = state.add_prompt(name="B", message_ids=[shared.id])
    state.update_message(shared.id, {"blocks": [[text("v2 "), var("tone")]]})
    for prompt in (first, second):
        rendered = prompt_json(state, state.prompt(prompt.id), uuid.uuid4(), Version(commit_id="c"))
        assert rendered["messages"][0]["blocks"] == [[text("v2 "), var("tone")]]
        assert "tone" in json.loads(rendered["input_schema"]["exportedJSON"])["properties"]
    assert set(state.prompts_using(shared.id)) == {first.id, second.id}


def test_anchor_ids_survive_edits_and_renames(state: TaskState) -> None:
    message = state.add_message(name="m", role=MessageRole.USER, blocks=[])
    prompt = state.add_prompt(name="Old name", message_ids=[message.id])
    schema_id = prompt.schema_id
    renamed = state.update_prompt(prompt.id, {"name": "New name"})
    assert (renamed.id, renamed.schema_id) == (prompt.id, schema_id)
    assert renamed.schema_name == "NewNameInput"
    copy = TaskState.model_validate_json(state.model_dump_json())  # what a commit stores
    assert copy.prompt(prompt.id).schema_id == schema_id


def test_properties_type_variables_by_name_or_id(state: TaskState) -> None:
    docs = state.add_property(
        name="documents",
        definition={"type": "array", "items": {"type": "object"}},
        description="Retrieved documents",
    )
    count = state.add_property(name="n", definition={"type": "integer"})
    message = state.add_message(
        name="m",
        role=MessageRole.USER,
        blocks=[[var("documents"), var("limit", property_id=str(count.id))]],
    )
    prompt = state.add_prompt(name="P", message_ids=[message.id])
    props = state.prompt(prompt.id).input_schema["properties"]
    assert props["documents"] == {
        "type": "array",
        "items": {"type": "object"},
        "description": "Retrieved documents",
    }
    assert props["limit"] == {"type": "integer"}
    state.update_property(docs.id, {"definition": {"type": "string"}})
    assert state.prompt(prompt.id).input_schema["properties"]["documents"]["type"] == "string"


def test_schema_names_are_unique_within_a_task(state: TaskState) -> None:
    a = state.add_prompt(name="Q&A", message_ids=[])
    b = state.add_prompt(name="QA", message_ids=[])
    c = state.add_prompt(name="qa", message_ids=[])
    assert [state.prompt(p.id).schema_name for p in (a, b, c)] == ["QAInput", "QAInput2", "QaInput"]
    assert schema_name("42 answers") == "P42AnswersInput"


def test_unknown_ids_are_404_edit_errors(state: TaskState) -> None:
    with pytest.raises(EditError) as caught:
        state.add_prompt(name="P", message_ids=[uuid.uuid4()])
    assert caught.value.status == 404
    with pytest.raises(EditError, match="prompt"):
        state.update_prompt(uuid.uuid4(), {})
    with pytest.raises(EditError, match="message"):
        state.update_message(uuid.uuid4(), {})
    with pytest.raises(EditError, match="property"):
        state.update_property(uuid.uuid4(), {})


def test_deleting_a_prompt_keeps_its_messages(state: TaskState) -> None:
    message = state.add_message(name="m", role=MessageRole.USER, blocks=[])
    prompt = state.add_prompt(name="P", message_ids=[message.id])
    state.delete_prompt(prompt.id)
    assert not state.prompts
    assert state.message(message.id).name == "m"


def test_reads_are_stamped_with_their_version_and_parse_as_sdk_types(state: TaskState) -> None:
    task_id, branch_id = uuid.uuid4(), uuid.uuid4()
    message = state.add_message(name="m", role=MessageRole.USER, blocks=[[var("q")]])
    prompt = state.add_prompt(name="P", message_ids=[message.id])
    on_branch = PromptTemplate.model_validate(
        prompt_json(state, prompt, task_id, Version(branch_id=branch_id, branch_name="main"))
    )
    assert (on_branch.branch_id, on_branch.branch_name, on_branch.commit_id) == (
        branch_id,
        "main",
        None,
    )
    assert on_branch.input_schema is not None
    assert on_branch.input_schema.moxn_metadata == {
        "schema_id": str(prompt.schema_id),
        "prompt_id": str(prompt.id),
        "task_id": str(task_id),
        "branch_id": str(branch_id),
        "branch_name": "main",
    }
    task = Task.model_validate(task_json(state, task_id, Version(commit_id="c1"), [], None))
    assert task.commit_id == "c1" and task.branch_id is None
    assert task.definitions["PInput"]["x-moxn-metadata"]["commit_id"] == "c1"
    assert task.prompts[0].messages[0].task_id == task_id
