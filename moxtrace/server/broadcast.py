"""The live tail: an in-process broadcaster from the ingest path to SSE subscribers.

``publish`` never blocks and never waits for a slow subscriber: each subscriber has a
bounded queue; when it is full the oldest message is dropped and counted, and the
subscriber is told how many it missed. Messages are encoded once, not per subscriber.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pydantic_core

__all__ = ["Broadcaster", "Subscription", "TooManySubscribers", "sse_frame"]


def sse_frame(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One server-sent event: ``id``, ``event`` and a one-line JSON ``data``."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    payload = pydantic_core.to_json(data, inf_nan_mode="null").decode()
    return f"{head}event: {event}\ndata: {payload}\n\n".encode()


class TooManySubscribers(Exception):
    """Raised by ``subscribe`` when ``max_subscribers`` are connected."""


class Subscription:
    """One subscriber's bounded queue of encoded frames."""

    def __init__(self, tenant: str, size: int) -> None:
        self.tenant = tenant
        self._frames: collections.deque[bytes] = collections.deque(maxlen=size)
        self._wakeup = asyncio.Event()
        self._closed = False
        self.dropped = 0
        """Messages dropped because this subscriber fell behind."""
        self._reported = 0

    def put(self, frame: bytes) -> None:
        """Queue an encoded frame, dropping the oldest when full (never blocks)."""
        if len(self._frames) == self._frames.maxlen:
            self.dropped += 1
        self._frames.append(frame)
        self._wakeup.set()

    def close(self) -> None:
        """End the subscription: ``frames`` finishes after what is queued."""
        self._closed = True
        self._wakeup.set()

    async def frames(self, heartbeat: float) -> AsyncIterator[bytes]:
        """Queued frames as they come, a comment every ``heartbeat`` s when idle."""
        while True:
            if self.dropped > self._reported:
                missed = self.dropped - self._reported
                self._reported = self.dropped
                yield sse_frame("dropped", {"dropped": missed, "total_dropped": self.dropped})
            if self._frames:
                yield self._frames.popleft()
                continue
            if self._closed:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), heartbeat)
            except asyncio.TimeoutError:
                yield b": keep-alive\n\n"


class Broadcaster:
    """Fan-out of stored spans to live-tail subscribers, per tenant."""

    def __init__(self, queue_size: int = 1000, max_subscribers: int = 100) -> None:
        self._queue_size = queue_size
        self._max = max_subscribers
        self._subscribers: dict[str, set[Subscription]] = {}
        self._ids = itertools.count(1)
        self._closed = False
        self.published = 0
        """Messages published (to at least one subscriber)."""

    @property
    def subscriber_count(self) -> int:
        """Connected subscribers."""
        return sum(len(subs) for subs in self._subscribers.values())

    @contextmanager
    def subscribe(self, tenant: str) -> Iterator[Subscription]:
        """Receive ``tenant``'s messages while the block runs."""
        if self._closed or self.subscriber_count >= self._max:
            raise TooManySubscribers(f"{self._max} live-tail subscribers already connected")
        sub = Subscription(tenant, self._queue_size)
        self._subscribers.setdefault(tenant, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subscribers.get(tenant)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[tenant]

    def has_subscribers(self, tenant: str) -> bool:
        """Whether anyone listens to ``tenant`` (publishers can skip building messages)."""
        return bool(self._subscribers.get(tenant))

    def publish(self, tenant: str, event: str, data: Any) -> None:
        """Queue ``data`` as an SSE ``event`` for each of ``tenant``'s subscribers."""
        subs = self._subscribers.get(tenant)
        if not subs:
            return
        frame = sse_frame(event, data, next(self._ids))
        self.published += 1
        for sub in subs:
            sub.put(frame)

    def close(self) -> None:
        """End every subscription (server shutdown) and refuse new ones."""
        self._closed = True
        for subs in self._subscribers.values():
            for sub in subs:
                sub.close()
