"""Admission control for ingest: a bounded number of requests at work, a bounded queue.

Requests beyond ``max_inflight`` wait for a slot; when ``max_queued`` are already waiting, or
a slot does not free up within ``timeout`` seconds, the request is refused with 503 and
``Retry-After``. Memory stays bounded by ``max_inflight`` bodies, whatever the load.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from moxtrace.server.errors import unavailable

__all__ = ["IngestGate"]


class IngestGate:
    """``async with gate.slot(): ...`` around the work of one ingest request."""

    def __init__(self, max_inflight: int, max_queued: int, timeout: float, retry_after: int):
        self._semaphore = asyncio.Semaphore(max_inflight)
        self._max_inflight = max_inflight
        self._max_queued = max_queued
        self._timeout = timeout
        self._retry_after = retry_after
        self._waiting = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self.inflight = 0
        """Requests holding a slot now."""
        self.refused = 0
        """Requests answered 503 by the gate so far."""

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot now."""
        return self._waiting

    async def quiet(self, timeout: float) -> bool:
        """Wait until no request holds or waits for a slot, at most ``timeout`` s; whether
        it is quiet now."""
        if self._quiet.is_set():
            return True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._quiet.wait(), timeout)
        return self._quiet.is_set()

    async def _acquire_within(self, timeout: float) -> bool:
        # Not asyncio.wait_for: a permit granted just as the timeout fires must not leak.
        task = asyncio.ensure_future(self._semaphore.acquire())
        try:
            await asyncio.wait({task}, timeout=timeout)
        except BaseException:
            if task.done() and not task.cancelled():
                self._semaphore.release()
            task.cancel()  # a pending acquire hands its permit back when cancelled
            raise
        if task.done():
            return not task.cancelled()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if not task.cancelled():
            self._semaphore.release()  # granted while we were giving up
        return False

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot; raise ``ApiError`` 503 if the queue is full or the wait too long."""
        self._quiet.clear()
        try:
            async with self._held():
                yield
        finally:
            if not self.inflight and not self._waiting:
                self._quiet.set()

    @asynccontextmanager
    async def _held(self) -> AsyncIterator[None]:
        if self._semaphore.locked():
            if self._waiting >= self._max_queued:
                self.refused += 1
                raise unavailable(
                    f"server busy: {self._max_inflight} ingest requests at work and "
                    f"{self._waiting} waiting",
                    self._retry_after,
                )
            self._waiting += 1
            try:
                acquired = await self._acquire_within(self._timeout)
            finally:
                self._waiting -= 1
            if not acquired:
                self.refused += 1
                raise unavailable(
                    f"server busy: no ingest slot within {self._timeout:g} s", self._retry_after
                )
        else:
            await self._semaphore.acquire()
        self.inflight += 1
        try:
            yield
        finally:
            self.inflight -= 1
            self._semaphore.release()
