"""Reading request bodies within a limit, decompressing as they stream."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable

import pytest
from starlette.requests import Request

from moxtrace.server.body import read_body
from moxtrace.server.errors import ApiError

LIMIT = 1000


def request(chunks: Iterable[bytes], headers: dict[str, str] | None = None) -> Request:
    source = iter(chunks)
    state: dict[str, bytes | None] = {"next": None}

    async def receive() -> dict[str, object]:
        chunk = state["next"] if state["next"] is not None else next(source, b"")
        state["next"] = next(source, None)
        return {"type": "http.request", "body": chunk, "more_body": state["next"] is not None}

    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": "POST", "headers": raw}, receive)


async def test_plain_bodies_up_to_the_limit() -> None:
    assert await read_body(request([b"a" * 600, b"b" * 400]), LIMIT) == b"a" * 600 + b"b" * 400


async def test_413_as_soon_as_the_limit_is_crossed() -> None:
    with pytest.raises(ApiError) as caught:
        await read_body(request([b"a" * 600, b"b" * 401]), LIMIT)
    assert caught.value.status_code == 413
    assert "1000 bytes" in caught.value.message


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    def never() -> Iterable[bytes]:
        raise AssertionError("the body must not be read")
        yield b""  # pragma: no cover

    with pytest.raises(ApiError) as caught:
        await read_body(request(never(), {"content-length": "1001"}), LIMIT)
    assert caught.value.status_code == 413


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate"])
async def test_compressed_bodies(encoding: str) -> None:
    data = b'{"events": []}' * 50
    packed = zlib.compress(data) if encoding == "deflate" else gzip.compress(data)
    chunks = [packed[i : i + 7] for i in range(0, len(packed), 7)]
    assert await read_body(request(chunks, {"content-encoding": encoding}), LIMIT) == data


async def test_concatenated_gzip_members_are_one_stream() -> None:
    packed = gzip.compress(b"abc") + gzip.compress(b"def")
    assert await read_body(request([packed], {"content-encoding": "gzip"}), LIMIT) == b"abcdef"


async def test_a_gzip_bomb_is_stopped_at_the_limit() -> None:
    bomb = gzip.compress(b"\0" * (50 << 20))
    with pytest.raises(ApiError) as caught:
        await read_body(request([bomb[:512], bomb[512:]], {"content-encoding": "gzip"}), 10 * LIMIT)
    assert caught.value.status_code == 413


@pytest.mark.parametrize(
    "body",
    [gzip.compress(b"x" * 100)[:-10], b"not gzip at all", gzip.compress(b"x") + b"garbage", b""],
)
async def test_corrupt_gzip_is_400(body: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        await read_body(request([body], {"content-encoding": "gzip"}), LIMIT)
    assert caught.value.status_code == 400
    assert "gzip" in caught.value.message


async def test_unknown_encodings_are_415() -> None:
    with pytest.raises(ApiError) as caught:
        await read_body(request([b"x"], {"content-encoding": "br"}), LIMIT)
    assert caught.value.status_code == 415
