"""``PromptSession``: a prompt version together with the data it is rendered with."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel

from moxtrace.session.providers import parse_response
from moxtrace.tracing.identity import MoxnIdentity
from moxtrace.types.blocks import (
    ContentBlock,
    ImageContentFromSource,
    PDFContentFromSource,
    ReasoningContent,
    SignedURLImageContent,
    SignedURLPDFContent,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolResult,
    Variable,
)
from moxtrace.types.content import MessageRole, Provider
from moxtrace.types.prompt import PromptTemplate
from moxtrace.types.telemetry import LLMEvent, ParsedResponse

__all__ = ["PromptSession"]


def _variable_values(session_data: BaseModel | Mapping[str, Any] | None) -> dict[str, Any]:
    if session_data is None:
        return {}
    if isinstance(session_data, Mapping):
        return dict(session_data)
    render = getattr(session_data, "render", None)
    if callable(render):
        rendered = render()
        if isinstance(rendered, Mapping):
            return dict(rendered)
    return session_data.model_dump(mode="json")


class PromptSession:
    """A prompt template plus session data: what one LLM call is made from.

    The session has an id of its own (``moxn.session.id`` on its spans) and knows the
    prompt version it came from, so spans and LLM events it produces carry the
    prompt, task and branch or commit without being told.
    """

    def __init__(
        self,
        prompt: PromptTemplate,
        session_data: BaseModel | Mapping[str, Any] | None = None,
        *,
        session_id: UUID | None = None,
    ) -> None:
        self.prompt = prompt
        self.session_data = session_data
        self.id = session_id or uuid4()

    @property
    def prompt_id(self) -> UUID:
        return self.prompt.id

    @property
    def prompt_name(self) -> str:
        return self.prompt.name

    @cached_property
    def identity(self) -> MoxnIdentity:
        """The prompt version and session this session's telemetry belongs to."""
        p = self.prompt
        return MoxnIdentity(
            prompt_id=str(p.id),
            prompt_name=p.name,
            task_id=str(p.task_id),
            commit_id=p.commit_id,
            branch_id=None if p.commit_id or p.branch_id is None else str(p.branch_id),
            branch_name=None if p.commit_id else p.branch_name,
            session_id=str(self.id),
        )

    # -- telemetry ---------------------------------------------------------------------
    def genai_messages(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``(system_instructions, input_messages)`` in the GenAI conventions' JSON shapes,
        with variables filled from the session data."""
        values = _variable_values(self.session_data)
        system: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        for message in self.prompt.messages:
            parts = _parts(message.blocks, values)
            if message.role is MessageRole.SYSTEM:
                system.extend(parts)
            else:
                messages.append({"role": message.role.value, "parts": parts})
        return system, messages

    def create_llm_event_from_parsed_response(
        self,
        parsed_response: ParsedResponse,
        *,
        request_model: str | None = None,
        request_parameters: Mapping[str, Any] | None = None,
        attributes: Mapping[str, Any] | None = None,
        error: str | None = None,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
    ) -> LLMEvent:
        """An ``LLMEvent`` for a parsed response of a call made from this session."""
        config = self.prompt.completion_config
        system, messages = self.genai_messages()
        params: dict[str, Any] = {}
        if config is not None:
            params = {
                "max_tokens": config.max_tokens,
                "temperature": config.temperature,
                "top_p": config.top_p,
            }
        params.update(request_parameters or {})
        identity = self.identity
        return LLMEvent(
            provider=parsed_response.provider,
            request_model=request_model or (config.model if config else None),
            response=parsed_response,
            input_messages=messages,
            system_instructions=system,
            tool_definitions=[
                {
                    "type": "function",
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                }
                for t in self.prompt.function_tools
            ],
            request_parameters={k: v for k, v in params.items() if v is not None},
            prompt_id=self.prompt.id,
            prompt_name=self.prompt.name,
            task_id=self.prompt.task_id,
            branch_id=identity.branch_id,
            branch_name=identity.branch_name,
            commit_id=identity.commit_id,
            session_id=self.id,
            attributes=dict(attributes or {}),
            error=error,
            started_at=started_at,
            ended_at=ended_at,
        )

    def create_llm_event_from_response(
        self, response: Any, provider: Provider | None = None
    ) -> LLMEvent:
        """Parse ``response`` (SDK object or dict) and make its ``LLMEvent``.

        ``provider`` defaults to the prompt's ``completion_config.provider``.
        """
        if provider is None:
            config = self.prompt.completion_config
            if config is None:
                raise ValueError(
                    f"prompt {self.prompt.name!r} has no completion_config: pass provider="
                )
            provider = config.provider
        return self.create_llm_event_from_parsed_response(parse_response(response, provider))


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, default=str)


def _parts(blocks: list[list[ContentBlock]], values: Mapping[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    text_rows: list[str] = []

    def flush_text() -> None:
        if text_rows:
            parts.append({"type": "text", "content": "\n".join(text_rows)})
            text_rows.clear()

    for row in blocks:
        line: list[str] = []
        for block in row:
            if isinstance(block, TextContent):
                line.append(block.text)
            elif isinstance(block, Variable):
                value = values.get(block.name)
                line.append("" if value is None else _value_text(value))
            elif isinstance(block, ImageContentFromSource | SignedURLImageContent):
                url = block.url if isinstance(block, ImageContentFromSource) else block.signed_url
                flush_text()
                parts.append({"type": "uri", "modality": "image", "uri": url})
            elif isinstance(block, PDFContentFromSource | SignedURLPDFContent):
                url = block.url if isinstance(block, PDFContentFromSource) else block.signed_url
                flush_text()
                parts.append({"type": "uri", "modality": "document", "uri": url})
            elif isinstance(block, ToolCall):
                flush_text()
                parts.append(
                    {
                        "type": "tool_call",
                        "id": block.tool_call_id,
                        "name": block.tool_name,
                        "arguments": block.input,
                    }
                )
            elif isinstance(block, ToolResult):
                flush_text()
                parts.append(
                    {
                        "type": "tool_call_response",
                        "id": block.tool_call_id,
                        "response": block.content,
                    }
                )
            elif isinstance(block, ThinkingContent | ReasoningContent):
                flush_text()
                parts.append({"type": "reasoning", "content": block.text})
        if line:
            text_rows.append("".join(line))
    flush_text()
    return parts
