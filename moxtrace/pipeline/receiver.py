"""The collector's HTTP listener: health, readiness, counters and an OTLP/HTTP receiver.

``GET /health`` (the process answers), ``GET /ready`` (the Kafka consumer joined its
group and every sink answers; else 503), ``GET /stats`` (counters as JSON) and
``POST /v1/traces`` — OTLP/HTTP traces, protobuf or JSON, gzip allowed, as any
OpenTelemetry SDK or Collector sends them. A request is answered 200 only once every
span in it reached every sink (or was dropped by a plugin): 400 when it cannot be
decoded, 413 over ``max_body_bytes``, 503 + ``Retry-After`` when delivery did not finish
within ``request_timeout`` or the collector is stopping (the sender retries; sinks are
idempotent). Spans are stored under the ``moxtrace-tenant`` request header, else
``--tenant``.

The receiver has no authentication: bind it to loopback or a private network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from google.protobuf import json_format  # type: ignore[import-untyped]
from google.rpc import code_pb2, status_pb2  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from moxtrace.pipeline.collector import Collector
from moxtrace.pipeline.offsets import Ticket
from moxtrace.pipeline.processor import InRecord
from moxtrace.pipeline.topic import CONTENT_TYPE_HEADER, TENANT_HEADER
from moxtrace.server.body import read_body
from moxtrace.server.errors import ApiError

__all__ = ["HttpListener"]

_logger = logging.getLogger("moxtrace.pipeline")
_PROTOBUF = frozenset({"application/x-protobuf", "application/protobuf"})
_JSON = "application/json"
_RETRY_AFTER = "1"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The collector handles SIGTERM itself (and stops this server in order).
        yield


def _status(code: int, grpc_code: int, message: str, json_reply: bool) -> Response:
    status = status_pb2.Status(code=grpc_code, message=message)
    headers = {"Retry-After": _RETRY_AFTER} if code in (429, 503) else None
    if json_reply:
        body = json_format.MessageToJson(status, indent=None).encode()
        return Response(body, code, headers=headers, media_type=_JSON)
    return Response(
        status.SerializeToString(), code, headers=headers, media_type="application/x-protobuf"
    )


class HttpListener:
    """The HTTP side of a collector, served by uvicorn on the collector's event loop."""

    def __init__(
        self,
        collector: Collector,
        host: str,
        port: int,
        *,
        max_body_bytes: int = 8 * 1024 * 1024,
        request_timeout: float = 30.0,
        ready: Callable[[], Awaitable[bool]] | None = None,
        stats: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.collector = collector
        self.host = host
        self.port = port
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self._ready = ready
        self._stats = stats
        self.accepting = True
        self.requests = 0
        self.rejected = 0
        self.app = Starlette(
            routes=[
                Route("/health", self._health, methods=["GET"]),
                Route("/ready", self._ready_route, methods=["GET"]),
                Route("/stats", self._stats_route, methods=["GET"]),
                Route("/v1/traces", self._traces, methods=["POST"]),
            ]
        )
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (the bound port when 0 was asked for)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind the socket (so the port is known at once) and serve in the background."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, lifespan="off", log_level="warning", access_log=False, server_header=False
        )
        self._server = _Server(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]))

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking requests and close the server."""
        self.accepting = False
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            await asyncio.wait_for(task, timeout)
        except asyncio.TimeoutError:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._server = self._task = None

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _ready_route(self, request: Request) -> Response:
        ok = self.accepting and (self._ready is None or await self._ready())
        if ok:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready"}, 503, headers={"Retry-After": _RETRY_AFTER})

    async def _stats_route(self, request: Request) -> Response:
        stats = self._stats() if self._stats is not None else self.collector.stats()
        return JSONResponse(
            {**stats, "http": {"requests": self.requests, "rejected": self.rejected}}
        )

    async def _traces(self, request: Request) -> Response:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        json_reply = media_type == _JSON
        if media_type not in _PROTOBUF and not json_reply:
            return _status(
                415,
                code_pb2.INVALID_ARGUMENT,
                f"Content-Type {media_type or 'missing'!r}: use application/x-protobuf "
                "or application/json",
                json_reply,
            )
        self.requests += 1
        if not self.accepting:
            return _status(503, code_pb2.UNAVAILABLE, "the collector is stopping", json_reply)
        try:
            body = await read_body(request, self.max_body_bytes)
        except ApiError as exc:
            self.rejected += 1
            return _status(exc.status_code, code_pb2.INVALID_ARGUMENT, exc.message, json_reply)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def finished(ticket: Ticket) -> None:
            if not done.done():
                done.set_result(None)

        ticket = Ticket(on_done=finished)
        headers = [(CONTENT_TYPE_HEADER, media_type.encode())]
        tenant = request.headers.get(TENANT_HEADER)
        if tenant is not None:
            headers.append((TENANT_HEADER, tenant.encode()))
        record = InRecord(ticket, "http", body, headers, dead_letters=False)
        # Shielded: a request that times out still has its spans delivered (the client
        # retries after the 503 and the sinks take the repeat as a duplicate).
        submitted = asyncio.ensure_future(self.collector.submit([record]))
        try:
            await asyncio.wait_for(
                asyncio.shield(asyncio.gather(submitted, done)), self.request_timeout
            )
        except asyncio.TimeoutError:
            return _status(
                503,
                code_pb2.UNAVAILABLE,
                f"spans not delivered within {self.request_timeout:g}s; retry",
                json_reply,
            )
        except Exception as exc:  # the collector is stopping
            return _status(503, code_pb2.UNAVAILABLE, f"not accepted: {exc}; retry", json_reply)
        if ticket.dead_letter is not None:
            self.rejected += 1
            return _status(400, code_pb2.INVALID_ARGUMENT, ticket.dead_letter, json_reply)
        response = ExportTraceServiceResponse()
        if json_reply:
            return Response(json_format.MessageToJson(response).encode(), media_type=_JSON)
        return Response(response.SerializeToString(), media_type="application/x-protobuf")
