"""Prompt sessions: prompts rendered with session data, provider invocations, parsing.

>>> session = PromptSession.from_prompt(prompt, {"query": "Where is my order?"})
>>> response = anthropic_client.messages.create(**session.to_anthropic_invocation())
>>> parsed = session.parse_response(response)

Modules: ``session`` (``PromptSession``), ``render`` (variables → ``RenderedPrompt``),
``media`` (image and PDF values), ``request`` (settings and overrides), ``genai`` (the
OpenTelemetry GenAI shapes), ``stream`` (stream accumulators), ``errors``, and
``providers/<provider>`` (invocation building, parsing and streaming per API).
"""

from __future__ import annotations

from moxtrace.session.errors import InvalidVariableError, MissingVariableError, PromptRenderError
from moxtrace.session.providers import parse_response, stream_accumulator
from moxtrace.session.render import RenderableModel, SessionData, format_value
from moxtrace.session.rendered import Media, RenderedMessage, RenderedPrompt
from moxtrace.session.request import RequestSettings, ToolChoice
from moxtrace.session.session import PromptSession
from moxtrace.session.stream import StreamAccumulator

__all__ = [
    "InvalidVariableError",
    "Media",
    "MissingVariableError",
    "PromptRenderError",
    "PromptSession",
    "RenderableModel",
    "RenderedMessage",
    "RenderedPrompt",
    "RequestSettings",
    "SessionData",
    "StreamAccumulator",
    "ToolChoice",
    "format_value",
    "parse_response",
    "stream_accumulator",
]
