"""Limits of a real ``moxtrace serve``: body size (413, gzip bombs), rate (429), overload (503).

Each test starts its own server with the limit under test (command-line options).
"""

from __future__ import annotations

import gzip
import json
import socket
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.server import (
    MoxtraceServer,
    new_span_id,
    new_trace_id,
    poll,
    span_events,
)

pytestmark = pytest.mark.integration

Factory = Callable[..., MoxtraceServer]
LIMIT = 4096


def batch(spans: int = 1) -> dict[str, Any]:
    trace_id = new_trace_id()
    return {"events": [e for _ in range(spans) for e in span_events(trace_id, new_span_id())]}


def stored(server: MoxtraceServer) -> dict[str, int]:
    reply = httpx.get(f"{server.base_url}/stats", headers=server.headers)
    counts: dict[str, int] = reply.json()["data"]["stored"]
    return counts


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_body_over_the_limit_is_413_stating_the_limit(
    moxtrace_server_factory: Factory, database: str
) -> None:
    server = moxtrace_server_factory(database, max_body_bytes=LIMIT)
    big = batch(spans=20)
    body = json.dumps(big).encode()
    assert len(body) > LIMIT
    small = batch(spans=1)

    too_large = httpx.post(
        f"{server.base_url}/telemetry/log-events",
        content=body,
        headers={**server.headers, "content-type": "application/json"},
    )
    fits = httpx.post(f"{server.base_url}/telemetry/log-events", json=small, headers=server.headers)

    assert too_large.status_code == 413
    error = too_large.json()["error"]
    assert error["code"] == "payload_too_large"
    assert f"{LIMIT} bytes" in error["message"]
    assert error["details"] == {"max_body_bytes": LIMIT}
    assert fits.status_code == 200
    assert stored(server)["events"] == len(small["events"])


def test_the_limit_applies_after_decompression_and_while_streaming(
    moxtrace_server_factory: Factory,
) -> None:
    server = moxtrace_server_factory(max_body_bytes=LIMIT)
    url = f"{server.base_url}/telemetry/log-events"
    headers = {**server.headers, "content-type": "application/json"}
    # A gzip bomb: 64 MB of zeros in a few kilobytes, inside a JSON string.
    bomb = gzip.compress(b'{"events": [], "x": "' + b"0" * (64 << 20) + b'"}')
    assert len(bomb) < LIMIT * 30

    def chunks() -> Any:  # no Content-Length: the server counts as it reads
        for _ in range(100):
            yield b" " * 1024

    replies = [
        httpx.post(url, content=bomb, headers={**headers, "content-encoding": "gzip"}),
        httpx.post(
            url,
            content=zlib.compress(b" " * (LIMIT * 4)),
            headers={**headers, "content-encoding": "deflate"},
        ),
        httpx.post(url, content=chunks(), headers=headers),
    ]

    for reply in replies:
        assert reply.status_code == 413, reply.text
        assert reply.json()["error"]["code"] == "payload_too_large"
    assert stored(server)["events"] == 0


def test_bad_encodings_are_refused(moxtrace_server_factory: Factory) -> None:
    server = moxtrace_server_factory()
    url = f"{server.base_url}/telemetry/log-events"
    body = json.dumps(batch()).encode()

    corrupt = httpx.post(
        url, content=b"\x1f\x8b" + body, headers={**server.headers, "content-encoding": "gzip"}
    )
    truncated = httpx.post(
        url,
        content=gzip.compress(body)[:-12],
        headers={**server.headers, "content-encoding": "gzip"},
    )
    unknown = httpx.post(url, content=body, headers={**server.headers, "content-encoding": "br"})

    assert corrupt.status_code == 400
    assert "gzip" in corrupt.json()["error"]["message"]
    assert truncated.status_code == 400
    assert unknown.status_code == 415
    assert unknown.json()["error"]["code"] == "unsupported_media_type"
    assert stored(server)["events"] == 0


def test_over_the_rate_a_tenant_gets_429_with_retry_after(moxtrace_server_factory: Factory) -> None:
    server = moxtrace_server_factory(rate_limit=0.5, rate_limit_burst=2)
    other = server.create_key("patient")
    url = f"{server.base_url}/telemetry/log-events"

    replies = [httpx.post(url, json=batch(), headers=server.headers) for _ in range(3)]
    others = httpx.post(url, json=batch(), headers={"x-api-key": other})
    query = httpx.get(f"{server.base_url}/traces", headers=server.headers)

    assert [r.status_code for r in replies] == [200, 200, 429]
    limited = replies[2]
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 2
    assert limited.json()["error"]["details"]["retry_after"] == int(limited.headers["retry-after"])
    assert others.status_code == 200  # buckets are per tenant
    assert query.status_code == 200  # queries are not rate limited
    assert stored(server)["events"] == 2 * 2


def test_a_saturated_server_answers_503_with_retry_after(moxtrace_server_factory: Factory) -> None:
    server = moxtrace_server_factory(max_inflight=1, max_queued=0, retry_after=2)
    body = json.dumps(batch()).encode()
    # A client that sends its headers and half of its body, then waits: it holds the only slot.
    slow = socket.create_connection((server.host, server.port), timeout=10)
    try:
        head = (
            f"POST /telemetry/log-events HTTP/1.1\r\nHost: {server.host}\r\n"
            f"x-api-key: {server.api_key}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode()
        slow.sendall(head + body[: len(body) // 2])

        def busy() -> bool:
            reply = httpx.get(f"{server.base_url}/stats", headers=server.headers)
            return bool(reply.json()["data"]["server"]["ingest_inflight"] == 1)

        poll(busy, timeout=10, what="the slow request holds the ingest slot")

        refused = httpx.post(
            f"{server.base_url}/telemetry/log-events", json=batch(), headers=server.headers
        )

        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "2"
        assert refused.json()["error"]["code"] == "unavailable"
        slow.sendall(body[len(body) // 2 :])
        answer = slow.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200"), answer
    finally:
        slow.close()
    assert stored(server)["events"] == 2
