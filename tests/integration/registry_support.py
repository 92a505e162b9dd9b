"""Helpers of the registry and client integration tests (test_registry_*, test_client_*).

- ``AsyncBridge`` runs a ``MoxnClient`` on an event loop of its own and exposes its
  coroutine methods as plain calls, so one behavioural test body runs against
  ``SyncMoxnClient`` and ``MoxnClient`` alike (the ``make_client`` fixture is parametrized
  over both).
- ``Receiver``: a webhook receiver on 127.0.0.1 that records requests and answers with a
  scripted list of statuses.
- ``FaultProxy``: a real HTTP server on 127.0.0.1 in front of ``moxtrace serve`` that answers
  a scripted list of faults (503 with ``Retry-After``, ...) before forwarding requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from moxtrace import MoxnClient, Settings, SyncMoxnClient
from tests.support.server import MoxtraceServer

__all__ = [
    "AsyncBridge",
    "ClientFactory",
    "FaultProxy",
    "Receiver",
    "RecordedRequest",
    "client_factory",
    "clients",
]


class AsyncBridge:
    """A ``MoxnClient`` driven from synchronous code through a private event loop."""

    def __init__(self, factory: Callable[[], MoxnClient]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="async-bridge", daemon=True
        )
        self._thread.start()
        self.client = factory()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(120)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if inspect.iscoroutinefunction(attr):

            def call(*args: Any, **kwargs: Any) -> Any:
                return self._run(attr(*args, **kwargs))

            return call
        return attr

    def close(self) -> None:
        try:
            self._run(self.client.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


ClientFactory = Callable[..., Any]


def client_factory(kind: str, server_url: str, api_key: str) -> tuple[ClientFactory, list[Any]]:
    """A factory of clients of ``kind`` (``sync``/``async``) for a server, and their list."""
    made: list[Any] = []

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("api_key", api_key)
        kwargs.setdefault("base_url", server_url)
        # Spans are not exported: the tests count the server's requests.
        kwargs.setdefault("settings", Settings(export=False))
        client: Any
        if kind == "sync":
            client = SyncMoxnClient(**kwargs)
        else:
            client = AsyncBridge(lambda: MoxnClient(**kwargs))
        made.append(client)
        return client

    return make, made


@contextlib.contextmanager
def clients(kind: str, server: MoxtraceServer) -> Iterator[ClientFactory]:
    """``make(**kwargs)`` of sync or async (bridged) clients of ``server``; all closed at exit.

    Test modules wrap it in a ``make_client`` fixture parametrized over ``sync``/``async``.
    """
    make, made = client_factory(kind, server.base_url, server.api_key)
    try:
        yield make
    finally:
        for client in made:
            client.close()


# -- a webhook receiver -------------------------------------------------------------------------
@dataclass
class RecordedRequest:
    """A request the receiver (or the proxy) got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 recording POSTs; answers ``statuses`` in turn, then 200."""

    statuses: list[int] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                receiver.requests.append(
                    RecordedRequest(
                        "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
                    )
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/moxn"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- a proxy that injects faults ----------------------------------------------------------------
@dataclass
class Fault:
    """One scripted answer: ``status`` with ``headers`` and an envelope error body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    code: str = "unavailable"


class FaultProxy:
    """Forwards to ``upstream``, but first answers each request with the next ``Fault``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._http = httpx.Client(base_url=upstream, timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                with proxy._lock:
                    proxy.requests.append(RecordedRequest(self.command, self.path, headers, body))
                    fault = proxy.faults.pop(0) if proxy.faults else None
                if fault is not None:
                    payload = (
                        b'{"success":false,"data":null,"error":{"code":"'
                        + fault.code.encode()
                        + b'","message":"injected fault","details":null}}'
                    )
                    self.send_response(fault.status)
                    for name, value in fault.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                forwarded = {
                    k: v for k, v in headers.items() if k not in ("host", "content-length")
                }
                response = proxy._http.request(
                    self.command, self.path, content=body, headers=forwarded
                )
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()
