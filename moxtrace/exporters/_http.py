"""``IngestClient``: one attempt at delivering a batch to the Moxn ingest API.

The routes (docs/wire-format.md):

- ``POST /telemetry/log-events`` with ``{"events": [...]}``: the whole batch in one
  request. A server without it (404/405, the hosted Moxn API) is remembered, and from
  then on each event goes alone to ``POST /telemetry/log-event``.
- an event whose content is over ``content_limit`` bytes of JSON goes alone through
  ``POST /telemetry/log-event-and-get-signed-url`` (with null content), then its
  content through a ``PUT`` to the URL the server returned.

Bodies are JSON, gzip-compressed unless told otherwise. Every request of a batch carries
the batch's idempotency key (parts get keys derived from it). Replies are mapped to the
errors of ``_errors``; nothing here retries or waits. The requests run with
OpenTelemetry instrumentation suppressed in the context, so an instrumented httpx never
traces the exporter's own calls.
"""

from __future__ import annotations

import gzip
import ipaddress
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
from opentelemetry import context as otel_context

from moxtrace._version import __version__
from moxtrace.exporters._batch import EventBatch, Outcome
from moxtrace.exporters._errors import (
    PayloadTooLarge,
    PermanentError,
    RetriableError,
    RouteMissing,
)
from moxtrace.retry import is_retriable_status, parse_retry_after

__all__ = [
    "CONTENT_INLINE_LIMIT",
    "IDEMPOTENCY_HEADER",
    "IngestClient",
    "is_loopback",
    "suppressed",
]

_logger = logging.getLogger("moxtrace.exporters")

CONTENT_INLINE_LIMIT = 10 * 1024
"""Content whose JSON is longer than this (bytes) goes through the signed-URL route."""
IDEMPOTENCY_HEADER = "X-Moxn-Idempotency-Key"
BATCH_ROUTE = "/telemetry/log-events"
EVENT_ROUTE = "/telemetry/log-event"
SIGNED_URL_ROUTE = "/telemetry/log-event-and-get-signed-url"


def is_loopback(url: str) -> bool:
    """Whether ``url``'s host is this machine: ``localhost`` or a loopback address."""
    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=str)


_SUPPRESS_KEYS = (
    otel_context._SUPPRESS_INSTRUMENTATION_KEY,
    otel_context._SUPPRESS_HTTP_INSTRUMENTATION_KEY,
)


@contextmanager
def suppressed() -> Iterator[None]:
    """Run the block with OpenTelemetry instrumentation suppressed (the exporter's own
    HTTP calls must never become spans)."""
    ctx = otel_context.get_current()
    for key in _SUPPRESS_KEYS:
        ctx = otel_context.set_value(key, True, ctx)
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


class IngestClient:
    """Delivers a batch in as few requests as the server allows; one attempt, no retry.

    Args:
        base_url: the Moxn API, e.g. ``http://127.0.0.1:8700``.
        api_key: sent as ``x-api-key``.
        timeout: seconds per request. No request starts after the batch's deadline, but
            one that started before it gets its whole timeout: cutting it short would
            leave a batch the server may have stored counted as dropped.
        compress: gzip request bodies (``Content-Encoding: gzip``).
        content_limit: content JSON larger than this (bytes) goes through the signed URL.
        transport: an httpx transport (tests, custom TLS); default: httpx's own.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float = 10.0,
        compress: bool = True,
        content_limit: int = CONTENT_INLINE_LIMIT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._compress = compress
        self._content_limit = content_limit
        self._transport = transport
        self._headers = {"user-agent": f"moxtrace/{__version__}", "accept": "application/json"}
        # Sent on API requests only, never to a signed URL (which may be another host).
        self._api_key = api_key
        self.batch_route: bool | None = None
        """Whether the server has the batch route: ``None`` until it has answered."""
        self._lock = threading.Lock()
        self._http = self._new_client()
        if hasattr(os, "register_at_fork"):
            ref = weakref.WeakMethod(self._at_fork_in_child)
            os.register_at_fork(after_in_child=lambda: (m := ref()) and m())

    def _new_client(self) -> httpx.Client:
        return httpx.Client(
            transport=self._transport,
            headers=self._headers,
            timeout=self._timeout,
            follow_redirects=False,
        )

    def _at_fork_in_child(self) -> None:
        # The parent's pooled connections are the parent's: a fresh pool for the child.
        self._http = self._new_client()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- one batch -------------------------------------------------------------------
    def send(self, batch: EventBatch, deadline: float) -> Outcome:
        """Deliver every event of ``batch``; raise a ``DeliveryError`` on the first refusal."""
        inline: list[dict[str, Any]] = []
        large: list[tuple[dict[str, Any], bytes]] = []
        for event in batch.events:
            content = event.get("content")
            if content is not None:
                body = _dumps(content)
                if len(body) > self._content_limit:
                    large.append((event, body))
                    continue
            inline.append(event)
        with suppressed():
            if inline:
                self._send_inline(inline, batch.key, deadline)
            for i, (event, body) in enumerate(large):
                self._send_with_signed_url(event, body, f"{batch.key}.c{i}", deadline)
        return Outcome(exported=batch.spans)

    def _send_inline(self, events: list[dict[str, Any]], key: str, deadline: float) -> None:
        if self.batch_route is not False:
            try:
                self._post(BATCH_ROUTE, {"events": events}, key, deadline)
            except RouteMissing:
                if self.batch_route:
                    raise
                _logger.info(
                    "moxtrace: %s has no batch route; sending one event per request",
                    self.base_url,
                )
                self.batch_route = False
            else:
                self.batch_route = True
                return
        for i, event in enumerate(events):
            self._post(EVENT_ROUTE, event, f"{key}.e{i}", deadline)

    def _send_with_signed_url(
        self, event: dict[str, Any], content: bytes, key: str, deadline: float
    ) -> None:
        data = self._post(SIGNED_URL_ROUTE, {**event, "content": None}, key, deadline)
        url = data.get("signed_url") if isinstance(data, Mapping) else None
        if not isinstance(url, str) or not url:
            raise PermanentError(f"{SIGNED_URL_ROUTE} answered without a signed_url")
        # The signed URL authorises itself: the API key is not sent to it.
        response = self._request(
            "PUT",
            url if "://" in url else self.base_url + url,
            content,
            {"content-type": "application/json"},
            deadline,
        )
        _check(response, "PUT of large content")

    # -- HTTP ------------------------------------------------------------------------
    def _post(self, route: str, payload: Any, key: str, deadline: float) -> Any:
        body = _dumps(payload)
        headers = {"content-type": "application/json", IDEMPOTENCY_HEADER: key}
        if self._api_key:
            headers["x-api-key"] = self._api_key
        if self._compress:
            body = gzip.compress(body, compresslevel=1, mtime=0)
            headers["content-encoding"] = "gzip"
        response = self._request("POST", self.base_url + route, body, headers, deadline)
        return _check(response, route)

    def _request(
        self, method: str, url: str, body: bytes, headers: dict[str, str], deadline: float
    ) -> httpx.Response:
        if time.monotonic() >= deadline:
            raise RetriableError("the batch's deadline passed")
        request = self._http.build_request(method, url, content=body, headers=headers)
        try:
            return self._http.send(request)
        except httpx.TransportError as exc:
            raise RetriableError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise PermanentError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc


def _check(response: httpx.Response, what: str) -> Any:
    """The reply's ``data`` if it is a success; else the ``DeliveryError`` it means."""
    status = response.status_code
    if 200 <= status < 300:
        try:
            body = response.json()
        except ValueError:
            return None
        if isinstance(body, Mapping):
            if body.get("success") is False:
                raise PermanentError(f"{what}: {_error_text(body)}", status_code=status)
            return body.get("data")
        return None
    try:
        message = _error_text(response.json())
    except ValueError:
        message = response.text[:200]
    text = f"{what}: HTTP {status}: {message}"
    if status == 413:
        raise PayloadTooLarge(text, status_code=status)
    if status in (404, 405):
        raise RouteMissing(text, status_code=status)
    if is_retriable_status(status):
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        raise RetriableError(text, status_code=status, retry_after=retry_after)
    if status in (401, 403):
        text += " (check MOXN_API_KEY)"
    raise PermanentError(text, status_code=status)


def _error_text(body: Any) -> str:
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return f"{error.get('code')}: {error.get('message')}"
    return str(body)[:200]
