"""Per-provider request building and response parsing."""

from __future__ import annotations

from typing import Any

from moxtrace.session.providers import anthropic, google, openai_chat, openai_responses
from moxtrace.types.content import Provider
from moxtrace.types.telemetry import ParsedResponse

__all__ = ["parse_response"]


def parse_response(response: Any, provider: Provider) -> ParsedResponse:
    """Parse a provider's response (its SDK object or a plain dict)."""
    if provider is Provider.ANTHROPIC:
        return anthropic.parse_response(response)
    if provider is Provider.OPENAI_CHAT:
        return openai_chat.parse_response(response)
    if provider is Provider.OPENAI_RESPONSES:
        return openai_responses.parse_response(response)
    if provider in (Provider.GOOGLE_GEMINI, Provider.GOOGLE_VERTEX):
        return google.parse_response(response, provider)
    raise ValueError(f"unknown provider {provider!r}")
