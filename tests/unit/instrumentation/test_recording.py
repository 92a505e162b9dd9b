"""What an instrumented SDK call records: identity, errors, streams, and never breaking the call."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import moxtrace
from examples.existing_app.standins import CHUNKS, TEXT
from moxtrace import PromptSession, Provider, SyncMoxnClient
from moxtrace.instrumentation import TracedStream
from tests.unit.conftest import make_prompt
from tests.unit.instrumentation.conftest import FakeProviders

MESSAGES = [{"role": "user", "content": "Where is my order?"}]
Instrument = Callable[..., tuple[str, ...]]


def llm_spans(memory: InMemorySpanExporter) -> list[ReadableSpan]:
    return [
        s for s in memory.get_finished_spans() if "gen_ai.operation.name" in (s.attributes or {})
    ]


def session(provider: Provider = Provider.OPENAI_CHAT, **kwargs: Any) -> PromptSession:
    return PromptSession(make_prompt(provider=provider, **kwargs), {"query": "Where is my order?"})


@pytest.fixture
def client(memory: InMemorySpanExporter) -> Any:
    c = SyncMoxnClient(span_processors=[SimpleSpanProcessor(memory)], content_capture="all")
    yield c
    c.close()


# -- the prompt identity ---------------------------------------------------------------------


def test_inside_client_span_the_call_is_a_child_carrying_the_prompt_identity(
    client: SyncMoxnClient, fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    moxtrace.instrument(client)
    s = session()
    with client.span(s, name="answer") as parent:
        fake.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    (llm,) = llm_spans(memory)
    assert llm.name == "chat gpt-4o-mini"
    assert llm.kind is SpanKind.CLIENT
    assert llm.parent is not None and llm.parent.span_id == parent.get_span_context().span_id
    attrs = llm.attributes or {}
    prompt = s.prompt
    assert attrs["moxn.prompt.id"] == str(prompt.id)
    assert attrs["moxn.prompt.name"] == "support-answer"
    assert attrs["moxn.task.id"] == str(prompt.task_id)
    assert attrs["moxn.branch.id"] == str(prompt.branch_id)
    assert attrs["moxn.session.id"] == str(s.id)
    # The moxtrace span itself stays a plain span: the call is recorded once, on the child.
    (answer,) = [x for x in memory.get_finished_spans() if x.name == "answer"]
    assert "gen_ai.operation.name" not in (answer.attributes or {})


@pytest.mark.parametrize(
    ("api", "call"),
    [
        (Provider.ANTHROPIC, lambda f, inv: f.anthropic().messages.create(**inv)),
        (Provider.OPENAI_CHAT, lambda f, inv: f.openai().chat.completions.create(**inv)),
        (Provider.OPENAI_RESPONSES, lambda f, inv: f.openai().responses.create(**inv)),
        (Provider.GOOGLE_GEMINI, lambda f, inv: f.google().models.generate_content(**inv)),
    ],
)
def test_a_sessions_invocation_carries_its_identity_without_a_span(
    instrument: Instrument,
    fake: FakeProviders,
    memory: InMemorySpanExporter,
    api: Provider,
    call: Callable[[FakeProviders, dict[str, Any]], Any],
) -> None:
    instrument()
    s = session(api, commit_id="c0ffee")
    invocation = s.to_invocation(api, max_tokens=300)
    if api is Provider.GOOGLE_GEMINI:
        invocation["model"] = "gemini-2.5-flash"
    elif api is not Provider.ANTHROPIC:
        invocation["model"] = "gpt-4o-mini"
    call(fake, invocation)
    (llm,) = llm_spans(memory)
    attrs = llm.attributes or {}
    assert llm.parent is None
    assert attrs["moxn.prompt.id"] == str(s.prompt.id)
    assert attrs["moxn.commit.id"] == "c0ffee"
    assert "moxn.branch.id" not in attrs
    assert attrs["moxn.session.id"] == str(s.id)
    assert attrs["gen_ai.request.max_tokens"] == 300
    # The session's rendered prompt, as the SDK sent it, is the recorded input.
    messages = json.loads(str(attrs["gen_ai.input.messages"]))
    assert messages[-1]["parts"][-1]["content"] == "Question: Where is my order?"
    system = json.loads(str(attrs["gen_ai.system_instructions"]))
    assert system == [{"type": "text", "content": "You are a support agent."}]


def test_the_invocations_identity_wins_over_the_enclosing_span(
    client: SyncMoxnClient, fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    moxtrace.instrument(client)
    outer, inner = session(), session()
    with client.span(outer):
        invocation = inner.to_openai_chat_invocation(model="gpt-4o-mini")
        fake.openai().chat.completions.create(**invocation)
    (llm,) = llm_spans(memory)
    assert (llm.attributes or {})["moxn.session.id"] == str(inner.id)


# -- recorded once ---------------------------------------------------------------------------


def test_log_telemetry_event_from_response_of_an_instrumented_call_is_not_recorded_twice(
    client: SyncMoxnClient, fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    moxtrace.instrument(client)
    s = session()
    llm = fake.openai()
    with client.span(s, name="answer"):
        response = llm.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        client.log_telemetry_event_from_response(s, response, Provider.OPENAI_CHAT)
    # Outside any span too.
    response = llm.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    client.log_telemetry_event_from_response(s, response, Provider.OPENAI_CHAT)
    assert len(llm_spans(memory)) == 2
    # A response the instrumentation did not see is recorded as before.
    moxtrace.uninstrument()
    memory.clear()
    with client.span(s, name="answer"):
        response = llm.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        client.log_telemetry_event_from_response(s, response, Provider.OPENAI_CHAT)
    (answer,) = memory.get_finished_spans()
    assert (answer.attributes or {})["gen_ai.response.id"] == response.id


# -- errors and broken responses ---------------------------------------------------------------


def test_an_sdk_error_is_recorded_and_raised_unchanged(
    instrument: Instrument, fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    instrument()
    with pytest.raises(anthropic.BadRequestError) as raised:
        fake.anthropic().messages.create(model="error-model", max_tokens=10, messages=MESSAGES)
    (span,) = memory.get_finished_spans()
    assert span.name == "chat error-model"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is not None and "BadRequestError" in span.status.description
    attrs = span.attributes or {}
    assert attrs["error.type"] == "BadRequestError"
    assert attrs["gen_ai.request.model"] == "error-model"
    assert [e.name for e in span.events] == ["exception"]
    assert raised.value.status_code == 400


def test_a_response_of_a_broken_shape_still_reaches_the_application(
    instrument: Instrument,
    fake: FakeProviders,
    memory: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    instrument()
    fake.replace = {"id": "chatcmpl-odd", "choices": "not a list", "usage": 12}
    with caplog.at_level(logging.WARNING, "moxtrace.instrumentation"):
        odd = fake.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert odd.id == "chatcmpl-odd"
    (span,) = memory.get_finished_spans()
    assert span.status.status_code is StatusCode.UNSET
    assert (span.attributes or {})["gen_ai.request.model"] == "gpt-4o-mini"
    assert "gen_ai.usage.input_tokens" not in (span.attributes or {})
    assert "could not read an LLM response" in caplog.text


def test_a_request_it_cannot_read_is_sent_and_recorded_without_content(
    instrument: Instrument, fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    instrument()
    # Messages as a generator (the SDK accepts any iterable): never consumed by moxtrace.
    messages = (m for m in MESSAGES)
    fake.openai().chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert fake.body["messages"] == MESSAGES
    (span,) = llm_spans(memory)
    assert "gen_ai.input.messages" not in (span.attributes or {})
    assert (span.attributes or {})["gen_ai.usage.output_tokens"] == 9


def test_disabled_or_suppressed_calls_pass_through_unrecorded(
    instrument: Instrument,
    fake: FakeProviders,
    memory: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instrument()
    token = otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        fake.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    finally:
        otel_context.detach(token)
    assert memory.get_finished_spans() == ()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    instrument()
    answer = fake.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert answer.choices[0].message.content == TEXT
    assert memory.get_finished_spans() == ()


# -- streams -------------------------------------------------------------------------------------


def chat_stream(fake: FakeProviders) -> Any:
    return fake.openai().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )


def test_a_stream_is_the_sdks_own_object_to_the_application(
    instrument: Instrument, fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    instrument()
    stream = chat_stream(fake)
    assert isinstance(stream, TracedStream)
    assert isinstance(stream, openai.Stream)
    assert stream.response.status_code == 200  # the SDK stream's attributes
    pieces = [chunk.choices[0].delta.content for chunk in stream if chunk.choices]
    assert pieces == ["", *CHUNKS, None]
    (span,) = memory.get_finished_spans()
    attrs = span.attributes or {}
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert float(attrs["moxn.llm.time_to_first_chunk_ms"]) > 0  # type: ignore[arg-type]
    output = json.loads(str(attrs["gen_ai.output.messages"]))
    assert output[0]["parts"] == [{"type": "text", "content": TEXT}]


def test_a_stream_closed_early_ends_the_span_with_what_arrived(
    instrument: Instrument, fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    instrument()
    with fake.anthropic().messages.create(
        model="claude-sonnet-4-6", max_tokens=10, messages=MESSAGES, stream=True
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                break
    assert stream.response.is_closed
    (span,) = memory.get_finished_spans()
    attrs = span.attributes or {}
    output = json.loads(str(attrs["gen_ai.output.messages"]))
    assert output[0]["parts"] == [{"type": "text", "content": CHUNKS[0]}]
    assert "gen_ai.response.finish_reasons" not in attrs
    assert attrs["gen_ai.response.id"] == "msg_standin1"

    memory.clear()
    stream = fake.openai().responses.create(model="gpt-4o-mini", input="Hi", stream=True)
    next(stream)
    stream.close()
    assert len(memory.get_finished_spans()) == 1


def test_leaving_a_stream_early_is_not_an_error(
    instrument: Instrument, fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    instrument()
    stream = chat_stream(fake)
    for _ in stream:
        break  # the generator is closed: GeneratorExit at its yield, not the SDK's error
    chunks = iter(stream)
    next(chunks)

    class Stop(Exception):
        pass

    with pytest.raises(Stop):
        chunks.throw(Stop())  # the application's own, raised into the iteration
    stream.close()
    (span,) = memory.get_finished_spans()
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in (span.attributes or {})
    output = json.loads(str((span.attributes or {})["gen_ai.output.messages"]))
    assert output[0]["parts"] == [{"type": "text", "content": CHUNKS[0]}]  # after the role chunk


def test_a_dropped_stream_ends_its_span(
    instrument: Instrument, fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    instrument()
    stream = chat_stream(fake)
    next(stream)
    assert memory.get_finished_spans() == ()
    del stream
    gc.collect()
    assert len(memory.get_finished_spans()) == 1


def test_a_chunk_it_cannot_read_still_reaches_the_application(
    instrument: Instrument,
    fake: FakeProviders,
    memory: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moxtrace.instrumentation._stream_reply import ChatChunks
    from moxtrace.session.providers.openai_chat import OpenAIChatStreamAccumulator

    def broken(self: Any, event: Any) -> None:
        raise KeyError("surprise")

    # Neither the chunk reader nor the accumulator it hands over to can read a chunk.
    monkeypatch.setattr(ChatChunks, "_read", broken)
    monkeypatch.setattr(OpenAIChatStreamAccumulator, "_add", broken)
    instrument()
    stream = chat_stream(fake)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == TEXT
    (span,) = memory.get_finished_spans()
    assert "gen_ai.output.messages" not in (span.attributes or {})


def test_an_error_in_the_middle_of_a_stream_is_recorded(
    instrument: Instrument, fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    instrument()

    class Boom(Exception):
        pass

    stream = chat_stream(fake)
    next(stream)

    def explode() -> Any:
        raise Boom("connection reset")
        yield  # pragma: no cover

    stream._moxn_iterator = explode()
    with pytest.raises(Boom):
        next(stream)
    (span,) = memory.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})[
        "error.type"
    ] == "test_an_error_in_the_middle_of_a_stream_is_recorded.<locals>.Boom"


# -- other GenAI spans for the same call ---------------------------------------------------------


def test_an_open_genai_span_of_another_instrumentation_is_recorded_into(
    instrument: Instrument,
    fake: FakeProviders,
    memory: InMemorySpanExporter,
    provider: TracerProvider,
) -> None:
    instrument()
    other = provider.get_tracer("another.genai.instrumentation")
    s = session()
    with other.start_as_current_span(
        "chat gpt-4o-mini",
        kind=SpanKind.CLIENT,
        attributes={"gen_ai.operation.name": "chat", "gen_ai.system": "openai"},
    ):
        fake.openai().chat.completions.create(**s.to_openai_chat_invocation(model="gpt-4o-mini"))
    (span,) = memory.get_finished_spans()
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "another.genai.instrumentation"
    attrs = span.attributes or {}
    assert attrs["gen_ai.system"] == "openai"
    assert attrs["gen_ai.usage.input_tokens"] == 21
    assert attrs["moxn.prompt.id"] == str(s.prompt.id)
    assert attrs["moxn.llm.tool_call.count"] == 0


def test_anthropics_own_call_span_is_not_started_for_a_call_moxtrace_records(
    instrument: Instrument,
    fake: FakeProviders,
    memory: InMemorySpanExporter,
    provider: TracerProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANTHROPIC_OPEN_TELEMETRY")
    llm = fake.anthropic(open_telemetry={"tracer_provider": provider})
    llm.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=MESSAGES)
    assert [s.name for s in memory.get_finished_spans()] == ["anthropic.messages.create"]
    memory.clear()

    instrument()
    llm.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=MESSAGES)
    list(
        llm.messages.create(
            model="claude-sonnet-4-6", max_tokens=10, messages=MESSAGES, stream=True
        )
    )
    assert [s.name for s in memory.get_finished_spans()] == ["chat claude-sonnet-4-6"] * 2
    # Other calls of the client keep their SDK spans.
    with pytest.raises(anthropic.NotFoundError):  # the fake has no such route
        llm.models.list()
    assert memory.get_finished_spans()[-1].name.startswith("anthropic.")

    moxtrace.uninstrument()
    memory.clear()
    llm.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=MESSAGES)
    assert [s.name for s in memory.get_finished_spans()] == ["anthropic.messages.create"]


def test_the_llm_span_is_current_while_the_sdk_sends_its_request(
    instrument: Instrument, fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    """So HTTP client instrumentations (httpx, httpx2) nest their spans beneath it."""
    instrument()
    fake.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    list(fake.google().models.generate_content_stream(model="gemini-2.5-flash", contents="Hi"))
    chat, gemini = memory.get_finished_spans()
    sending = [span.get_span_context().span_id for span in fake.current_spans]
    assert sending == [chat.context.span_id, gemini.context.span_id]
    assert trace.get_current_span() is trace.INVALID_SPAN  # the context was restored


# -- stream helpers and parse() --------------------------------------------------------------


def test_anthropics_stream_helper_is_recorded_however_it_is_read(
    instrument: Instrument, fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    instrument()
    llm = fake.anthropic()
    kwargs: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 10,
        "messages": MESSAGES,
    }
    with llm.messages.stream(**kwargs) as stream:
        assert memory.get_finished_spans() == ()  # the span covers the with block
        texts = list(stream.text_stream)
    assert "".join(texts) == TEXT
    with llm.messages.stream(**kwargs) as stream:
        events = [event.type for event in stream]
    assert events[0] == "message_start"
    with llm.messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == TEXT  # type: ignore[union-attr]

    spans = memory.get_finished_spans()
    assert [s.name for s in spans] == ["chat claude-sonnet-4-6"] * 3
    for span in spans:
        attrs = span.attributes or {}
        assert attrs["gen_ai.usage.output_tokens"] == 9
        assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
        output = json.loads(str(attrs["gen_ai.output.messages"]))
        assert output[0]["parts"] == [{"type": "text", "content": TEXT}]
    # The time to the first chunk is known when the application iterated the stream itself.
    assert "moxn.llm.time_to_first_chunk_ms" in (spans[1].attributes or {})


def test_the_async_stream_helper_and_parse_methods(
    instrument: Instrument, fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    instrument()

    async def main() -> None:
        llm = fake.async_anthropic()
        async with llm.messages.stream(
            model="claude-sonnet-4-6", max_tokens=10, messages=MESSAGES
        ) as stream:
            assert [text async for text in stream.text_stream] == list(CHUNKS)
        parsed = await llm.messages.parse(
            model="claude-sonnet-4-6", max_tokens=10, messages=MESSAGES
        )
        assert parsed.content[0].text == TEXT  # type: ignore[union-attr]

    asyncio.run(main())
    fake.openai().chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES)
    fake.openai().responses.parse(model="gpt-4o-mini", input="Hi")
    spans = memory.get_finished_spans()
    assert [s.name for s in spans] == ["chat claude-sonnet-4-6"] * 2 + ["chat gpt-4o-mini"] * 2
    assert [(s.attributes or {})["gen_ai.usage.input_tokens"] for s in spans] == [21] * 4


def test_openais_stream_helper_goes_through_create(
    instrument: Instrument, fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    instrument()
    with fake.openai().chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == TEXT
    (span,) = memory.get_finished_spans()
    assert (span.attributes or {})["gen_ai.response.finish_reasons"] == ("stop",)


def test_an_async_stream_as_a_context_manager_and_closed_early(
    instrument: Instrument, fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    instrument()

    async def main() -> list[Any]:
        llm = fake.async_openai()
        stream = await llm.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        assert isinstance(stream, openai.AsyncStream)
        async with stream:
            chunks = [chunk async for chunk in stream]
        early = await llm.responses.create(model="gpt-4o-mini", input="Hi", stream=True)
        await early.__anext__()
        await early.close()
        return chunks

    chunks = asyncio.run(main())
    assert [c.choices[0].delta.content for c in chunks if c.choices] == ["", *CHUNKS, None]
    whole, early = memory.get_finished_spans()
    assert (whole.attributes or {})["gen_ai.response.finish_reasons"] == ("stop",)
    assert "gen_ai.usage.output_tokens" not in (early.attributes or {})
    assert (early.attributes or {})["gen_ai.response.id"] == "resp_standin2"
