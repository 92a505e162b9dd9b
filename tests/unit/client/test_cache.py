"""The commit cache: bounded LRU, and copies a caller cannot use to corrupt it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

import moxtrace._cache as cache_module
from moxtrace._cache import CommitCache, compile_copier, fresh_copy
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


def compiled_copy(value: Any) -> Any:
    return compile_copier(value)()


COPIES: list[Callable[[Any], Any]] = [fresh_copy, compiled_copy]


@pytest.mark.parametrize("copy_of", COPIES, ids=["fresh_copy", "compile_copier"])
def test_a_copy_equals_the_original_and_shares_no_mutable_part(
    copy_of: Callable[[Any], Any],
) -> None:
    original = make_prompt()
    snapshot = original.model_dump(mode="json")
    copy = copy_of(original)
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
    copy.completion_config.stop_sequences.append("X")
    copy.completion_config.extra_field["a"] = 2
    assert original.model_dump(mode="json") == snapshot


@pytest.mark.parametrize("copy_of", COPIES, ids=["fresh_copy", "compile_copier"])
def test_immutable_blocks_are_shared_not_copied(copy_of: Callable[[Any], Any]) -> None:
    original = make_prompt()
    copy = copy_of(original)
    assert copy.messages[0].blocks[0][0] is original.messages[0].blocks[0][0]  # frozen text
    assert copy.messages[1].blocks[1][0] is not original.messages[1].blocks[1][0]  # holds a dict
    assert copy.id is original.id


@pytest.mark.parametrize("copy_of", COPIES, ids=["fresh_copy", "compile_copier"])
def test_fields_set_is_copied_too(copy_of: Callable[[Any], Any]) -> None:
    original = make_prompt()
    copy = copy_of(original)
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


MODELS = (PromptTemplate, Message, CompletionConfig, Schema, SdkTool, ToolCall)


def mutable_ids(value: Any) -> set[int]:
    """ids of every list, dict and model reachable from ``value``."""
    found: set[int] = set()

    def walk(v: Any) -> None:
        if isinstance(v, list | tuple):
            if isinstance(v, list):
                found.add(id(v))
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            found.add(id(v))
            for x in v.values():
                walk(x)
        elif isinstance(v, MODELS):
            found.add(id(v))
            found.add(id(v.__dict__))
            found.add(id(v.__pydantic_fields_set__))
            for x in v.__dict__.values():
                walk(x)
            if v.__pydantic_extra__ is not None:
                walk(v.__pydantic_extra__)

    walk(value)
    return found


def test_each_compiled_copy_is_new_all_the_way_down() -> None:
    original = make_prompt()
    copier = compile_copier(original)
    first, second = copier(), copier()
    assert first == second == original
    mine = mutable_ids(original)
    assert not mine & mutable_ids(first)
    assert not mine & mutable_ids(second)
    assert not mutable_ids(first) & mutable_ids(second)


def test_compiled_copies_of_plain_values() -> None:
    nested: dict[str, Any] = {"a": [1, {"b": [2, 3]}], "t": (1, [2]), "n": None}
    copier = compile_copier(nested)
    copy = copier()
    assert copy == nested
    copy["a"][1]["b"].append(4)
    copy["t"][1].append(5)
    assert nested == {"a": [1, {"b": [2, 3]}], "t": (1, [2]), "n": None}
    odd_keys = {("tuple", "key"): [1]}  # a key the copier does not unroll
    odd = compile_copier(odd_keys)()
    odd[("tuple", "key")].append(2)
    assert odd_keys == {("tuple", "key"): [1]}
    assert compile_copier("text")() == "text"


def test_deep_and_large_values_fall_back_to_fresh_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    deep: list[Any] = []
    tip = deep
    for _ in range(cache_module._MAX_DEPTH + 20):
        tip.append([])
        tip = tip[0]
    tip.append("bottom")
    copy = compile_copier(deep)()
    assert copy == deep
    tip = copy
    while tip != ["bottom"]:
        tip = tip[0]
    tip.append("changed")
    assert "changed" not in repr(deep)

    monkeypatch.setattr(cache_module, "_MAX_NODES", 10)
    large: list[list[Any]] = [[i] for i in range(50)]
    copy = compile_copier(large)()
    assert copy == large
    copy[0].append("changed")
    assert large[0] == [0]


def test_cache_compiles_on_first_read_not_on_put(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[Any] = []
    real = cache_module.compile_copier

    def counting(value: Any) -> Callable[[], Any]:
        compiled.append(value)
        return real(value)

    monkeypatch.setattr(cache_module, "compile_copier", counting)
    cache: CommitCache[PromptTemplate] = CommitCache()
    cache.put("never read", make_prompt())
    cache.put("read", make_prompt())
    assert compiled == []
    first, second = cache.get("read"), cache.get("read")
    assert len(compiled) == 1
    assert first is not None and second is not None
    assert first == second and first is not second
