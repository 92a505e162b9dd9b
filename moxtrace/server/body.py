"""Reading a request body within a size limit, decompressing gzip as it streams.

The limit applies both to the bytes on the wire and to the bytes after decompression, and is
checked chunk by chunk: a body (or a gzip bomb) larger than the limit is refused with 413
after at most ``limit + 1`` bytes were held in memory, never read whole first.
"""

from __future__ import annotations

import zlib

from starlette.requests import ClientDisconnect, Request

from moxtrace.server.errors import ApiError, invalid_payload, payload_too_large

__all__ = ["read_body"]

_GZIP = frozenset({"gzip", "x-gzip", "deflate"})
_IDENTITY = frozenset({"", "identity"})
# 32 + 15: accept a gzip or a zlib header (HTTP "deflate" means zlib-wrapped).
_AUTO_WBITS = 32 + zlib.MAX_WBITS


class _Inflater:
    """Incremental gzip/zlib decompression with a cap on the total output."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._total = 0
        self._obj = zlib.decompressobj(_AUTO_WBITS)
        self.parts: list[bytes] = []

    def feed(self, data: bytes) -> None:
        while data:
            out = self._obj.decompress(data, self._limit - self._total + 1)
            self._total += len(out)
            if self._total > self._limit:
                raise payload_too_large(self._limit)
            self.parts.append(out)
            if self._obj.eof:
                # Concatenated gzip members are one valid gzip stream.
                data = self._obj.unused_data
                if data:
                    self._obj = zlib.decompressobj(_AUTO_WBITS)
            else:
                data = self._obj.unconsumed_tail

    def finish(self) -> bytes:
        out = self._obj.flush()
        self._total += len(out)
        if self._total > self._limit:
            raise payload_too_large(self._limit)
        if not self._obj.eof:
            raise invalid_payload("body: truncated gzip stream")
        self.parts.append(out)
        return b"".join(self.parts)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, decompressed per ``Content-Encoding``, at most ``limit`` bytes.

    Raises ``ApiError``: 413 when the body (on the wire or decompressed) exceeds ``limit``,
    415 for an unknown ``Content-Encoding``, 400 for a corrupt gzip stream.
    """
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in _GZIP and encoding not in _IDENTITY:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Encoding {encoding!r} is not supported (use gzip or none)",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise payload_too_large(limit)
    inflater = _Inflater(limit) if encoding in _GZIP else None
    parts: list[bytes] = []
    received = 0
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            received += len(chunk)
            if received > limit:
                raise payload_too_large(limit)
            if inflater is None:
                parts.append(chunk)
            else:
                inflater.feed(chunk)
    except ClientDisconnect:
        raise ApiError(400, "client_disconnected", "the client went away mid-request") from None
    except zlib.error as exc:
        raise invalid_payload(f"body: invalid gzip stream ({exc})") from None
    if inflater is None:
        return b"".join(parts)
    try:
        return inflater.finish()
    except zlib.error as exc:
        raise invalid_payload(f"body: invalid gzip stream ({exc})") from None
