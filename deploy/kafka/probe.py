#!/usr/bin/env python3
"""Readiness probe for a Kafka broker, standard library only.

    python3 deploy/kafka/probe.py 127.0.0.1:9092 [--timeout SECONDS]

Speaks the Kafka wire protocol directly: an ApiVersions request (every broker answers v0) to
learn which Metadata versions it accepts, then a Metadata request for all topics. Exits 0 and
prints the broker count when the broker answers with at least one registered broker; exits 1
otherwise (connection refused, broker still starting, no brokers yet).
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys

API_METADATA = 3
API_VERSIONS = 18
# Metadata v4..v8 share a non-flexible layout; v4 is the oldest one Kafka 4.x still accepts.
METADATA_MIN_NON_FLEXIBLE = 4
METADATA_MAX_NON_FLEXIBLE = 8
CLIENT_ID = b"moxtrace-probe"


class ProbeError(Exception):
    """The broker is not (yet) answering usefully."""


def _request(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    header = struct.pack(">hhih", api_key, version, corr, len(CLIENT_ID)) + CLIENT_ID
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", _read_exact(sock, 4))[0]
    response = _read_exact(sock, size)
    (got_corr,) = struct.unpack_from(">i", response, 0)
    if got_corr != corr:
        raise ProbeError(f"correlation id mismatch: sent {corr}, got {got_corr}")
    return response[4:]


def _read_exact(sock: socket.socket, n: int) -> bytes:
    chunks: list[bytes] = []
    remaining = n
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            raise ProbeError("connection closed by broker")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _metadata_version_range(sock: socket.socket) -> tuple[int, int]:
    body = _request(sock, API_VERSIONS, 0, 1, b"")
    error_code, count = struct.unpack_from(">hi", body, 0)
    offset = 6
    for _ in range(count):
        api_key, lo, hi = struct.unpack_from(">hhh", body, offset)
        offset += 6
        if api_key == API_METADATA:
            return lo, hi
    raise ProbeError(f"broker lists no Metadata API (ApiVersions error code {error_code})")


def broker_count(host: str, port: int, timeout: float = 2.0) -> int:
    """Number of brokers the broker at host:port reports in a Metadata response."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        lo, hi = _metadata_version_range(sock)
        version = max(lo, METADATA_MIN_NON_FLEXIBLE)
        if version > min(hi, METADATA_MAX_NON_FLEXIBLE):
            raise ProbeError(f"no non-flexible Metadata version in the broker's range {lo}..{hi}")
        # topics = null (all topics), allow_auto_topic_creation = false
        body = _request(sock, API_METADATA, version, 2, struct.pack(">ib", -1, 0))
        # throttle_time_ms (v3+), then the brokers array
        (count,) = struct.unpack_from(">i", body, 4)
        return int(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", help="HOST:PORT of the broker listener")
    parser.add_argument("--timeout", type=float, default=2.0, help="socket timeout in seconds")
    args = parser.parse_args(argv)
    host, _, port = str(args.address).rpartition(":")
    try:
        count = broker_count(host or "127.0.0.1", int(port), float(args.timeout))
    except (OSError, ProbeError, struct.error) as exc:
        print(f"not ready: {exc}", file=sys.stderr)
        return 1
    if count < 1:
        print("not ready: no brokers registered yet", file=sys.stderr)
        return 1
    print(f"ready: {count} broker(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
