"""Start Arize Phoenix with its OTLP/gRPC listener bound to loopback.

Run with the Phoenix virtualenv's interpreter (see install.sh):

    PHOENIX_HOST=127.0.0.1 PHOENIX_PORT=6006 PHOENIX_GRPC_PORT=4317 \\
    PHOENIX_WORKING_DIR=/tmp/phoenix \\
        ~/.cache/moxtrace/phoenix-venv/bin/python deploy/phoenix/serve.py

Phoenix binds its HTTP server (UI, REST API, OTLP/HTTP at /v1/traces) to PHOENIX_HOST, but its
OTLP/gRPC server to "[::]:PHOENIX_GRPC_PORT" -- every interface -- with no setting to change
that (arize-phoenix 20.x). This launcher rewrites that wildcard to PHOENIX_GRPC_HOST (default:
PHOENIX_HOST, else 127.0.0.1) by wrapping grpc.aio's Server.add_{insecure,secure}_port, then
runs `phoenix serve` unchanged. Any extra arguments are passed to `phoenix serve`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from grpc.aio import _server as grpc_aio_server

WILDCARDS = ("[::]:", "0.0.0.0:")


def _loopback_host() -> str:
    host = os.environ.get("PHOENIX_GRPC_HOST") or os.environ.get("PHOENIX_HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]"):
        raise SystemExit(f"refusing to bind Phoenix's gRPC listener to wildcard host {host!r}")
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _rebind(address: str) -> str:
    for wildcard in WILDCARDS:
        if address.startswith(wildcard):
            return f"{_loopback_host()}:{address[len(wildcard) :]}"
    return address


def _patch_grpc() -> None:
    server_cls: Any = grpc_aio_server.Server
    insecure = server_cls.add_insecure_port
    secure = server_cls.add_secure_port

    def add_insecure_port(self: Any, address: str) -> int:
        return int(insecure(self, _rebind(address)))

    def add_secure_port(self: Any, address: str, server_credentials: Any) -> int:
        return int(secure(self, _rebind(address), server_credentials))

    server_cls.add_insecure_port = add_insecure_port
    server_cls.add_secure_port = add_secure_port


def main() -> None:
    _patch_grpc()
    from phoenix.server.main import main as phoenix_main

    sys.argv = ["phoenix", "serve", *sys.argv[1:]]
    phoenix_main()


if __name__ == "__main__":
    main()
