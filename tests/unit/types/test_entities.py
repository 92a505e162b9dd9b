"""Entity and telemetry types: lossless JSON round trips and clear validation errors."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from moxtrace.types import (
    Branch,
    BranchHeadResponse,
    Commit,
    CompletionConfig,
    ImageContentFromSource,
    LLMEvent,
    Message,
    MessageData,
    MessageRole,
    ParsedResponse,
    PDFContentFromSource,
    PromptTemplate,
    Property,
    Provider,
    ReasoningContent,
    Schema,
    SdkTool,
    SignedURLImageContent,
    SignedURLPDFContent,
    SpanContext,
    StopReason,
    Task,
    TelemetryEventType,
    TelemetryLogRequest,
    TextContent,
    ThinkingContent,
    TokenUsage,
    ToolCall,
    ToolResult,
    TraceContext,
    Variable,
)
from moxtrace.types.blocks import content_block_adapter
from moxtrace.types.blocks.text import TextContentModel
from moxtrace.types.content import VariableFormat, VariableType

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)
ALL_BLOCKS = [
    TextContent(text="Hello "),
    Variable(name="user", variable_type=VariableType.PRIMITIVE, format=VariableFormat.INLINE),
    Variable(name="photo", variable_type=VariableType.IMAGE, format=VariableFormat.BLOCK),
    ImageContentFromSource(url="https://example.com/a.png", alt="a"),
    SignedURLImageContent(signed_url="https://s/x", file_path="img/x.png", expiration=NOW),
    PDFContentFromSource(url="https://example.com/a.pdf", name="a.pdf"),
    SignedURLPDFContent(signed_url="https://s/y", file_path="doc/y.pdf", expiration=NOW),
    ToolCall(tool_name="search", tool_call_id="c1", input={"q": "x"}),
    ToolCall(tool_name="noargs", tool_call_id="c2"),
    ToolResult(tool_call_id="c1", content="found"),
    ThinkingContent(text="hmm", signature="sig"),
    ReasoningContent(text="step 1"),
]


def full_task() -> Task:
    task_id = uuid.uuid4()
    schema = Schema(
        id=uuid.uuid4(),
        name="AnswerInput",
        exportedJSON='{"type": "object", "x-moxn-metadata": {"schema_id": "s1"}}',
    )
    prompt = PromptTemplate(
        id=uuid.uuid4(),
        name="answer",
        task_id=task_id,
        messages=[
            Message(
                id=uuid.uuid4(),
                name="System",
                role=MessageRole.SYSTEM,
                blocks=[ALL_BLOCKS[:3], ALL_BLOCKS[3:]],
                task_id=task_id,
            )
        ],
        input_schema=schema,
        tools=[
            SdkTool(name="search", schema={"type": "object"}),
            SdkTool(name="Answer", tool_type="structured_output", schema={"type": "object"}),
        ],
        completion_config=CompletionConfig(provider=Provider.OPENAI_CHAT, model="gpt-4.1"),
        commit_id="c0ffee",
    )
    return Task(
        id=task_id,
        name="Support",
        description="Answers customers",
        prompts=[prompt],
        definitions={"AnswerInput": schema.definition},
        branches=[Branch(id=uuid.uuid4(), name="main", task_id=task_id, head_commit_id="c0ffee")],
        last_commit=Commit(id="c0ffee", task_id=task_id, message="first", created_at=NOW),
    )


def test_task_json_round_trip_is_lossless() -> None:
    task = full_task()
    again = Task.model_validate_json(task.model_dump_json())
    assert again == task
    assert Task.model_validate(task.model_dump(mode="json")) == task
    blocks = again.prompts[0].messages[0].blocks
    assert [type(b) for row in blocks for b in row] == [type(b) for b in ALL_BLOCKS]


def test_sdk_tool_serialises_schema_under_its_api_name() -> None:
    tool = SdkTool(name="search", schema={"type": "object"})
    assert tool.model_dump()["schema"] == {"type": "object"}
    assert SdkTool.model_validate(tool.model_dump()) == tool


def test_prompt_tool_views() -> None:
    prompt = full_task().prompts[0]
    assert [t.name for t in prompt.function_tools] == ["search"]
    assert prompt.structured_output_schema is not None
    assert prompt.structured_output_schema.name == "Answer"
    assert prompt.messages[0].variables[0].name == "user"


def test_schema_exposes_moxn_metadata() -> None:
    schema = full_task().prompts[0].input_schema
    assert schema is not None
    assert schema.moxn_metadata == {"schema_id": "s1"}


def test_content_block_union_discriminates_and_rejects_unknown_types() -> None:
    for block in ALL_BLOCKS:
        assert content_block_adapter.validate_python(block.model_dump(mode="json")) == block
    with pytest.raises(ValidationError, match="block_type"):
        content_block_adapter.validate_python({"block_type": "video", "url": "x"})


def test_seed_import_paths_exist() -> None:
    assert TextContentModel is TextContent
    message = MessageData(
        name="System", role=MessageRole.SYSTEM, blocks=[[TextContentModel(text="Hi")]]
    )
    assert MessageData.model_validate_json(message.model_dump_json()) == message


def test_telemetry_round_trips() -> None:
    parsed = ParsedResponse(
        provider=Provider.ANTHROPIC,
        model="claude",
        response_id="msg_1",
        content_blocks=[ThinkingContent(text="t"), TextContent(text="a"), ALL_BLOCKS[7]],
        usage=TokenUsage(
            input_tokens=3,
            output_tokens=4,
            reasoning_tokens=1,
            cache_read_input_tokens=2,
            cache_creation_input_tokens=0,
        ),
        stop_reason=StopReason.TOOL_CALL,
        raw_stop_reason="tool_use",
        raw_response={"id": "msg_1"},
    )
    event = LLMEvent(
        provider=Provider.ANTHROPIC, response=parsed, prompt_id=uuid.uuid4(), started_at=NOW
    )
    assert LLMEvent.model_validate_json(event.model_dump_json()) == event
    assert parsed.text == "a"
    assert [b.tool_call_id for b in parsed.tool_calls] == ["c1"]
    assert len(parsed.thinking) == 1
    assert parsed.usage.total_tokens == 7
    others: list[object] = [
        BranchHeadResponse(
            task_id=uuid.uuid4(),
            branch_name="main",
            effective_commit_id="c1",
            has_uncommitted_changes=True,
            last_committed_at=NOW,
        ),
        Property(id=uuid.uuid4(), name="query", definition={"type": "string"}),
        SpanContext(trace_id="ab" * 16, span_id="cd" * 8),
        TraceContext(trace_id="ab" * 16, parent_span_id="cd" * 8, trace_state="a=b"),
    ]
    for model in others:
        cls = type(model)
        assert cls.model_validate_json(model.model_dump_json()) == model  # type: ignore[attr-defined]


def test_telemetry_log_request_validation_names_the_problem() -> None:
    base = {"event_type": "span_start", "trace_id": "AB" * 16, "span_id": "cd" * 8}
    req = TelemetryLogRequest.model_validate(base)
    assert req.trace_id == "ab" * 16  # normalised to lower case
    assert req.event_type is TelemetryEventType.SPAN_START
    assert TelemetryLogRequest.model_validate_json(req.model_dump_json()) == req
    with pytest.raises(ValidationError, match="trace id must be 32"):
        TelemetryLogRequest.model_validate({**base, "trace_id": "xyz"})
    with pytest.raises(ValidationError, match="not all zero"):
        TelemetryLogRequest.model_validate({**base, "span_id": "0" * 16})
    with pytest.raises(ValidationError, match="commit_id or branch_id, not both"):
        TelemetryLogRequest.model_validate(
            {**base, "commit_id": "c1", "branch_id": str(uuid.uuid4())}
        )
    with pytest.raises(ValidationError, match="event_type"):
        TelemetryLogRequest.model_validate({**base, "event_type": "bogus"})
    tolerant = TelemetryLogRequest.model_validate({**base, "future_field": 1})
    assert not hasattr(tolerant, "future_field")
