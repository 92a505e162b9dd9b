"""Request settings: a prompt's completion config merged with per-call overrides.

Resolved once per invocation and handed to the provider module, which only translates
them into its own field names (``max_tokens`` / ``max_completion_tokens`` /
``max_output_tokens``...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from moxtrace.types.prompt import PromptTemplate
from moxtrace.types.schema import SdkTool

__all__ = ["DEFAULT_MAX_TOKENS", "RequestSettings", "ToolChoice", "resolve_settings"]

DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` when the prompt has no completion config (Anthropic requires one)."""

_MODES = {"auto": "auto", "required": "required", "any": "required", "none": "none"}


@dataclass(frozen=True)
class ToolChoice:
    """Whether and which tool the model must call: ``auto``, ``required``, ``none``, or
    ``tool`` with the tool's ``name``."""

    mode: Literal["auto", "required", "none", "tool"]
    name: str | None = None

    @classmethod
    def parse(cls, value: str, tools: Sequence[SdkTool], prompt_name: str) -> ToolChoice:
        """Read a ``tool_choice`` setting: a mode (``any`` means ``required``) or a tool name.

        >>> ToolChoice.parse("any", [], "p")
        ToolChoice(mode='required', name=None)
        """
        mode = _MODES.get(value.strip().lower())
        if mode == "auto":
            return cls("auto")
        if mode == "required":
            return cls("required")
        if mode == "none":
            return cls("none")
        names = [t.name for t in tools]
        if value not in names:
            raise ValueError(
                f"tool_choice {value!r} of prompt {prompt_name!r} is neither auto, required, "
                f"none nor one of its tools {names}"
            )
        return cls("tool", value)


@dataclass(frozen=True)
class RequestSettings:
    """Everything about a call except its messages, provider-neutral.

    ``explicit`` names the settings given as keyword arguments (rather than read from the
    prompt): a provider may send a setting only when asked to explicitly.
    """

    model: str
    max_tokens: int
    temperature: float | None
    top_p: float | None
    stop_sequences: tuple[str, ...]
    tools: tuple[SdkTool, ...]
    tool_choice: ToolChoice | None
    structured_output: SdkTool | None
    explicit: frozenset[str]


def resolve_settings(
    prompt: PromptTemplate,
    *,
    model: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    stop_sequences: Sequence[str] | None = None,
    tool_choice: str | None = None,
) -> RequestSettings:
    """The settings of one call: the keyword arguments given, else the prompt's config."""
    config = prompt.completion_config
    explicit = {
        name
        for name, value in (
            ("model", model),
            ("max_tokens", max_tokens),
            ("temperature", temperature),
            ("top_p", top_p),
            ("stop_sequences", stop_sequences),
            ("tool_choice", tool_choice),
        )
        if value is not None
    }
    if model is None:
        if config is None:
            raise ValueError(
                f"prompt {prompt.name!r} has no completion_config: pass model= (and "
                "max_tokens=) to build an invocation"
            )
        model = config.model
    if max_tokens is None:
        max_tokens = config.max_tokens if config is not None else DEFAULT_MAX_TOKENS
    if temperature is None and config is not None:
        temperature = config.temperature
    if top_p is None and config is not None:
        top_p = config.top_p
    if stop_sequences is None and config is not None:
        stop_sequences = config.stop_sequences
    tools = tuple(prompt.function_tools)
    choice_text = tool_choice if tool_choice is not None else (config and config.tool_choice)
    choice = ToolChoice.parse(choice_text, tools, prompt.name) if choice_text and tools else None
    return RequestSettings(
        model=model,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        stop_sequences=tuple(stop_sequences or ()),
        tools=tools,
        tool_choice=choice,
        structured_output=prompt.structured_output_schema,
        explicit=frozenset(explicit),
    )
