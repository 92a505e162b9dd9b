"""The commit cache: bounded LRU, and copies a caller cannot use to corrupt it."""

from __future__ import annotations

import json
import uuid

import pytest

from moxtrace._cache import CommitCache, fresh_copy
from moxtrace.types import (
    CompletionConfig,
    Message,
    MessageRole,
    PromptTemplate,
    Schema,
    SdkTool,
    TextContent,
    ToolCall,
    Variable,
)


def make_prompt() -> PromptTemplate:
    task_id = uuid.uuid4()
    return PromptTemplate(
        id=uuid.uuid4(),
        name="answer",
        task_id=task_id,
        commit_id="c" * 32,
        messages=[
            Message(
                id=uuid.uuid4(),
                name="sys",
                role=MessageRole.SYSTEM,
                blocks=[[TextContent(text="Be brief.")]],
                task_id=task_id,
            ),
            Message(
                id=uuid.uuid4(),
                name="user",
                role=MessageRole.USER,
                blocks=[
                    [TextContent(text="Q: "), Variable(name="query")],
                    [ToolCall(tool_name="search", tool_call_id="t1", input={"q": "x"})],
                ],
                task_id=task_id,
            ),
        ],
        input_schema=Schema(
            id=uuid.uuid4(), name="AnswerInput", exportedJSON=json.dumps({"type": "object"})
        ),
        tools=[SdkTool(name="search", schema={"type": "object", "properties": {"q": {}}})],
        completion_config=CompletionConfig(model="m", stop_sequences=["END"], extra_field={"a": 1}),
    )


def test_a_fresh_copy_equals_the_original_and_shares_no_mutable_part() -> None:
    original = make_prompt()
    snapshot = original.model_dump(mode="json")
    copy = fresh_copy(original)
    assert copy == original
    assert copy.model_dump(mode="json") == snapshot
    # Mutate every mutable level of the copy.
    copy.name = "changed"
    copy.messages[0].name = "changed"
    copy.messages[1].blocks[0].append(TextContent(text="more"))
    copy.messages[1].blocks.append([])
    copy.messages.append(copy.messages[0])
    tool_call = copy.messages[1].blocks[1][0]
    assert isinstance(tool_call, ToolCall)
    tool_call.input["q"] = "changed"
    copy.tools[0].schema_["properties"]["evil"] = {}
    assert copy.input_schema is not None
    copy.input_schema.exportedJSON = "{}"
    assert copy.completion_config is not None
    copy.completion_config.stop_sequences.append("X")  # type: ignore[union-attr]
    copy.completion_config.extra_field["a"] = 2  # type: ignore[attr-defined]
    assert original.model_dump(mode="json") == snapshot


def test_immutable_blocks_are_shared_not_copied() -> None:
    original = make_prompt()
    copy = fresh_copy(original)
    assert copy.messages[0].blocks[0][0] is original.messages[0].blocks[0][0]  # frozen text
    assert copy.messages[1].blocks[1][0] is not original.messages[1].blocks[1][0]  # holds a dict
    assert copy.id is original.id


def test_fields_set_is_copied_too() -> None:
    original = make_prompt()
    copy = fresh_copy(original)
    copy.description = "set later"
    assert "description" not in original.model_fields_set
    assert original.model_dump(exclude_unset=True).keys() == copy.model_dump(
        exclude_unset=True
    ).keys() - {"description"}


def test_cache_returns_a_new_copy_on_every_read() -> None:
    cache: CommitCache[PromptTemplate] = CommitCache(max_entries=4)
    prompt = make_prompt()
    cache.put("k", prompt)
    prompt.name = "the caller changed the object it put"  # the cache kept its own copy
    first = cache.get("k")
    assert first is not None and first.name == "answer"
    first.messages.clear()
    second = cache.get("k")
    assert second is not None and len(second.messages) == 2
    assert (cache.hits, cache.misses) == (2, 0)


def test_cache_is_a_bounded_lru() -> None:
    cache: CommitCache[str] = CommitCache(max_entries=2)
    cache.put("a", "1")
    cache.put("b", "2")
    assert cache.get("a") == "1"  # a is now the most recent
    cache.put("c", "3")  # evicts b
    assert cache.get("b") is None
    assert cache.get("a") == "1"
    assert cache.get("c") == "3"
    assert len(cache) == 2
    assert cache.misses == 1


def test_a_zero_sized_cache_keeps_nothing() -> None:
    cache: CommitCache[str] = CommitCache(max_entries=0)
    cache.put("a", "1")
    assert cache.get("a") is None
    with pytest.raises(ValueError, match="max_entries"):
        CommitCache(max_entries=-1)
