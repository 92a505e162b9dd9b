"""Each provider SDK and mode, instrumented, sending real HTTP to stand-in APIs on 127.0.0.1.

The stand-ins (examples/existing_app/standins.py) answer with the providers' own payloads;
the SDKs are the official ones, talking over a socket. For every provider (Anthropic,
OpenAI Chat Completions, OpenAI Responses, Google Gemini) and mode (sync, async, streamed
both ways, error): the span's name and attributes, the content policy, the stream reaching
the application unchanged, in order and without being held back, and ``uninstrument()``
leaving the SDK as it was.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import google.genai.errors
import openai
import pytest
from google import genai
from google.genai import types as genai_types
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import moxtrace
from examples.existing_app.standins import CHUNKS, TEXT, StandIn
from moxtrace.instrumentation._endpoints import SDKS

pytestmark = pytest.mark.integration

QUESTION = "Where is my order?"
SYSTEM = "You are a support agent."


@dataclass(frozen=True)
class Api:
    """How to call one provider API through its SDK, and what its span should say."""

    name: str
    sdk: str
    model: str
    provider_name: str
    response_model: str
    response_id: Callable[[int], str]
    call: Callable[[Any, str, bool], Any]  # (client, model, stream) -> result
    acall: Callable[[Any, str, bool], Any]  # async twin
    text_of: Callable[[Any], str | None]  # a stream chunk's text, if it has some
    error: type[Exception]


def _anthropic(client: Any, model: str, stream: bool) -> Any:
    return client.messages.create(
        model=model,
        system=SYSTEM,
        max_tokens=100,
        messages=[{"role": "user", "content": QUESTION}],
        stream=stream,
    )


def _chat(client: Any, model: str, stream: bool) -> Any:
    return client.chat.completions.create(
        model=model,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
        max_completion_tokens=100,
        stream=stream,
        **({"stream_options": {"include_usage": True}} if stream else {}),
    )


def _responses(client: Any, model: str, stream: bool) -> Any:
    return client.responses.create(
        model=model, instructions=SYSTEM, input=QUESTION, max_output_tokens=100, stream=stream
    )


_GOOGLE_CONFIG = {"system_instruction": SYSTEM, "max_output_tokens": 100}


def _google(client: Any, model: str, stream: bool) -> Any:
    method = client.models.generate_content_stream if stream else client.models.generate_content
    return method(model=model, contents=QUESTION, config=_GOOGLE_CONFIG)


def _agoogle(client: Any, model: str, stream: bool) -> Any:
    models = client.aio.models
    method = models.generate_content_stream if stream else models.generate_content
    return method(model=model, contents=QUESTION, config=_GOOGLE_CONFIG)


def _chat_text(chunk: Any) -> str | None:
    return chunk.choices[0].delta.content if chunk.choices else None


APIS = {
    api.name: api
    for api in (
        Api(
            "anthropic",
            "anthropic",
            "claude-sonnet-4-6",
            "anthropic",
            "claude-sonnet-4-6-2026-01-15",
            lambda n: f"msg_standin{n}",
            _anthropic,
            _anthropic,
            lambda e: e.delta.text if e.type == "content_block_delta" else None,
            anthropic.BadRequestError,
        ),
        Api(
            "openai_chat",
            "openai",
            "gpt-4o-mini",
            "openai",
            "gpt-4o-mini-2026-01-15",
            lambda n: f"chatcmpl-standin{n}",
            _chat,
            _chat,
            _chat_text,
            openai.BadRequestError,
        ),
        Api(
            "openai_responses",
            "openai",
            "gpt-4o-mini",
            "openai",
            "gpt-4o-mini-2026-01-15",
            lambda n: f"resp_standin{n}",
            _responses,
            _responses,
            lambda e: e.delta if e.type == "response.output_text.delta" else None,
            openai.BadRequestError,
        ),
        Api(
            "google",
            "google_genai",
            "gemini-2.5-flash",
            "gcp.gemini",
            "gemini-2.5-flash",
            lambda n: f"standin{n}",
            _google,
            _agoogle,
            lambda c: c.text,
            google.genai.errors.ClientError,
        ),
    )
}


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    with StandIn() as api:
        yield api


def sync_client(api: Api, standin: StandIn) -> Any:
    if api.sdk == "anthropic":
        return anthropic.Anthropic(api_key="x", base_url=standin.anthropic_base_url, max_retries=0)
    if api.sdk == "openai":
        return openai.OpenAI(api_key="x", base_url=standin.openai_base_url, max_retries=0)
    return genai.Client(
        api_key="x", http_options=genai_types.HttpOptions(base_url=standin.google_base_url)
    )


def async_client(api: Api, standin: StandIn) -> Any:
    if api.sdk == "anthropic":
        return anthropic.AsyncAnthropic(
            api_key="x", base_url=standin.anthropic_base_url, max_retries=0
        )
    if api.sdk == "openai":
        return openai.AsyncOpenAI(api_key="x", base_url=standin.openai_base_url, max_retries=0)
    return sync_client(api, standin)  # google: client.aio


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    # Spans of the Anthropic SDK's own (it has some) would go to the global provider: off.
    monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")
    for name in ("MOXN_CONTENT_CAPTURE", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"):
        monkeypatch.delenv(name, raising=False)
    exporter = InMemorySpanExporter()
    yield exporter
    moxtrace.uninstrument()


def instrument(memory: InMemorySpanExporter, content_capture: str = "all") -> TracerProvider:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    moxtrace.instrument(tracer_provider=provider, content_capture=content_capture)
    return provider


def request_number(standin: StandIn) -> int:
    return len(standin.received)


def check_span(span: ReadableSpan, api: Api, n: int, *, streamed: bool) -> dict[str, Any]:
    assert span.name == f"chat {api.model}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == api.provider_name
    assert attrs["gen_ai.request.model"] == api.model
    assert attrs["gen_ai.request.max_tokens"] == 100
    assert attrs["gen_ai.response.model"] == api.response_model
    assert attrs["gen_ai.response.id"] == api.response_id(n)
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.usage.input_tokens"] == 21
    assert attrs["gen_ai.usage.output_tokens"] == 9
    if streamed:
        assert 0 < attrs["moxn.llm.time_to_first_chunk_ms"] < 30_000
    else:
        assert "moxn.llm.time_to_first_chunk_ms" not in attrs
    return attrs


def check_content(attrs: dict[str, Any], policy: str) -> None:
    if policy == "none":
        for name in (
            "gen_ai.input.messages",
            "gen_ai.output.messages",
            "gen_ai.system_instructions",
        ):
            assert name not in attrs
        return
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": QUESTION}]}
    ]
    assert json.loads(attrs["gen_ai.system_instructions"]) == [{"type": "text", "content": SYSTEM}]
    assert json.loads(attrs["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": TEXT}], "finish_reason": "stop"}
    ]


API_NAMES = list(APIS)


@pytest.mark.parametrize("policy", ["all", "none"])
@pytest.mark.parametrize("name", API_NAMES)
def test_sync_call(name: str, policy: str, standin: StandIn, memory: InMemorySpanExporter) -> None:
    api = APIS[name]
    instrument(memory, policy)
    result = api.call(sync_client(api, standin), api.model, False)
    assert TEXT in json.dumps(result.model_dump(mode="json"))
    (span,) = memory.get_finished_spans()
    check_content(check_span(span, api, request_number(standin), streamed=False), policy)


@pytest.mark.parametrize("name", API_NAMES)
def test_async_call(name: str, standin: StandIn, memory: InMemorySpanExporter) -> None:
    api = APIS[name]
    instrument(memory)

    async def main() -> Any:
        return await api.acall(async_client(api, standin), api.model, False)

    result = asyncio.run(main())
    assert TEXT in json.dumps(result.model_dump(mode="json"))
    (span,) = memory.get_finished_spans()
    check_content(check_span(span, api, request_number(standin), streamed=False), "all")


def _events(chunks: list[Any]) -> list[Any]:
    """Stream chunks as plain data, ids and sequence numbers left in."""
    return [chunk.model_dump(mode="json") for chunk in chunks]


@pytest.mark.parametrize("name", API_NAMES)
def test_stream_reaches_the_application_unchanged_and_in_order(
    name: str, standin: StandIn, memory: InMemorySpanExporter
) -> None:
    api = APIS[name]
    client = sync_client(api, standin)
    plain = list(api.call(client, api.model, True))  # uninstrumented, for comparison
    instrument(memory)
    traced = list(api.call(client, api.model, True))
    assert [type(c) for c in traced] == [type(c) for c in plain]
    n = request_number(standin)
    # The same events: only the ids differ, numbered by the stand-in per request.
    assert json.dumps(_events(traced)) == json.dumps(_events(plain)).replace(
        f'standin{n - 1}"', f'standin{n}"'
    )
    assert [t for t in map(api.text_of, traced) if t] == list(CHUNKS)
    (span,) = memory.get_finished_spans()
    check_content(check_span(span, api, n, streamed=True), "all")


@pytest.mark.parametrize("name", API_NAMES)
def test_async_stream(name: str, standin: StandIn, memory: InMemorySpanExporter) -> None:
    api = APIS[name]
    instrument(memory)

    async def main() -> list[Any]:
        stream = api.acall(async_client(api, standin), api.model, True)
        stream = await stream
        return [chunk async for chunk in stream]

    chunks = asyncio.run(main())
    assert [t for t in map(api.text_of, chunks) if t] == list(CHUNKS)
    (span,) = memory.get_finished_spans()
    check_content(check_span(span, api, request_number(standin), streamed=True), "all")


@pytest.mark.parametrize("name", API_NAMES)
def test_a_stream_is_not_held_back(
    name: str, standin: StandIn, memory: InMemorySpanExporter
) -> None:
    """The server holds every event after the first until the application has seen it."""
    api = APIS[name]
    instrument(memory)
    release = threading.Event()
    standin.hold = release
    try:
        client = sync_client(api, standin)  # kept: Google's stream sends on first read
        stream = iter(api.call(client, api.model, True))
        first = next(stream)  # would wait out the hold if the wrapper read ahead
        assert standin.written == 1  # the first event reached the application alone
        release.set()
        rest = list(stream)
    finally:
        standin.hold = None
        release.set()
    assert [t for t in map(api.text_of, [first, *rest]) if t] == list(CHUNKS)
    assert len(memory.get_finished_spans()) == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("name", API_NAMES)
def test_error(name: str, mode: str, standin: StandIn, memory: InMemorySpanExporter) -> None:
    api = APIS[name]
    instrument(memory)
    if mode == "sync":
        client = sync_client(api, standin)

        def call() -> Any:
            return api.call(client, "error-model", False)
    else:

        def call() -> Any:
            async def main() -> Any:
                return await api.acall(async_client(api, standin), "error-model", False)

            return asyncio.run(main())

    with pytest.raises(api.error) as raised:
        call()
    (span,) = memory.get_finished_spans()
    assert span.name == "chat error-model"
    assert span.status.status_code is StatusCode.ERROR
    attrs = span.attributes or {}
    assert attrs["error.type"] == type(raised.value).__qualname__
    assert attrs["gen_ai.request.model"] == "error-model"
    assert "gen_ai.usage.input_tokens" not in attrs
    assert [event.name for event in span.events] == ["exception"]


@pytest.mark.parametrize("name", API_NAMES)
def test_uninstrument_leaves_no_wrapper(
    name: str, standin: StandIn, memory: InMemorySpanExporter
) -> None:
    api = APIS[name]
    originals = {
        (e.owner, e.method): vars(getattr(importlib.import_module(e.module), e.owner))[e.method]
        for e in SDKS[api.sdk]
    }
    instrument(memory)
    client = sync_client(api, standin)
    api.call(client, api.model, False)
    assert len(memory.get_finished_spans()) == 1
    moxtrace.uninstrument()
    for e in SDKS[api.sdk]:
        owner = getattr(importlib.import_module(e.module), e.owner)
        assert vars(owner)[e.method] is originals[(e.owner, e.method)]
        assert not hasattr(vars(owner)[e.method], "__moxtrace_endpoint__")
    api.call(client, api.model, False)
    list(api.call(client, api.model, True))
    assert len(memory.get_finished_spans()) == 1


def test_raw_and_streaming_responses_are_left_to_the_application(
    standin: StandIn, memory: InMemorySpanExporter
) -> None:
    instrument(memory)
    client = openai.OpenAI(api_key="x", base_url=standin.openai_base_url, max_retries=0)
    messages = [{"role": "user", "content": QUESTION}]
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    assert raw.parse().choices[0].message.content == TEXT
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=messages
    ) as response:
        # The body was not read by moxtrace: the application streams it itself.
        assert not response.http_response.is_stream_consumed
        lines = [line for line in response.iter_lines() if line]
    assert json.loads(lines[0])["choices"][0]["message"]["content"] == TEXT
    read, streamed = memory.get_finished_spans()
    assert (read.attributes or {})["gen_ai.usage.output_tokens"] == 9
    assert "gen_ai.usage.output_tokens" not in (streamed.attributes or {})
    assert streamed.name == "chat gpt-4o-mini"
