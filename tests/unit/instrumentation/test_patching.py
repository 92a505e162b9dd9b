"""instrument() / uninstrument(): which methods are wrapped, and restored exactly."""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from typing import Any

import openai
import pytest
import wrapt
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import moxtrace
from moxtrace.instrumentation import (
    instrument_anthropic,
    instrument_google_genai,
    instrument_openai,
    instrumented,
    uninstrument_anthropic,
    uninstrument_google_genai,
    uninstrument_openai,
)
from moxtrace.instrumentation._endpoints import SDKS
from tests.unit.instrumentation.conftest import FakeProviders

MESSAGES = [{"role": "user", "content": "Where is my order?"}]


def owner_dict() -> dict[tuple[str, str, str], Any]:
    """What every instrumented class attribute holds now."""
    found = {}
    for endpoints in SDKS.values():
        for e in endpoints:
            owner = getattr(importlib.import_module(e.module), e.owner)
            found[(e.module, e.owner, e.method)] = vars(owner)[e.method]
    import anthropic._base_client as base

    found[("anthropic._base_client", "", "start_api_call_span")] = base.start_api_call_span
    return found


def test_instrument_wraps_every_endpoint_and_uninstrument_restores_the_very_functions(
    instrument: Callable[..., tuple[str, ...]],
) -> None:
    before = owner_dict()
    assert instrument() == ("anthropic", "openai", "google_genai")
    assert instrumented() == ("anthropic", "openai", "google_genai")
    during = owner_dict()
    for key, original in before.items():
        assert during[key] is not original, key
        assert during[key].__wrapped__ is original, key
    for endpoints in SDKS.values():
        for e in endpoints:
            wrapper = during[(e.module, e.owner, e.method)]
            assert wrapper.__moxtrace_endpoint__ is e
            assert inspect.signature(wrapper) == inspect.signature(
                before[(e.module, e.owner, e.method)]
            )
            assert inspect.iscoroutinefunction(wrapper) is (e.is_async and not e.manager)

    moxtrace.uninstrument()
    assert instrumented() == ()
    after = owner_dict()
    for key, original in before.items():
        assert after[key] is original, key


def test_per_sdk_functions_touch_only_their_sdk(provider: TracerProvider) -> None:
    before = owner_dict()
    assert instrument_openai(tracer_provider=provider)
    assert instrumented() == ("openai",)
    assert instrument_anthropic(tracer_provider=provider)
    assert instrument_google_genai(tracer_provider=provider)
    assert set(instrumented()) == {"openai", "anthropic", "google_genai"}
    uninstrument_openai()
    now = owner_dict()
    for key, original in before.items():
        assert (now[key] is original) is key[0].startswith("openai"), key
    uninstrument_anthropic()
    uninstrument_google_genai()
    assert owner_dict() == before


def test_instrument_again_reconfigures_without_a_second_layer(
    instrument: Callable[..., tuple[str, ...]], fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    instrument()
    wrapper = vars(openai.resources.chat.completions.Completions)["create"]
    other = InMemorySpanExporter()
    second = TracerProvider(shutdown_on_exit=False)
    second.add_span_processor(SimpleSpanProcessor(other))
    moxtrace.instrument(tracer_provider=second)
    assert vars(openai.resources.chat.completions.Completions)["create"] is wrapper
    fake.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert memory.get_finished_spans() == ()
    assert [s.name for s in other.get_finished_spans()] == ["chat gpt-4o-mini"]


def _foreign_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    return wrapped(*args, **kwargs)


def test_goes_beneath_a_wrapt_wrapper_installed_before_and_restores_it() -> None:
    Completions = openai.resources.chat.completions.Completions
    pristine = vars(Completions)["create"]
    wrapt.wrap_function_wrapper(Completions, "create", _foreign_wrapper)
    try:
        proxy = vars(Completions)["create"]
        moxtrace.instrument(sdks=["openai"])
        assert vars(Completions)["create"] is proxy  # the other wrapper stays outermost
        assert proxy.__wrapped__.__moxtrace_endpoint__.method == "create"
        assert proxy.__wrapped__.__wrapped__ is pristine
        moxtrace.uninstrument()
        assert vars(Completions)["create"] is proxy
        assert proxy.__wrapped__ is pristine
    finally:
        Completions.create = pristine


def test_a_wrapt_wrapper_installed_after_can_be_removed_in_either_order() -> None:
    Completions = openai.resources.chat.completions.Completions
    pristine = vars(Completions)["create"]
    try:
        # moxtrace first, the other removed first: moxtrace's wrapper comes back, then goes.
        moxtrace.instrument(sdks=["openai"])
        ours = vars(Completions)["create"]
        wrapt.wrap_function_wrapper(Completions, "create", _foreign_wrapper)
        proxy = vars(Completions)["create"]
        assert proxy.__wrapped__ is ours
        Completions.create = proxy.__wrapped__  # how opentelemetry's unwrap() does it
        assert vars(Completions)["create"] is ours
        moxtrace.uninstrument()
        assert vars(Completions)["create"] is pristine

        # moxtrace removed first: the other wrapper is left wrapping the SDK's function.
        moxtrace.instrument(sdks=["openai"])
        wrapt.wrap_function_wrapper(Completions, "create", _foreign_wrapper)
        proxy = vars(Completions)["create"]
        moxtrace.uninstrument()
        assert vars(Completions)["create"] is proxy
        assert proxy.__wrapped__ is pristine
    finally:
        Completions.create = pristine


def test_wrapped_again_by_a_plain_function_the_wrapper_stays_but_records_nothing(
    instrument: Callable[..., tuple[str, ...]],
    fake: FakeProviders,
    memory: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    Completions = openai.resources.chat.completions.Completions
    pristine = vars(Completions)["create"]
    instrument(sdks=["openai"])
    ours = vars(Completions)["create"]

    def decorated(self: Any, *args: Any, **kwargs: Any) -> Any:
        return ours(self, *args, **kwargs)

    Completions.create = decorated  # type: ignore[method-assign]
    try:
        with caplog.at_level(logging.WARNING, "moxtrace.instrumentation"):
            moxtrace.uninstrument()
        assert "wrapped again" in caplog.text
        answer = fake.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert answer.choices[0].message.content == "Your order ships tomorrow."
        assert memory.get_finished_spans() == ()
    finally:
        Completions.create = pristine


def test_misuse_raises_with_what_to_do(provider: TracerProvider) -> None:
    with pytest.raises(ValueError, match="unknown SDK 'cohere'"):
        moxtrace.instrument(sdks=["cohere"])
    client = moxtrace.SyncMoxnClient()
    try:
        with pytest.raises(ValueError, match="not both"):
            moxtrace.instrument(client, tracer_provider=provider)
    finally:
        client.close()
    with pytest.raises(TypeError, match="MoxnClient or SyncMoxnClient"):
        moxtrace.instrument(object())
    assert instrumented() == ()
