"""SDK streams handed to the application unchanged, while the call's span watches them.

``TracedStream`` / ``AsyncTracedStream`` stand in for the SDK's stream object: every
chunk is passed on as it arrives, the same object and in the same order (nothing is
buffered or delayed), and is read on the way by the provider's ``StreamReply`` (which
keeps the text, tool calls, finish reason and usage the span records, read off the
chunk's fields); the time to the first chunk is noted as it passes. The span ends when
the stream does: read to the end, closed (``close()``, the ``with`` block), or dropped.
Everything else (``response``, ``get_final_message``...) is the SDK stream's own, reached
through the wrapper; ``isinstance`` checks against the SDK's stream class still hold.

``TracedStreamManager`` / ``AsyncTracedStreamManager`` stand in for a stream helper's
context manager (Anthropic's ``messages.stream()``): the call starts when it is entered
(that is when the SDK sends the request) and is recorded from the stream's message
snapshot when it is left, however the application read the stream (iterating,
``text_stream``, ``get_final_message()``).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context

if TYPE_CHECKING:
    from moxtrace.instrumentation._endpoints import Endpoint
    from moxtrace.instrumentation._recorder import LLMCall, Recorder
    from moxtrace.instrumentation._stream_reply import StreamReply

__all__ = [
    "AsyncTracedStream",
    "AsyncTracedStreamManager",
    "TracedStream",
    "TracedStreamManager",
    "wrap_stream",
]

_logger = logging.getLogger("moxtrace.instrumentation")


class _Traced:
    """What the sync and async stream wrappers share: state, delegation, the ending."""

    __slots__ = (
        "_moxn_call",
        "_moxn_first",
        "_moxn_iterator",
        "_moxn_read",
        "_moxn_reader",
        "_moxn_stream",
    )

    def __init__(self, stream: Any, call: LLMCall, reader: StreamReply | None) -> None:
        self._moxn_stream = stream
        self._moxn_call = call
        self._moxn_reader = reader
        # Called on each chunk: the reader's own reading, the accumulator's once it has
        # handed over, None once neither can read the chunks.
        self._moxn_read: Callable[[Any], None] | None = reader.read if reader else None
        self._moxn_iterator: Any = None
        self._moxn_first: float | None = None

    @property  # type: ignore[misc]
    def __class__(self) -> type[Any]:  # isinstance(wrapper, openai.Stream) stays true
        return type(self._moxn_stream)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_moxn_"):  # a slot not set yet: never recurse into the stream
            raise AttributeError(name)
        return getattr(self._moxn_stream, name)

    def _moxn_unread(self, chunk: Any) -> Callable[[Any], None] | None:
        """After ``chunk`` could not be read: what reads the next ones (the provider's
        accumulator, handed what was read and ``chunk``), None if nothing can."""
        reader = self._moxn_reader
        read = None
        if reader is not None and not reader.handed_over:
            try:
                read = reader.hand_over(chunk)
            except Exception:
                read = None
        if read is None:
            # A chunk not even the accumulator can read: stop reading, keep passing them on.
            _logger.debug("moxtrace: could not read a stream chunk", exc_info=True)
            self._moxn_reader = None
        self._moxn_read = read
        return read

    def _moxn_passed(self, chunk: Any) -> None:
        if self._moxn_first is None:
            self._moxn_first = time.perf_counter()
        read = self._moxn_read
        if read is not None:
            try:
                read(chunk)
            except Exception:
                self._moxn_unread(chunk)

    def _moxn_end(self) -> None:
        self._moxn_call.end_stream(self._moxn_reader, self._moxn_first, self._moxn_stream)

    def __del__(self) -> None:
        try:
            if not self._moxn_call.done:
                self._moxn_end()
        except Exception:  # interpreter shutdown, a half-built wrapper
            pass

    def __repr__(self) -> str:
        return f"<moxtrace traced {self._moxn_stream!r}>"


def _in_context(iterator: Iterator[Any], context: Any) -> Iterator[Any]:
    """The chunks of a stream that sends its request when first iterated (and may send
    more as it goes): each one fetched in the call's context."""
    while True:
        token = otel_context.attach(context)
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        finally:
            otel_context.detach(token)
        yield chunk


class TracedStream(_Traced):
    """A synchronous SDK stream, its chunks passed through while the span records them."""

    __slots__ = ()

    def __iter__(self) -> Iterator[Any]:
        # A generator: a for loop resumes it for each chunk, at a fraction of the cost of
        # calling __next__. It holds the wrapper, the wrapper does not hold it: dropping
        # the stream unfinished still ends the span. Each chunk is read here, not through
        # _moxn_passed: a Python call less per chunk.
        iterator = self._moxn_iterator
        if iterator is None:
            iterator = self._moxn_iterator = iter(self._moxn_stream)
        call = self._moxn_call
        if call.endpoint.lazy:
            iterator = _in_context(iterator, call.context)
        read = self._moxn_read
        first = self._moxn_first
        thrown = False  # raised into this generator at its yield: not the SDK's error
        try:
            for chunk in iterator:
                if first is None:
                    first = self._moxn_first = time.perf_counter()
                if read is not None:
                    try:
                        read(chunk)
                    except Exception:
                        read = self._moxn_unread(chunk)
                try:
                    yield chunk
                except BaseException:
                    thrown = True
                    raise
        except BaseException as exc:
            if not thrown:
                call.fail(exc)
            raise
        self._moxn_end()

    def __next__(self) -> Any:
        for chunk in self:
            return chunk
        raise StopIteration

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
            self._moxn_end()

    def close(self) -> Any:
        """Close the SDK stream (releasing its connection); the span ends with what arrived."""
        try:
            return self._moxn_stream.close()
        finally:
            self._moxn_end()


class AsyncTracedStream(_Traced):
    """An asynchronous SDK stream, its chunks passed through while the span records them."""

    __slots__ = ()

    def __aiter__(self) -> AsyncTracedStream:
        return self

    async def __anext__(self) -> Any:
        call = self._moxn_call
        token = otel_context.attach(call.context) if call.endpoint.lazy else None
        try:
            iterator = self._moxn_iterator
            if iterator is None:
                iterator = self._moxn_iterator = self._moxn_stream.__aiter__()
            chunk = await iterator.__anext__()
        except StopAsyncIteration:
            self._moxn_end()
            raise
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            if token is not None:
                otel_context.detach(token)
        self._moxn_passed(chunk)
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
            self._moxn_end()

    async def close(self) -> Any:
        """Close the SDK stream (releasing its connection); the span ends with what arrived."""
        try:
            result = self._moxn_stream.close()
            return await result if inspect.isawaitable(result) else result
        finally:
            self._moxn_end()

    async def aclose(self) -> Any:
        """``aclose()`` of an async generator stream (Google's)."""
        try:
            return await self._moxn_stream.aclose()
        finally:
            self._moxn_end()


def wrap_stream(
    stream: Any, call: LLMCall, reader: StreamReply | None
) -> TracedStream | AsyncTracedStream:
    """The wrapper for ``stream``: async if the SDK method is (its stream is an async
    iterator then)."""
    if call.endpoint.is_async:
        return AsyncTracedStream(stream, call, reader)
    return TracedStream(stream, call, reader)


class _Manager:
    """What the stream-helper manager wrappers share."""

    __slots__ = (
        "_moxn_call",
        "_moxn_endpoint",
        "_moxn_instance",
        "_moxn_kwargs",
        "_moxn_manager",
        "_moxn_recorder",
        "_moxn_traced",
    )

    def __init__(
        self,
        manager: Any,
        recorder: Recorder,
        endpoint: Endpoint,
        instance: Any,
        kwargs: dict[str, Any],
    ) -> None:
        self._moxn_manager = manager
        self._moxn_recorder = recorder
        self._moxn_endpoint = endpoint
        self._moxn_instance = instance
        self._moxn_kwargs = kwargs
        self._moxn_call: LLMCall | None = None
        self._moxn_traced: _Traced | None = None

    @property  # type: ignore[misc]
    def __class__(self) -> type[Any]:
        return type(self._moxn_manager)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_moxn_"):
            raise AttributeError(name)
        return getattr(self._moxn_manager, name)

    def _moxn_start(self) -> LLMCall | None:
        call = self._moxn_recorder.start(
            self._moxn_endpoint, self._moxn_instance, self._moxn_kwargs
        )
        self._moxn_call = call
        return call

    def _moxn_end(self) -> None:
        traced, call = self._moxn_traced, self._moxn_call
        if traced is not None:
            traced._moxn_end()
        elif call is not None:
            call.end(None)


class TracedStreamManager(_Manager):
    """A synchronous stream helper's manager: the span covers the ``with`` block."""

    __slots__ = ()

    def __enter__(self) -> Any:
        call = self._moxn_start()
        if call is None:
            return self._moxn_manager.__enter__()
        token = otel_context.attach(call.context)
        try:
            stream = self._moxn_manager.__enter__()
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            otel_context.detach(token)
        traced = self._moxn_traced = TracedStream(stream, call, None)
        return traced

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return self._moxn_manager.__exit__(exc_type, exc, tb)
        finally:
            self._moxn_end()


class AsyncTracedStreamManager(_Manager):
    """An asynchronous stream helper's manager: the span covers the ``async with`` block."""

    __slots__ = ()

    async def __aenter__(self) -> Any:
        call = self._moxn_start()
        if call is None:
            return await self._moxn_manager.__aenter__()
        token = otel_context.attach(call.context)
        try:
            stream = await self._moxn_manager.__aenter__()
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            otel_context.detach(token)
        traced = self._moxn_traced = AsyncTracedStream(stream, call, None)
        return traced

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return await self._moxn_manager.__aexit__(exc_type, exc, tb)
        finally:
            self._moxn_end()
