"""Per-provider request building, response parsing and stream accumulation.

One module per API (``anthropic``, ``openai_chat``, ``openai_responses``, ``google``), each
with ``build_invocation(rendered, settings)``, ``parse_response(response)`` and a stream
accumulator. None imports a provider SDK: they read and write the SDKs' plain shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from moxtrace.session.providers import anthropic, google, openai_chat, openai_responses
from moxtrace.session.stream import StreamAccumulator
from moxtrace.types.content import Provider
from moxtrace.types.telemetry import ParsedResponse

__all__ = ["parse_response", "stream_accumulator"]

_GOOGLE = (Provider.GOOGLE_GEMINI, Provider.GOOGLE_VERTEX)


def stream_accumulator(provider: Provider, **kwargs: Any) -> StreamAccumulator:
    """A new stream accumulator for ``provider`` (``started_at=``, ``clock=`` as
    ``StreamAccumulator`` takes them).

    >>> acc = stream_accumulator(Provider.OPENAI_CHAT)
    >>> acc.add({"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hi"}}]})
    >>> acc.result().text
    'Hi'
    """
    if provider is Provider.ANTHROPIC:
        return anthropic.AnthropicStreamAccumulator(**kwargs)
    if provider is Provider.OPENAI_CHAT:
        return openai_chat.OpenAIChatStreamAccumulator(**kwargs)
    if provider is Provider.OPENAI_RESPONSES:
        return openai_responses.OpenAIResponsesStreamAccumulator(**kwargs)
    if provider in _GOOGLE:
        return google.GoogleStreamAccumulator(provider, **kwargs)
    raise ValueError(f"unknown provider {provider!r}")


def parse_response(response: Any, provider: Provider, *, raw: bool = True) -> ParsedResponse:
    """Parse a provider's response into a ``ParsedResponse``.

    ``response`` is the SDK's response object or its dict; a ``StreamAccumulator`` (its
    result is taken); a list of stream events (they are accumulated); or a
    ``ParsedResponse`` (returned as it is). ``raw=False`` leaves ``raw_response`` empty and
    reads an SDK object's fields without dumping it (the SDK instrumentation, which
    records no raw response, parses every call this way).
    """
    if isinstance(response, ParsedResponse):
        return response
    if isinstance(response, StreamAccumulator):
        return response.result()
    if isinstance(response, Sequence) and not isinstance(response, str | bytes):
        accumulator = stream_accumulator(provider)
        for event in response:
            accumulator.add(event)
        return accumulator.result()
    if provider is Provider.ANTHROPIC:
        return anthropic.parse_response(response, raw=raw)
    if provider is Provider.OPENAI_CHAT:
        return openai_chat.parse_response(response, raw=raw)
    if provider is Provider.OPENAI_RESPONSES:
        return openai_responses.parse_response(response, raw=raw)
    if provider in _GOOGLE:
        return google.parse_response(response, provider, raw=raw)
    raise ValueError(f"unknown provider {provider!r}")
