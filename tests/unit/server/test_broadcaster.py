"""The live-tail broadcaster: per tenant, bounded, never blocking the publisher."""

from __future__ import annotations

import asyncio
import json

import pytest

from moxtrace.server.broadcast import Broadcaster, TooManySubscribers, sse_frame


def test_sse_frames() -> None:
    assert sse_frame("spans", {"a": 1}, 3) == b'id: 3\nevent: spans\ndata: {"a":1}\n\n'
    assert sse_frame("ready", {"x": float("nan")}) == b'event: ready\ndata: {"x":null}\n\n'


async def drain(frames: object, count: int) -> list[bytes]:
    out = []
    async for frame in frames:  # type: ignore[attr-defined]
        out.append(frame)
        if len(out) == count:
            break
    return out


async def test_subscribers_get_their_tenant_only() -> None:
    hub = Broadcaster(queue_size=10)
    with hub.subscribe("a") as a, hub.subscribe("b") as b:
        assert hub.has_subscribers("a") and not hub.has_subscribers("c")
        hub.publish("a", "spans", {"n": 1})
        hub.publish("c", "spans", {"n": 2})  # nobody listens: nothing happens
        (frame,) = await drain(a.frames(heartbeat=5), 1)
        assert b'"n":1' in frame
        assert not b._frames
    assert hub.subscriber_count == 0


async def test_a_slow_subscriber_loses_the_oldest_and_is_told() -> None:
    hub = Broadcaster(queue_size=3)
    with hub.subscribe("a") as sub:
        for n in range(10):
            hub.publish("a", "spans", {"n": n})
        assert sub.dropped == 7
        frames = await drain(sub.frames(heartbeat=5), 4)
    assert frames[0].startswith(b"event: dropped")
    assert json.loads(frames[0].split(b"data: ")[1]) == {"dropped": 7, "total_dropped": 7}
    assert [json.loads(f.split(b"data: ")[1])["n"] for f in frames[1:]] == [7, 8, 9]


async def test_idle_streams_get_heartbeats_and_close_ends_them() -> None:
    hub = Broadcaster()
    with hub.subscribe("a") as sub:
        frames = sub.frames(heartbeat=0.01)
        assert await anext(frames) == b": keep-alive\n\n"
        hub.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(frames), 5)
    with pytest.raises(TooManySubscribers), hub.subscribe("a"):
        pass


def test_the_number_of_subscribers_is_bounded() -> None:
    hub = Broadcaster(max_subscribers=1)
    with hub.subscribe("a"), pytest.raises(TooManySubscribers), hub.subscribe("b"):
        pass
