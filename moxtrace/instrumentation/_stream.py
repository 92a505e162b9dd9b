"""SDK streams handed to the application unchanged, while the call's span watches them.

``TracedStream`` / ``AsyncTracedStream`` stand in for the SDK's stream object: every
chunk is passed on as it arrives, the same object and in the same order (nothing is
buffered or delayed), and is fed to the provider's stream accumulator on the way, which
notes the time to the first chunk and reads the usage and finish reason from the final
ones. The span ends when the stream does: read to the end, closed (``close()``, the
``with`` block), or dropped. Everything else (``response``, ``get_final_message``...)
is the SDK stream's own, reached through the wrapper; ``isinstance`` checks against the
SDK's stream class still hold.
"""

from __future__ import annotations

import inspect
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context

from moxtrace.session.stream import StreamAccumulator

if TYPE_CHECKING:
    from moxtrace.instrumentation._recorder import LLMCall

__all__ = ["AsyncTracedStream", "TracedStream", "wrap_stream"]

_logger = logging.getLogger("moxtrace.instrumentation")


def _feed(stream: TracedStream | AsyncTracedStream, chunk: Any) -> None:
    accumulator = stream._moxn_accumulator
    if accumulator is not None:
        try:
            accumulator.add(chunk)
        except Exception:
            # A chunk the accumulator cannot read: stop reading, keep passing them on.
            _logger.debug("moxtrace: could not read a stream chunk", exc_info=True)
            stream._moxn_accumulator = None


class TracedStream:
    """A synchronous SDK stream, its chunks passed through while the span records them."""

    __slots__ = ("_moxn_accumulator", "_moxn_call", "_moxn_iterator", "_moxn_stream")

    def __init__(self, stream: Any, call: LLMCall, accumulator: StreamAccumulator | None) -> None:
        self._moxn_stream = stream
        self._moxn_call = call
        self._moxn_accumulator = accumulator
        self._moxn_iterator: Any = None

    @property  # type: ignore[misc]
    def __class__(self) -> type[Any]:  # isinstance(wrapper, openai.Stream) stays true
        return type(self._moxn_stream)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_moxn_"):  # a slot not set yet: never recurse into the stream
            raise AttributeError(name)
        return getattr(self._moxn_stream, name)

    def __iter__(self) -> TracedStream:
        return self

    def __next__(self) -> Any:
        iterator = self._moxn_iterator
        call = self._moxn_call
        token = otel_context.attach(call.context) if call.endpoint.lazy else None
        try:
            if iterator is None:
                iterator = self._moxn_iterator = iter(self._moxn_stream)
            chunk = next(iterator)
        except StopIteration:
            call.end_stream(self._moxn_accumulator)
            raise
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            if token is not None:
                otel_context.detach(token)
        _feed(self, chunk)
        return chunk

    def __enter__(self) -> TracedStream:
        enter = getattr(self._moxn_stream, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            exit_ = getattr(self._moxn_stream, "__exit__", None)
            return exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            self._moxn_call.end_stream(self._moxn_accumulator)

    def close(self) -> Any:
        """Close the SDK stream (releasing its connection); the span ends with what arrived."""
        try:
            return self._moxn_stream.close()
        finally:
            self._moxn_call.end_stream(self._moxn_accumulator)

    def __del__(self) -> None:
        try:
            call = self._moxn_call
            if not call.done:
                call.end_stream(self._moxn_accumulator)
        except Exception:  # interpreter shutdown, a half-built wrapper
            pass

    def __repr__(self) -> str:
        return f"<moxtrace traced {self._moxn_stream!r}>"


class AsyncTracedStream:
    """An asynchronous SDK stream, its chunks passed through while the span records them."""

    __slots__ = ("_moxn_accumulator", "_moxn_call", "_moxn_iterator", "_moxn_stream")

    def __init__(self, stream: Any, call: LLMCall, accumulator: StreamAccumulator | None) -> None:
        self._moxn_stream = stream
        self._moxn_call = call
        self._moxn_accumulator = accumulator
        self._moxn_iterator: Any = None

    @property  # type: ignore[misc]
    def __class__(self) -> type[Any]:
        return type(self._moxn_stream)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_moxn_"):  # a slot not set yet: never recurse into the stream
            raise AttributeError(name)
        return getattr(self._moxn_stream, name)

    def __aiter__(self) -> AsyncTracedStream:
        return self

    async def __anext__(self) -> Any:
        iterator = self._moxn_iterator
        call = self._moxn_call
        token = otel_context.attach(call.context) if call.endpoint.lazy else None
        try:
            if iterator is None:
                iterator = self._moxn_iterator = self._moxn_stream.__aiter__()
            chunk = await iterator.__anext__()
        except StopAsyncIteration:
            call.end_stream(self._moxn_accumulator)
            raise
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            if token is not None:
                otel_context.detach(token)
        _feed(self, chunk)
        return chunk

    async def __aenter__(self) -> AsyncTracedStream:
        enter = getattr(self._moxn_stream, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            exit_ = getattr(self._moxn_stream, "__aexit__", None)
            return await exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            self._moxn_call.end_stream(self._moxn_accumulator)

    async def close(self) -> Any:
        """Close the SDK stream (releasing its connection); the span ends with what arrived."""
        try:
            result = self._moxn_stream.close()
            return await result if inspect.isawaitable(result) else result
        finally:
            self._moxn_call.end_stream(self._moxn_accumulator)

    async def aclose(self) -> Any:
        """``aclose()`` of an async generator stream (Google's)."""
        try:
            return await self._moxn_stream.aclose()
        finally:
            self._moxn_call.end_stream(self._moxn_accumulator)

    def __del__(self) -> None:
        try:
            call = self._moxn_call
            if not call.done:
                call.end_stream(self._moxn_accumulator)
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<moxtrace traced {self._moxn_stream!r}>"


def wrap_stream(
    stream: Any, call: LLMCall, accumulator: StreamAccumulator | None
) -> TracedStream | AsyncTracedStream:
    """The wrapper for ``stream``: async if it is an async iterator."""
    if hasattr(stream, "__aiter__") or hasattr(stream, "__anext__"):
        return AsyncTracedStream(stream, call, accumulator)
    return TracedStream(stream, call, accumulator)
