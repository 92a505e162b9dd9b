"""Admission control: bounded work, bounded queue, 503 beyond."""

from __future__ import annotations

import asyncio

import pytest

from moxtrace.server.errors import ApiError
from moxtrace.server.gate import IngestGate


async def run_ready_tasks() -> None:
    """Let the tasks just created run until they block (a few loop iterations, no clock)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_beyond_the_queue_requests_get_503_with_retry_after() -> None:
    gate = IngestGate(max_inflight=1, max_queued=1, timeout=10, retry_after=3)
    release = asyncio.Event()

    async def hold() -> None:
        async with gate.slot():
            await release.wait()

    holder = asyncio.create_task(hold())
    waiter = asyncio.create_task(hold())
    await run_ready_tasks()
    assert (gate.inflight, gate.waiting) == (1, 1)

    with pytest.raises(ApiError) as caught:
        async with gate.slot():
            pass

    assert caught.value.status_code == 503
    assert caught.value.headers["Retry-After"] == "3"
    release.set()
    await asyncio.gather(holder, waiter)
    assert gate.inflight == 0 and gate.refused == 1


async def test_a_wait_longer_than_the_timeout_is_503_and_leaks_no_permit() -> None:
    gate = IngestGate(max_inflight=1, max_queued=5, timeout=0.05, retry_after=1)
    release = asyncio.Event()

    async def hold() -> None:
        async with gate.slot():
            await release.wait()

    holder = asyncio.create_task(hold())
    await run_ready_tasks()
    assert gate.inflight == 1
    with pytest.raises(ApiError) as caught:
        async with gate.slot():
            pass
    assert caught.value.status_code == 503
    release.set()
    await holder
    for _ in range(3):  # the permit came back: no wait now
        async with gate.slot():
            assert gate.inflight == 1
    assert gate.waiting == 0


async def test_a_cancelled_waiter_leaks_no_permit() -> None:
    gate = IngestGate(max_inflight=1, max_queued=5, timeout=10, retry_after=1)
    release = asyncio.Event()

    async def hold() -> None:
        async with gate.slot():
            await release.wait()

    holder = asyncio.create_task(hold())
    waiter = asyncio.create_task(hold())
    await run_ready_tasks()
    assert gate.waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    await holder
    async with gate.slot():
        assert gate.inflight == 1
