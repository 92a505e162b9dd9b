"""Streams: accumulators fed with each SDK's stream events give the non-streamed result."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from moxtrace import PromptSession, Provider
from moxtrace.session import StreamAccumulator, parse_response, stream_accumulator
from moxtrace.types import StopReason, TextContent, ToolCall
from tests.unit.session.goldens import (
    GOLDENS,
    anthropic_events,
    chat_chunks,
    comparable,
    google_chunks,
    responses_events,
)
from tests.unit.session.prompts import conversation_prompt, support_input
from tests.unit.session.sdk import Recorder, anthropic_client, google_client, openai_client


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("provider", list(GOLDENS))
def test_sdk_stream_events_accumulate_into_the_golden(provider: Provider) -> None:
    _, make_events, expected = GOLDENS[provider]
    clock = Clock()
    acc = stream_accumulator(provider, clock=clock)
    assert acc.time_to_first_chunk_ms is None
    clock.now += 0.25
    events = make_events()
    for event in events:
        acc.add(event)
        clock.now += 1.0
    parsed = acc.result()
    assert comparable(parsed) == comparable(expected)
    assert parsed.time_to_first_chunk_ms == pytest.approx(250.0)
    assert acc.chunks == len(events)


@pytest.mark.parametrize("provider", list(GOLDENS))
def test_event_dicts_accumulate_like_sdk_objects(provider: Provider) -> None:
    _, make_events, expected = GOLDENS[provider]
    events = [e.model_dump(mode="json") for e in make_events()]
    assert comparable(parse_response(events, provider)) == comparable(expected)


def test_started_at_counts_from_when_the_request_was_sent() -> None:
    clock = Clock()
    acc = stream_accumulator(Provider.ANTHROPIC, started_at=99.0, clock=clock)
    acc.add(anthropic_events()[0])
    assert acc.time_to_first_chunk_ms == pytest.approx(1000.0)


def test_wrap_yields_the_events_unchanged_while_accumulating() -> None:
    session = PromptSession(conversation_prompt(Provider.OPENAI_CHAT), support_input())
    acc = session.parse_stream()
    chunks = chat_chunks()
    assert list(acc.wrap(iter(chunks))) == chunks
    assert acc.result().text == "Let me look that up."


def test_awrap_for_async_streams() -> None:
    async def stream() -> AsyncIterator[Any]:
        for event in google_chunks():
            yield event

    async def consume() -> list[Any]:
        acc = stream_accumulator(Provider.GOOGLE_GEMINI)
        seen = [event async for event in acc.awrap(stream())]
        assert acc.result().stop_reason is StopReason.TOOL_CALL
        return seen

    assert len(asyncio.run(consume())) == len(google_chunks())


# -- streams cut short --------------------------------------------------------------------
def test_a_responses_stream_cut_short_gives_what_arrived() -> None:
    parsed = parse_response(responses_events(complete=False), Provider.OPENAI_RESPONSES)
    assert parsed.text == "Let me look that up."
    assert parsed.tool_calls[-1] == ToolCall(
        tool_name="lookup_order", tool_call_id="call_2", input={"order_id": "A1"}
    )
    assert parsed.stop_reason is None and parsed.raw_stop_reason == "in_progress"


def test_an_anthropic_stream_cut_short_gives_what_arrived() -> None:
    events = anthropic_events()[:10]
    parsed = parse_response(events, Provider.ANTHROPIC)
    assert parsed.content_blocks[-1] == TextContent(text="Let me ")
    assert parsed.stop_reason is None
    assert parsed.usage.input_tokens == 240  # all input, cached or not


def test_a_chat_stream_without_usage_has_no_token_counts() -> None:
    parsed = parse_response(chat_chunks()[:-1], Provider.OPENAI_CHAT)
    assert parsed.usage.input_tokens is None
    assert parsed.stop_reason is StopReason.TOOL_CALL


# -- through the SDKs' own streaming -------------------------------------------------------
def sdk_stream(provider: Provider, events: list[Any]) -> tuple[Iterator[Any], Recorder]:
    """Stream ``events`` as server-sent events through the provider SDK's own client."""
    session = PromptSession(conversation_prompt(provider), support_input())
    # The REST API speaks camelCase, as Google's types do by alias.
    by_alias = provider in (Provider.GOOGLE_GEMINI, Provider.GOOGLE_VERTEX)
    dumped = [e.model_dump(mode="json", exclude_none=True, by_alias=by_alias) for e in events]
    if provider is Provider.ANTHROPIC:
        recorder = Recorder(events=dumped)
        stream: Any = anthropic_client(recorder).messages.create(
            **session.to_anthropic_invocation(stream=True)
        )
    elif provider is Provider.OPENAI_CHAT:
        recorder = Recorder(events=dumped, named_events=False, done_marker=True)
        stream = openai_client(recorder).chat.completions.create(
            **session.to_openai_chat_invocation(stream=True)
        )
    elif provider is Provider.OPENAI_RESPONSES:
        recorder = Recorder(events=dumped)
        stream = openai_client(recorder).responses.create(
            **session.to_openai_responses_invocation(stream=True)
        )
    else:
        recorder = Recorder(events=dumped, named_events=False)
        stream = google_client(recorder).models.generate_content_stream(
            **session.to_google_invocation()
        )
    return iter(stream), recorder


@pytest.mark.parametrize(
    "provider",
    [Provider.ANTHROPIC, Provider.OPENAI_CHAT, Provider.OPENAI_RESPONSES, Provider.GOOGLE_GEMINI],
)
def test_streams_from_the_sdk_clients(provider: Provider) -> None:
    _, make_events, expected = GOLDENS[provider]
    acc: StreamAccumulator = stream_accumulator(provider)
    stream, recorder = sdk_stream(provider, make_events())
    seen = list(acc.wrap(stream))
    assert len(seen) == len(make_events())
    assert type(seen[0]).__module__.split(".")[0] in ("anthropic", "openai", "google")
    assert comparable(acc.result()) == comparable(expected)
    if provider is Provider.OPENAI_CHAT:
        assert recorder.body["stream_options"] == {"include_usage": True}
