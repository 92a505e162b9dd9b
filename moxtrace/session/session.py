"""``PromptSession``: a prompt version together with the data it is rendered with."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any, Literal
from uuid import UUID, uuid4

from moxtrace.session import genai
from moxtrace.session.providers import (
    anthropic,
    google,
    openai_chat,
    openai_responses,
    parse_response,
    stream_accumulator,
)
from moxtrace.session.render import SessionData, VariableSource, render_messages
from moxtrace.session.rendered import RenderedPrompt
from moxtrace.session.request import RequestSettings, resolve_settings
from moxtrace.session.stream import StreamAccumulator
from moxtrace.tracing.identity import MoxnIdentity
from moxtrace.tracing.invocation import mark_invocation
from moxtrace.types.blocks import ContentBlock, TextContent, ToolResult, Variable
from moxtrace.types.content import Author, MessageRole, Provider
from moxtrace.types.prompt import Message, PromptTemplate
from moxtrace.types.telemetry import LLMEvent, ParsedResponse

__all__ = ["PromptSession"]

_GOOGLE = (Provider.GOOGLE_GEMINI, Provider.GOOGLE_VERTEX)


class PromptSession:
    """A prompt template plus session data: what one LLM call (or conversation) is made from.

    The prompt is rendered with the session data once, on first use (``render()``); every
    provider invocation and the telemetry event are built from that one rendering. A
    missing required variable raises ``MissingVariableError`` naming the variable and the
    prompt.

    The session has an id of its own (``moxn.session.id`` on its spans) and knows the
    prompt version it came from, so spans and LLM events it produces carry the prompt,
    task and branch or commit without being told. The message list of every invocation it
    builds carries that identity too (``moxtrace.tracing.invocation``), so an instrumented
    SDK call made with it is attributed to the prompt (docs/instrumentation.md).

    >>> session = PromptSession(prompt, {"query": "Where is my order?"})
    >>> response = anthropic_client.messages.create(**session.to_anthropic_invocation())
    >>> session.parse_response(response).text
    'It ships tomorrow.'
    """

    def __init__(
        self,
        prompt: PromptTemplate,
        session_data: SessionData | None = None,
        *,
        session_id: UUID | None = None,
        render_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.prompt = prompt
        self.session_data = session_data
        self.render_kwargs = dict(render_kwargs or {})
        self.id = session_id or uuid4()
        self._messages: list[Message] = list(prompt.messages)
        self._rendered: RenderedPrompt | None = None
        self._genai: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None

    @classmethod
    def from_prompt(
        cls,
        prompt: PromptTemplate,
        session_data: SessionData | None = None,
        *,
        session_id: UUID | None = None,
        render_kwargs: Mapping[str, Any] | None = None,
    ) -> PromptSession:
        """A session for ``prompt``, rendered at once: a missing or bad variable raises here
        rather than at the first invocation.

        This is what ``client.create_prompt_session`` returns.
        """
        session = cls(prompt, session_data, session_id=session_id, render_kwargs=render_kwargs)
        session.render()
        return session

    # -- what the session is -------------------------------------------------------------
    @property
    def prompt_id(self) -> UUID:
        """The prompt's anchor id."""
        return self.prompt.id

    @property
    def prompt_name(self) -> str:
        """The prompt's name."""
        return self.prompt.name

    @property
    def provider(self) -> Provider | None:
        """The provider the prompt is configured for, if it has a completion config."""
        config = self.prompt.completion_config
        return config.provider if config is not None else None

    @property
    def model(self) -> str | None:
        """The model the prompt is configured for, if it has a completion config."""
        config = self.prompt.completion_config
        return config.model if config is not None else None

    @property
    def messages(self) -> list[Message]:
        """The prompt's messages, then any appended to the session (a copy)."""
        return list(self._messages)

    @property
    def variables(self) -> list[Variable]:
        """Every variable in the messages, in reading order."""
        return [v for message in self._messages for v in message.variables]

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

    # -- rendering -----------------------------------------------------------------------
    def render(self) -> RenderedPrompt:
        """The messages with their variables filled (computed once, then reused).

        Raises ``MissingVariableError`` / ``InvalidVariableError`` (both ``ValueError``).
        """
        rendered = self._rendered
        if rendered is None:
            source = VariableSource(self.session_data, self.render_kwargs)
            rendered = render_messages(self.prompt.name, self._messages, source)
            self._rendered = rendered
        return rendered

    def _changed(self) -> None:
        self._rendered = None
        self._genai = None

    # -- conversation --------------------------------------------------------------------
    def append_message(
        self,
        role: MessageRole | str,
        blocks: str | Sequence[ContentBlock],
        *,
        name: str | None = None,
    ) -> None:
        """Add a message after the prompt's own (text, or content blocks in one row).

        >>> session.append_message("user", "And the return policy?")
        """
        role = MessageRole(role)
        row: list[ContentBlock] = (
            [TextContent(text=blocks)] if isinstance(blocks, str) else list(blocks)
        )
        self._messages.append(
            Message(
                id=uuid4(),
                name=name or f"{role.value} {len(self._messages) + 1}",
                role=role,
                author=Author.MACHINE if role is MessageRole.ASSISTANT else Author.HUMAN,
                blocks=[row],
            )
        )
        self._changed()

    def append_response(self, response: Any, provider: Provider | None = None) -> ParsedResponse:
        """Add the model's answer (text, tool calls, thinking) as an assistant message.

        ``response`` is anything ``parse_response`` takes; the parsed form is returned.
        """
        parsed = self.parse_response(response, provider)
        self.append_message(MessageRole.ASSISTANT, parsed.content_blocks, name="response")
        return parsed

    def append_tool_result(
        self,
        tool_call_id: str,
        content: str | Mapping[str, Any] | list[dict[str, Any]] | None,
        *,
        tool_name: str | None = None,
        is_error: bool = False,
    ) -> None:
        """Add what a tool returned for the call ``tool_call_id``, as a user message.

        >>> session.append_tool_result("toolu_1", {"status": "shipped"})
        """
        payload = dict(content) if isinstance(content, Mapping) else content
        result = ToolResult(
            tool_call_id=tool_call_id, content=payload, tool_name=tool_name, is_error=is_error
        )
        self.append_message(MessageRole.USER, [result], name="tool result")

    # -- invocations ---------------------------------------------------------------------
    def request_settings(
        self,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop_sequences: Sequence[str] | None = None,
        tool_choice: str | None = None,
    ) -> RequestSettings:
        """The prompt's completion config with these overrides applied."""
        return resolve_settings(
            self.prompt,
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            stop_sequences=stop_sequences,
            tool_choice=tool_choice,
        )

    def to_anthropic_invocation(
        self,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop_sequences: Sequence[str] | None = None,
        tool_choice: str | None = None,
        structured_output: Literal["output_config", "tool"] = "output_config",
        **extra: Any,
    ) -> dict[str, Any]:
        """Keyword arguments for ``anthropic.Anthropic().messages.create(**invocation)``.

        System messages go in ``system``; tools, ``tool_choice`` and structured output
        (``output_config.format``, or a forced tool with ``structured_output="tool"``)
        come from the prompt. Keyword arguments override the prompt's settings;
        ``extra`` (``stream=True``, ``thinking=...``, ``metadata=...``) is added as given.
        ``temperature`` / ``top_p`` are sent (through ``extra_body``) only when given
        here: current Anthropic API versions reject them.

        >>> anthropic_client.messages.create(**session.to_anthropic_invocation(max_tokens=512))
        """
        settings = self.request_settings(
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            stop_sequences=stop_sequences,
            tool_choice=tool_choice,
        )
        invocation = anthropic.build_invocation(
            self.render(), settings, structured_output=structured_output
        )
        invocation = _merge(invocation, extra, merge_keys=("extra_body", "extra_headers"))
        return mark_invocation(invocation, "messages", self.identity)

    def to_openai_chat_invocation(
        self,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop_sequences: Sequence[str] | None = None,
        tool_choice: str | None = None,
        system_role: Literal["system", "developer"] = "system",
        **extra: Any,
    ) -> dict[str, Any]:
        """Keyword arguments for ``openai.OpenAI().chat.completions.create(**invocation)``.

        ``max_tokens`` is sent as ``max_completion_tokens``; system messages take
        ``system_role`` (``"developer"`` for reasoning models); structured output is a
        ``json_schema`` ``response_format``. With ``stream=True`` the invocation also
        asks for usage in the stream (``stream_options``).

        >>> openai_client.chat.completions.create(**session.to_openai_chat_invocation())
        """
        settings = self.request_settings(
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            stop_sequences=stop_sequences,
            tool_choice=tool_choice,
        )
        invocation = openai_chat.build_invocation(
            self.render(),
            settings,
            system_role=system_role,
            stream=bool(extra.get("stream")),
        )
        invocation = _merge(invocation, extra, merge_keys=("extra_body", "extra_headers"))
        return mark_invocation(invocation, "messages", self.identity)

    def to_openai_responses_invocation(
        self,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        tool_choice: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Keyword arguments for ``openai.OpenAI().responses.create(**invocation)``.

        System messages become ``instructions``; ``max_tokens`` is sent as
        ``max_output_tokens``; structured output is ``text.format``.

        >>> openai_client.responses.create(**session.to_openai_responses_invocation())
        """
        settings = self.request_settings(
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            tool_choice=tool_choice,
        )
        invocation = openai_responses.build_invocation(self.render(), settings)
        invocation = _merge(invocation, extra, merge_keys=("extra_body", "extra_headers", "text"))
        return mark_invocation(invocation, "input", self.identity)

    def to_google_invocation(
        self,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop_sequences: Sequence[str] | None = None,
        tool_choice: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Keyword arguments for ``google.genai.Client().models.generate_content(**invocation)``
        (Gemini and Vertex AI alike; ``generate_content_stream`` takes the same).

        Everything but ``model`` and ``contents`` lives in ``config``: extra keywords
        (``thinking_config=...``, ``safety_settings=...``) go there too, and a ``config``
        mapping is merged into it.

        >>> genai_client.models.generate_content(**session.to_google_invocation())
        """
        settings = self.request_settings(
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            stop_sequences=stop_sequences,
            tool_choice=tool_choice,
        )
        invocation = google.build_invocation(self.render(), settings)
        config: dict[str, Any] = invocation["config"]
        for key, value in extra.items():
            if key == "config":
                config.update(dict(value))
            elif key in ("model", "contents"):
                invocation[key] = value
            else:
                config[key] = value
        return mark_invocation(invocation, "contents", self.identity)

    def to_invocation(self, provider: Provider | None = None, **kwargs: Any) -> dict[str, Any]:
        """The invocation for ``provider`` (by default the prompt's configured one).

        >>> session.to_invocation()                        # prompt says Provider.ANTHROPIC
        {'model': 'claude-sonnet-4', 'max_tokens': 4096, 'messages': [...], ...}
        """
        provider = self._provider(provider)
        if provider is Provider.ANTHROPIC:
            return self.to_anthropic_invocation(**kwargs)
        if provider is Provider.OPENAI_CHAT:
            return self.to_openai_chat_invocation(**kwargs)
        if provider is Provider.OPENAI_RESPONSES:
            return self.to_openai_responses_invocation(**kwargs)
        if provider in _GOOGLE:
            return self.to_google_invocation(**kwargs)
        raise ValueError(f"unknown provider {provider!r}")

    # -- responses -----------------------------------------------------------------------
    def _provider(self, provider: Provider | None) -> Provider:
        if provider is not None:
            return Provider(provider)
        configured = self.provider
        if configured is None:
            raise ValueError(
                f"prompt {self.prompt.name!r} has no completion_config: pass provider="
            )
        return configured

    def parse_response(self, response: Any, provider: Provider | None = None) -> ParsedResponse:
        """Parse a provider response (SDK object, dict, stream accumulator or list of
        stream events); ``provider`` defaults to the prompt's configured one."""
        return parse_response(response, self._provider(provider))

    def parse_stream(
        self,
        provider: Provider | None = None,
        *,
        started_at: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> StreamAccumulator:
        """A stream accumulator for ``provider``; its clock starts now (or at ``started_at``).

        >>> acc = session.parse_stream()
        >>> for event in acc.wrap(anthropic_client.messages.create(**inv, stream=True)):
        ...     ...
        >>> acc.result().time_to_first_chunk_ms
        412.5
        """
        return stream_accumulator(self._provider(provider), started_at=started_at, clock=clock)

    # -- telemetry -----------------------------------------------------------------------
    def genai_messages(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``(system_instructions, input_messages)`` in the GenAI conventions' JSON shapes,
        with variables filled from the session data."""
        shapes = self._genai
        if shapes is None:
            shapes = genai.genai_messages(self.render())
            self._genai = shapes
        return shapes

    def _request_parameters(self, provider: Provider) -> dict[str, Any]:
        try:
            settings = self.request_settings()
        except ValueError:
            return {}
        if provider is Provider.ANTHROPIC:
            return anthropic.request_parameters(settings)
        if provider is Provider.OPENAI_CHAT:
            return openai_chat.request_parameters(settings)
        if provider is Provider.OPENAI_RESPONSES:
            return openai_responses.request_parameters(settings)
        return google.request_parameters(settings)

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
        """An ``LLMEvent`` for a parsed response of a call made from this session.

        The input messages, system instructions and tool definitions come from the
        session's rendering; the request parameters from the prompt's settings as the
        response's provider sends them (``request_parameters`` adds to or overrides them).
        """
        system, messages = self.genai_messages()
        params = self._request_parameters(parsed_response.provider)
        params.update(request_parameters or {})
        identity = self.identity
        return LLMEvent(
            provider=parsed_response.provider,
            request_model=request_model or self.model,
            response=parsed_response,
            input_messages=messages,
            system_instructions=system,
            tool_definitions=genai.genai_tool_definitions(self.prompt.function_tools),
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
        self, response: Any, provider: Provider | None = None, **event: Any
    ) -> LLMEvent:
        """Parse ``response`` (anything ``parse_response`` takes) and make its ``LLMEvent``.

        ``provider`` defaults to the prompt's ``completion_config.provider``; ``event``
        keywords go to ``create_llm_event_from_parsed_response``.
        """
        return self.create_llm_event_from_parsed_response(
            self.parse_response(response, provider), **event
        )


def _merge(
    invocation: dict[str, Any], extra: Mapping[str, Any], *, merge_keys: Iterable[str]
) -> dict[str, Any]:
    """``extra`` laid over ``invocation``; mappings under ``merge_keys`` are merged."""
    mergeable = set(merge_keys)
    for key, value in extra.items():
        current = invocation.get(key)
        if key in mergeable and isinstance(current, dict) and isinstance(value, Mapping):
            invocation[key] = {**current, **value}
        else:
            invocation[key] = value
    return invocation
