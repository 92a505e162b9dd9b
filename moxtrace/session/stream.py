"""Streamed responses: an accumulator per provider turns stream events into a ``ParsedResponse``.

An accumulator is fed the events (chunks) a provider SDK yields, as SDK objects or dicts,
and produces the same ``ParsedResponse`` the non-streamed response would have, with
``time_to_first_chunk_ms`` set: the time from the accumulator's creation (or the
``started_at`` it was given) to its first chunk. Create it just before the call:

>>> acc = session.parse_stream()                        # the clock starts here
>>> stream = anthropic.messages.create(**session.to_anthropic_invocation(stream=True))
>>> for event in acc.wrap(stream):                      # events pass through unchanged
...     show(event)
>>> client.log_telemetry_event_from_response(session, acc, Provider.ANTHROPIC)

``add(chunk)`` feeds one event by hand; ``wrap(stream)`` / ``awrap(stream)`` yield the
events unchanged while feeding them; ``result()`` may be called at any time (a stream cut
short gives what arrived so far). Each provider's accumulator rebuilds the provider's own
response shape from the events and hands it to the same parser as non-streamed
responses, so there is one parser per provider.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Any, TypeVar

from moxtrace.session._wire import as_dict
from moxtrace.types.content import Provider
from moxtrace.types.telemetry import ParsedResponse

__all__ = ["StreamAccumulator"]

T = TypeVar("T")


class StreamAccumulator(ABC):
    """Base of the per-provider accumulators: timing, chunk counting, pass-through wrappers.

    ``clock`` returns seconds (``time.perf_counter`` by default); ``started_at`` is a
    reading of that clock taken when the request was sent, if the accumulator is created
    later.
    """

    provider: Provider

    def __init__(
        self,
        *,
        started_at: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._clock = clock
        self.started_at = clock() if started_at is None else started_at
        self.first_chunk_at: float | None = None
        self.chunks = 0

    def add(self, chunk: Any) -> None:
        """Feed one stream event (an SDK object or its dict)."""
        if self.first_chunk_at is None:
            self.first_chunk_at = self._clock()
        self.chunks += 1
        self._add(as_dict(chunk))

    def wrap(self, stream: Iterable[T]) -> Iterator[T]:
        """Yield ``stream``'s events unchanged, feeding each to the accumulator."""
        for chunk in stream:
            self.add(chunk)
            yield chunk

    async def awrap(self, stream: AsyncIterable[T]) -> AsyncIterator[T]:
        """``wrap`` for async streams."""
        async for chunk in stream:
            self.add(chunk)
            yield chunk

    @property
    def time_to_first_chunk_ms(self) -> float | None:
        """Milliseconds from the start to the first chunk; ``None`` before any chunk."""
        if self.first_chunk_at is None:
            return None
        return max(0.0, (self.first_chunk_at - self.started_at) * 1000.0)

    def result(self) -> ParsedResponse:
        """The response as accumulated so far, parsed."""
        parsed = self._result()
        parsed.time_to_first_chunk_ms = self.time_to_first_chunk_ms
        return parsed

    @abstractmethod
    def _add(self, event: dict[str, Any]) -> None: ...

    @abstractmethod
    def _result(self) -> ParsedResponse: ...
