"""``instrument()`` / ``uninstrument()`` and the per-SDK functions."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterable
from typing import Any

from opentelemetry import trace

from moxtrace.instrumentation._endpoints import SDKS
from moxtrace.instrumentation._patch import (
    SdkState,
    install,
    remove,
    suppressing_wrapper,
    wrapper_for,
)
from moxtrace.instrumentation._recorder import Recorder, call_in_flight
from moxtrace.settings import Settings
from moxtrace.tracing import recorded
from moxtrace.tracing.content import ContentCapture, resolve_content_capture
from moxtrace.tracing.runtime import TracingRuntime

__all__ = [
    "instrument",
    "instrument_anthropic",
    "instrument_google_genai",
    "instrument_openai",
    "instrumented",
    "uninstrument",
    "uninstrument_anthropic",
    "uninstrument_google_genai",
    "uninstrument_openai",
]

_logger = logging.getLogger("moxtrace.instrumentation")
_lock = threading.RLock()
_states: dict[str, SdkState] = {}

# The Anthropic SDK (2.x) starts a call span of its own for every API call. While moxtrace
# records the call, that factory starts nothing: one span per call.
_NATIVE_SPAN_FACTORIES = {"anthropic": ("anthropic._base_client", "start_api_call_span")}


def _recorder(
    client: Any,
    tracer_provider: trace.TracerProvider | None,
    content_capture: ContentCapture | bool | str | None,
) -> Recorder:
    if client is not None:
        if tracer_provider is not None:
            raise ValueError(
                "instrument() takes a client or a tracer_provider, not both: the client's "
                "spans already go through its own provider"
            )
        runtime = getattr(client, "tracing", None)
        if not isinstance(runtime, TracingRuntime):
            raise TypeError(
                f"instrument(client) takes a MoxnClient or SyncMoxnClient, not "
                f"{type(client).__name__}"
            )
        capture = (
            runtime.content_capture
            if content_capture is None
            else resolve_content_capture(content_capture)
        )
        return Recorder(runtime, capture=capture, guard=False)
    settings = Settings()
    runtime = TracingRuntime(
        settings,
        tracer_provider=tracer_provider or trace.get_tracer_provider(),
        content_capture=content_capture,
    )
    return Recorder(runtime, capture=runtime.content_capture, guard=True)


def _sdk_names(sdks: Iterable[str] | None) -> tuple[str, ...]:
    if sdks is None:
        return tuple(SDKS)
    names = tuple(sdks)
    unknown = [name for name in names if name not in SDKS]
    if unknown:
        raise ValueError(f"unknown SDK {unknown[0]!r}: choose from {', '.join(SDKS)}")
    return names


def _patch_sdk(name: str, recorder: Recorder) -> bool:
    state = _states.get(name)
    if state is not None:
        state.recorder = recorder  # instrumented already: the latest configuration wins
        return True
    state = SdkState(recorder)
    for endpoint in SDKS[name]:
        try:
            owner = getattr(importlib.import_module(endpoint.module), endpoint.owner)
            getattr(owner, endpoint.method)
        except (ImportError, AttributeError) as exc:
            _logger.debug("moxtrace: %s not instrumented: %s", endpoint.qualname, exc)
            continue
        state.patches.append(
            install(
                owner,
                endpoint.method,
                lambda original, e=endpoint: wrapper_for(e, state, original),  # type: ignore[misc]
            )
        )
    if not state.patches:
        return False
    factory = _NATIVE_SPAN_FACTORIES.get(name)
    if factory is not None:
        try:
            module = importlib.import_module(factory[0])
            getattr(module, factory[1])
        except (ImportError, AttributeError):
            pass  # an SDK version without its own spans
        else:
            state.patches.append(
                install(module, factory[1], lambda f: suppressing_wrapper(f, call_in_flight))
            )
    _states[name] = state
    return True


def _unpatch_sdk(name: str) -> None:
    state = _states.pop(name, None)
    if state is None:
        return
    state.recorder = None
    for patch in reversed(state.patches):
        if not remove(patch):
            _logger.warning(
                "moxtrace: %s.%s was wrapped again since moxtrace instrumented it; moxtrace's "
                "wrapper stays beneath, passing calls through",
                getattr(patch.owner, "__qualname__", patch.owner),
                patch.name,
            )


def instrument(
    client: Any = None,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    content_capture: ContentCapture | bool | str | None = None,
    sdks: Iterable[str] | None = None,
) -> tuple[str, ...]:
    """Record every call of the installed provider SDKs as a GenAI CLIENT span.

    Wraps ``anthropic`` (``messages.create``), ``openai`` (``chat.completions.create``,
    ``responses.create``) and ``google-genai`` (``models.generate_content`` and
    ``generate_content_stream``), sync and async, streamed or not. Each call becomes a span
    ``chat {model}`` with the GenAI attributes (model, tokens, finish reasons, content
    under the content policy), its error if it fails, and, for a stream, the time to the
    first chunk; inside ``client.span(session)``, or made with a session's invocation, it
    carries that prompt's identity. Returns the SDKs now instrumented (those installed).

    Spans go through ``client``'s tracing (a ``MoxnClient`` / ``SyncMoxnClient``: its
    provider, exporters and content policy), else through ``tracer_provider``, else the
    global OpenTelemetry provider. Calling it again reconfigures; ``uninstrument()``
    restores the SDKs exactly.

    >>> client = SyncMoxnClient()
    >>> moxtrace.instrument(client)
    ('anthropic', 'openai', 'google_genai')
    """
    names = _sdk_names(sdks)
    recorder = _recorder(client, tracer_provider, content_capture)
    with _lock:
        return tuple(name for name in names if _patch_sdk(name, recorder))


def uninstrument(sdks: Iterable[str] | None = None) -> None:
    """Put the SDKs' methods back exactly as they were (all, or those named)."""
    with _lock:
        for name in _sdk_names(sdks):
            _unpatch_sdk(name)
        if not _states:
            recorded.clear()


def instrumented() -> tuple[str, ...]:
    """The SDKs instrumented now."""
    with _lock:
        return tuple(_states)


def instrument_anthropic(
    client: Any = None,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    content_capture: ContentCapture | bool | str | None = None,
) -> bool:
    """``instrument()`` for the ``anthropic`` SDK only; False if it is not installed."""
    found = instrument(
        client, tracer_provider=tracer_provider, content_capture=content_capture, sdks=["anthropic"]
    )
    return bool(found)


def instrument_openai(
    client: Any = None,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    content_capture: ContentCapture | bool | str | None = None,
) -> bool:
    """``instrument()`` for the ``openai`` SDK only (Chat Completions and Responses);
    False if it is not installed."""
    found = instrument(
        client, tracer_provider=tracer_provider, content_capture=content_capture, sdks=["openai"]
    )
    return bool(found)


def instrument_google_genai(
    client: Any = None,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    content_capture: ContentCapture | bool | str | None = None,
) -> bool:
    """``instrument()`` for the ``google-genai`` SDK only (Gemini and Vertex AI clients);
    False if it is not installed."""
    found = instrument(
        client,
        tracer_provider=tracer_provider,
        content_capture=content_capture,
        sdks=["google_genai"],
    )
    return bool(found)


def uninstrument_anthropic() -> None:
    """Restore the ``anthropic`` SDK."""
    uninstrument(["anthropic"])


def uninstrument_openai() -> None:
    """Restore the ``openai`` SDK."""
    uninstrument(["openai"])


def uninstrument_google_genai() -> None:
    """Restore the ``google-genai`` SDK."""
    uninstrument(["google_genai"])
