"""stream_reply: a stream's SDK chunks read off their fields give the span the attributes the
provider's accumulator gives it, and hand over to that accumulator what they do not read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from moxtrace.instrumentation._reply import Reply
from moxtrace.instrumentation._stream_reply import stream_reply
from moxtrace.session.providers import stream_accumulator
from moxtrace.tracing.content import ContentCapture
from moxtrace.tracing.events import llm_call_attributes
from moxtrace.types.content import Provider
from moxtrace.types.telemetry import ParsedResponse
from tests.unit.session import goldens

STREAMS: dict[str, tuple[Provider, Callable[[], list[Any]]]] = {
    "openai chat": (Provider.OPENAI_CHAT, goldens.chat_chunks),
    "anthropic": (Provider.ANTHROPIC, goldens.anthropic_events),
    "openai responses": (Provider.OPENAI_RESPONSES, goldens.responses_events),
    "openai responses, cut short": (
        Provider.OPENAI_RESPONSES,
        lambda: goldens.responses_events(complete=False),
    ),
    "google": (Provider.GOOGLE_GEMINI, goldens.google_chunks),
    "vertex": (Provider.GOOGLE_VERTEX, goldens.google_chunks),
}


def attributes(provider: Provider, parsed: Reply | ParsedResponse) -> dict[str, Any]:
    output = parsed.output if isinstance(parsed, Reply) else None
    attrs, _ = llm_call_attributes(provider, parsed, ContentCapture.ALL, 100_000, output=output)
    attrs.pop("moxn.llm.time_to_first_chunk_ms", None)  # each has its own clock
    return attrs


def accumulated(provider: Provider, chunks: list[Any]) -> dict[str, Any]:
    accumulator = stream_accumulator(provider, started_at=0.0)
    for chunk in chunks:
        accumulator.add(chunk)
    return attributes(provider, accumulator.result())


def read(provider: Provider, chunks: list[Any]) -> Reply | ParsedResponse:
    reader = stream_reply(provider, 0.0)
    for chunk in chunks:
        reader.add(chunk)
    result = reader.result()
    assert result is not None
    return result


@pytest.mark.parametrize("name", list(STREAMS))
def test_read_off_the_chunks_as_the_accumulator_reads_them(name: str) -> None:
    provider, chunks = STREAMS[name]
    result = read(provider, chunks())
    if name.endswith("cut short"):
        assert isinstance(result, ParsedResponse)  # no final event: the accumulator's rebuild
    else:
        assert isinstance(result, Reply), "read off the chunks, not handed over"
    assert attributes(provider, result) == accumulated(provider, chunks())


@pytest.mark.parametrize("name", list(STREAMS))
@pytest.mark.parametrize("at", [0, 1, -1])
def test_a_chunk_it_does_not_expect_hands_over_what_was_read(name: str, at: int) -> None:
    provider, make = STREAMS[name]
    chunks = make()
    # A dict in place of the SDK object: the accumulator's to read, from there on.
    mixed = list(chunks)
    mixed[at] = chunks[at].model_dump(mode="json")
    result = read(provider, mixed)
    assert isinstance(result, ParsedResponse)
    assert attributes(provider, result) == accumulated(provider, chunks)


@pytest.mark.parametrize("name", list(STREAMS))
def test_a_stream_cut_short_gives_what_arrived(name: str) -> None:
    provider, make = STREAMS[name]
    for end in range(1, len(make())):
        chunks = make()[:end]
        assert attributes(provider, read(provider, chunks)) == accumulated(provider, chunks), end


def test_no_chunk_no_reply() -> None:
    for provider, _ in STREAMS.values():
        assert stream_reply(provider, 0.0).result() is None


def test_a_long_responses_stream_cut_short_gives_every_delta() -> None:
    # More item and delta events than the reader keeps unread: folded as they come, in order.
    events = goldens.responses_events(complete=False)
    at = next(i for i, e in enumerate(events) if e.type == "response.output_text.delta")
    deltas = [events[at].model_copy(update={"delta": f"{i} "}) for i in range(600)]
    chunks = [*events[:at], *deltas]  # cut short before the item is done
    result = read(Provider.OPENAI_RESPONSES, chunks)
    assert isinstance(result, ParsedResponse)
    expected = accumulated(Provider.OPENAI_RESPONSES, chunks)
    assert attributes(Provider.OPENAI_RESPONSES, result) == expected
    assert "599 " in expected["gen_ai.output.messages"]
