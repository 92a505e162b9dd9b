"""Wrapping SDK methods, beneath other instrumentations' wrappers, and unwrapping exactly.

moxtrace's wrapper is a plain function set on the SDK class (``Completions.create``).
If the method is already wrapped by a ``wrapt`` proxy (how the OpenTelemetry contrib
instrumentations and most others wrap), moxtrace goes *beneath* it, next to the SDK's own
function: whichever was installed first, the other instrumentation's span is open when
moxtrace's wrapper runs, so moxtrace records into it rather than opening a second span.
A proxy installed later wraps moxtrace's function, which comes to the same order.

``remove`` puts back exactly what was there: the SDK's function on the class (or the
class attribute deleted, if it was inherited), or the proxy's ``__wrapped__`` restored.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context

from moxtrace.instrumentation._endpoints import Endpoint
from moxtrace.instrumentation._stream import AsyncTracedStreamManager, TracedStreamManager

__all__ = [
    "Patch",
    "SdkState",
    "install",
    "is_proxy",
    "remove",
    "suppressing_wrapper",
    "wrapper_for",
]


def is_proxy(value: Any) -> bool:
    """Whether ``value`` is a ``wrapt`` function proxy (``__wrapped__`` can be replaced)."""
    return hasattr(value, "_self_wrapper") and hasattr(value, "__wrapped__")


@dataclass(eq=False)
class Patch:
    """One attribute moxtrace replaced: where, what it was, what it put there."""

    owner: Any
    name: str
    original: Any
    wrapper: Any
    had_own: bool


def install(owner: Any, name: str, make_wrapper: Callable[[Any], Any]) -> Patch:
    """Wrap ``owner.name`` (a class or module attribute) beneath any wrapt proxies on it."""
    own = vars(owner)
    had_own = name in own
    current = own[name] if had_own else getattr(owner, name)
    holder = None
    target = current
    while is_proxy(target):
        holder, target = target, target.__wrapped__
    wrapper = make_wrapper(target)
    if holder is None:
        setattr(owner, name, wrapper)
    else:
        holder.__wrapped__ = wrapper
    return Patch(owner, name, target, wrapper, had_own)


def remove(patch: Patch) -> bool:
    """Put back what ``install`` replaced; False if the wrapper cannot be found (something
    that is not a wrapt proxy wrapped it since: it stays, inactive)."""
    own = vars(patch.owner)
    current = own.get(patch.name)
    if current is patch.wrapper:
        if patch.had_own:
            setattr(patch.owner, patch.name, patch.original)
        else:
            delattr(patch.owner, patch.name)
        return True
    node = current
    while is_proxy(node):
        if node.__wrapped__ is patch.wrapper:
            node.__wrapped__ = patch.original
            return True
        node = node.__wrapped__
    return False


class SdkState:
    """One SDK's instrumentation: its patches and the recorder its wrappers use (None:
    they pass calls through untouched)."""

    __slots__ = ("patches", "recorder")

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.patches: list[Patch] = []


def _caller(original: Any) -> Callable[..., Any]:
    """``original`` as a function of (self, *args, **kwargs)."""
    if inspect.isfunction(original) or not hasattr(original, "__get__"):
        return original  # type: ignore[no-any-return]

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return original.__get__(self, type(self))(*args, **kwargs)

    return call


def wrapper_for(endpoint: Endpoint, state: SdkState, original: Any) -> Callable[..., Any]:
    """The function that replaces ``original``: records each call on a span."""
    call_original = _caller(original)

    if endpoint.manager:
        manager_type = AsyncTracedStreamManager if endpoint.is_async else TracedStreamManager

        def manager_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            manager = call_original(self, *args, **kwargs)  # no request until entered
            recorder = state.recorder
            if recorder is None:
                return manager
            return manager_type(manager, recorder, endpoint, self, kwargs)

        wrapper: Callable[..., Any] = manager_wrapper
    elif endpoint.is_async:

        async def async_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            recorder = state.recorder
            call = recorder.start(endpoint, self, kwargs) if recorder is not None else None
            if call is None:
                return await call_original(self, *args, **kwargs)
            token = otel_context.attach(call.context)
            try:
                result = await call_original(self, *args, **kwargs)
            except BaseException as exc:
                call.fail(exc)
                raise
            finally:
                otel_context.detach(token)
            return call.finish(result)

        wrapper = async_wrapper
    else:

        def sync_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            recorder = state.recorder
            call = recorder.start(endpoint, self, kwargs) if recorder is not None else None
            if call is None:
                return call_original(self, *args, **kwargs)
            token = otel_context.attach(call.context)
            try:
                result = call_original(self, *args, **kwargs)
            except BaseException as exc:
                call.fail(exc)
                raise
            finally:
                otel_context.detach(token)
            return call.finish(result)

        wrapper = sync_wrapper
    functools.update_wrapper(wrapper, original)
    wrapper.__moxtrace_endpoint__ = endpoint  # type: ignore[attr-defined]
    return wrapper


def suppressing_wrapper(
    original: Callable[..., Any], in_flight: Callable[[], bool]
) -> Callable[..., Any]:
    """A wrapper of an SDK's own span factory that starts nothing (returns None) while an
    instrumented call is in flight: that call has its span already."""

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if in_flight():
            return None
        return original(*args, **kwargs)

    return wrapper
