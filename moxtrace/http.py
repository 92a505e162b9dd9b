"""The transport core shared by ``MoxnClient`` and ``SyncMoxnClient``.

Everything about an API call that does not wait is written once, here, as a generator
(``TransportCore.exchange``): building the request (URL, headers, idempotency key, trace
context), the CLIENT span, unwrapping the ``{success, data, error}`` envelope, mapping
errors to ``moxtrace.errors``, the retry policy with its deadline, and debug logging. It
yields two kinds of steps, ``Send`` and ``Sleep``, and is resumed with their outcome; the
two drivers at the bottom (``send_sync``, ``send_async``) are the only code that touches
the network or the clock, and they are a dozen lines each::

    request ─► exchange() ─► Send ─► driver: httpx ─► RawResponse | TransportError ─┐
                  ▲   └────► Sleep ─► driver: sleep ──────────────────────────────────┤
                  └──────────────────────────────────────────────────────────────────-┘
                  └─► returns the envelope's ``data``, or raises a ``MoxnError``

Retries: 408, 429, 5xx (not 501/505) and connection errors, with exponential backoff and
jitter, or exactly the ``Retry-After`` the server sent (seconds or an HTTP date); never past
the deadline over all attempts. ``GET``/``PUT``/``DELETE`` are retried freely; ``POST`` and
``PATCH`` only when the request carries an ``X-Moxn-Idempotency-Key`` (the same on every
attempt). Calls made with OpenTelemetry instrumentation suppressed in the context (the
exporter's worker thread) make no span.
"""

from __future__ import annotations

import logging
import platform
import random
import sys
import time
import urllib.parse
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from moxtrace._version import __version__
from moxtrace.errors import (
    MoxnConnectionError,
    MoxnError,
    MoxnTimeoutError,
    error_for_status,
)
from moxtrace.retry import RetryPolicy, parse_retry_after
from moxtrace.tracing.semconv import (
    ERROR_TYPE,
    HTTP_REQUEST_METHOD,
    HTTP_REQUEST_RESEND_COUNT,
    HTTP_RESPONSE_STATUS_CODE,
    SERVER_ADDRESS,
    SERVER_PORT,
    URL_FULL,
    URL_TEMPLATE,
)

__all__ = [
    "CLIENT_HEADER",
    "IDEMPOTENCY_HEADER",
    "SDK_HEADER",
    "ApiRequest",
    "RawResponse",
    "RetryPolicy",
    "Send",
    "Sleep",
    "TransportCore",
    "parse_retry_after",
    "send_async",
    "send_sync",
]

IDEMPOTENCY_HEADER = "X-Moxn-Idempotency-Key"
SDK_HEADER = "X-Moxn-SDK"
CLIENT_HEADER = "X-Moxn-Client"

_logger = logging.getLogger("moxtrace.http")
_SUPPRESS_INSTRUMENTATION = otel_context._SUPPRESS_INSTRUMENTATION_KEY
_SUPPRESS_HTTP = otel_context._SUPPRESS_HTTP_INSTRUMENTATION_KEY
_LOG_BODY_LIMIT = 2000


# -- requests and steps ------------------------------------------------------------------------
@dataclass(frozen=True)
class ApiRequest:
    """One API call, before it is sent.

    ``route`` is the URL template (``/prompts/{prompt_id}``), filled from ``path_params``;
    it also names the span. ``span_attributes`` (``moxn.prompt.id``...) go on the span.

    >>> ApiRequest("GET", "/prompts/{prompt_id}", {"prompt_id": "p1"}).path
    '/prompts/p1'
    """

    method: str
    route: str
    path_params: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    idempotency_key: str | None = None
    span_attributes: Mapping[str, AttributeValue] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """``route`` with its parameters filled in (each percent-encoded)."""
        if not self.path_params:
            return self.route
        quoted = {k: urllib.parse.quote(str(v), safe="") for k, v in self.path_params.items()}
        return self.route.format(**quoted)


@dataclass(frozen=True)
class Send:
    """Step: send this request and resume with a ``RawResponse`` or the ``httpx`` error."""

    method: str
    url: str
    headers: Mapping[str, str]
    content: bytes | None
    timeout: float
    context: otel_context.Context


@dataclass(frozen=True)
class Sleep:
    """Step: wait ``seconds`` and resume with ``None``."""

    seconds: float


@dataclass(frozen=True)
class RawResponse:
    """What came back: status, headers (lower-case names) and body bytes."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes


Step = Send | Sleep
Outcome = RawResponse | BaseException | None
Exchange = Generator[Step, Outcome, Any]


# -- the core ----------------------------------------------------------------------------------
class TransportCore:
    """Builds, traces, retries and decodes API calls; does no I/O itself.

    Args:
        base_url: the Moxn API, e.g. ``http://127.0.0.1:8700``.
        api_key: sent as ``x-api-key`` (never logged).
        client_name: ``MoxnClient`` or ``SyncMoxnClient``, for ``X-Moxn-Client``.
        timeout: seconds per attempt (never past the deadline).
        policy: the retry policy.
        tracer: where CLIENT spans go (the client's ``TracingRuntime.tracer``).
        debug: log requests and responses at DEBUG on ``moxtrace.http``.
        clock, rand: for tests.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        client_name: str,
        timeout: float = 30.0,
        policy: RetryPolicy | None = None,
        tracer: trace.Tracer | None = None,
        debug: bool = False,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parsed = urllib.parse.urlsplit(self.base_url)
        self._server_address = parsed.hostname or ""
        self._server_port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.tracer = tracer or trace.NoOpTracer()
        self.debug = debug
        self._clock = clock
        self._rand = rand
        headers = {
            "accept": "application/json",
            "user-agent": f"moxtrace/{__version__}",
            SDK_HEADER: f"moxtrace-python/{__version__}",
            CLIENT_HEADER: (
                f"{client_name}; python/{platform.python_version()}; "
                f"{sys.platform}; httpx/{httpx.__version__}"
            ),
        }
        if api_key:
            headers["x-api-key"] = api_key
        self.headers: dict[str, str] = headers
        if debug:
            _enable_debug_logging()

    # -- request building ------------------------------------------------------------------
    def url(self, request: ApiRequest) -> str:
        """The absolute URL of ``request``, with its query string."""
        url = self.base_url + request.path
        if request.params:
            url += "?" + urllib.parse.urlencode(request.params)
        return url

    def _headers(self, request: ApiRequest, ctx: otel_context.Context) -> dict[str, str]:
        headers = dict(self.headers)
        if request.json is not None:
            headers["content-type"] = "application/json"
        if request.idempotency_key:
            headers[IDEMPOTENCY_HEADER] = request.idempotency_key
        propagate.inject(headers, context=ctx)
        return headers

    # -- one call ----------------------------------------------------------------------------
    def exchange(self, request: ApiRequest) -> Exchange:
        """The whole call as steps for a driver; returns the envelope's ``data``.

        Raises the ``MoxnError`` the final outcome maps to.
        """
        traced = not otel_context.get_value(_SUPPRESS_INSTRUMENTATION)
        url = self.url(request)
        span: trace.Span = trace.INVALID_SPAN
        if traced:
            span = self.tracer.start_span(
                f"{request.method} {request.route}",
                kind=SpanKind.CLIENT,
                attributes=self._span_attributes(request, url),
            )
        # Below our CLIENT span, an instrumented httpx would only repeat it.
        ctx = otel_context.set_value(_SUPPRESS_HTTP, True, trace.set_span_in_context(span))
        headers = self._headers(request, ctx)
        content = None if request.json is None else orjson.dumps(request.json, default=str)
        deadline = self._clock() + self.policy.deadline
        resend = self.policy.may_resend(request.method, request.idempotency_key)
        attempt = 0
        error: MoxnError | None = None
        try:
            while True:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    error = MoxnTimeoutError(
                        None,
                        f"{request.method} {url}: no answer within the deadline of "
                        f"{self.policy.deadline:g} s ({attempt} attempts)",
                    )
                    raise error
                if traced and attempt:
                    span.set_attribute(HTTP_REQUEST_RESEND_COUNT, attempt)
                t0 = self._clock()
                self._log_request(request, url, content, attempt)
                outcome = yield Send(
                    request.method, url, headers, content, min(self.timeout, remaining), ctx
                )
                if isinstance(outcome, RawResponse):
                    if traced:
                        span.set_attribute(HTTP_RESPONSE_STATUS_CODE, outcome.status_code)
                    self._log_response(request, url, outcome, self._clock() - t0)
                    try:
                        data = self.decode(request, url, outcome)
                    except MoxnError as exc:
                        error = exc
                    else:
                        return data
                elif isinstance(outcome, BaseException):
                    error = self.connection_error(request, url, outcome)
                    _logger.debug("moxtrace: %s %s failed: %s", request.method, url, error.message)
                else:  # pragma: no cover - a driver bug
                    raise TypeError(f"Send step resumed with {outcome!r}")
                wait = (
                    self.policy.delay(
                        attempt,
                        error.retry_after,
                        deadline - self._clock(),
                        self._rand,
                        retriable=error.retriable,
                    )
                    if resend
                    else None
                )
                if wait is None:
                    raise error
                _logger.debug(
                    "moxtrace: retrying %s %s in %.2f s (%s)", request.method, url, wait, error.code
                )
                if wait > 0:
                    yield Sleep(wait)
                attempt += 1
        except BaseException as exc:
            if traced:
                failure = exc if isinstance(exc, MoxnError) else error
                span.set_status(Status(StatusCode.ERROR, str(failure or exc)))
                span.set_attribute(ERROR_TYPE, _error_type(failure, exc))
            raise
        finally:
            if traced:
                span.end()

    def _span_attributes(self, request: ApiRequest, url: str) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {
            HTTP_REQUEST_METHOD: request.method,
            URL_FULL: url,
            URL_TEMPLATE: request.route,
            SERVER_ADDRESS: self._server_address,
            SERVER_PORT: self._server_port,
        }
        attributes.update(request.span_attributes)
        return attributes

    # -- decoding --------------------------------------------------------------------------
    @staticmethod
    def decode(request: ApiRequest, url: str, response: RawResponse) -> Any:
        """The envelope's ``data`` of a 2xx reply; the mapped ``MoxnError`` otherwise."""
        status = response.status_code
        body: Any = None
        if response.content:
            try:
                body = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                body = None
        if 200 <= status < 300:
            if isinstance(body, dict) and "success" in body:
                if body.get("success") is False:
                    raise _error_from_body(request, url, status, body, response.headers)
                return body.get("data")
            if body is None and response.content:
                raise MoxnError(
                    "invalid_response",
                    f"{request.method} {url}: HTTP {status} with a body that is not JSON",
                    status_code=status,
                    request_id=response.headers.get("x-request-id"),
                )
            return body
        raise _error_from_body(request, url, status, body, response.headers, response.content)

    @staticmethod
    def connection_error(request: ApiRequest, url: str, exc: BaseException) -> MoxnError:
        """The ``MoxnError`` an exception of the HTTP library stands for."""
        name = type(exc).__name__
        text = f"{request.method} {url}: {name}: {exc}".rstrip(": ")
        if isinstance(exc, httpx.TimeoutException):
            return MoxnTimeoutError(None, text)
        if isinstance(exc, httpx.TransportError | OSError):
            return MoxnConnectionError(None, text)
        return MoxnError("client_error", text)

    # -- debug logging -----------------------------------------------------------------------
    def _log_request(
        self, request: ApiRequest, url: str, content: bytes | None, attempt: int
    ) -> None:
        if not self.debug:
            return
        body = "" if content is None else " " + _clip(content)
        retry = f" (retry {attempt})" if attempt else ""
        _logger.debug("moxtrace: -> %s %s%s%s", request.method, url, retry, body)

    def _log_response(
        self, request: ApiRequest, url: str, response: RawResponse, elapsed: float
    ) -> None:
        if not self.debug:
            return
        _logger.debug(
            "moxtrace: <- %s %s %d in %.1f ms %s",
            request.method,
            url,
            response.status_code,
            elapsed * 1e3,
            _clip(response.content),
        )


def _clip(content: bytes) -> str:
    text = content[:_LOG_BODY_LIMIT].decode("utf-8", "replace")
    return text + ("..." if len(content) > _LOG_BODY_LIMIT else "")


def _error_type(error: MoxnError | None, exc: BaseException) -> str:
    if isinstance(exc, GeneratorExit):
        return "cancelled"
    if error is not None and error.status_code is not None:
        return str(error.status_code)
    return type(error or exc).__name__


def _error_from_body(
    request: ApiRequest,
    url: str,
    status: int,
    body: Any,
    headers: Mapping[str, str],
    raw: bytes = b"",
) -> MoxnError:
    code: str | None = None
    message: str | None = None
    details: Any = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code = _str_or_none(error.get("code"))
            message = _str_or_none(error.get("message"))
            details = error.get("details")
        elif isinstance(error, str):
            message = error
        detail = body.get("detail")  # a plain FastAPI/Starlette error
        if message is None and detail is not None:
            message = detail if isinstance(detail, str) else orjson.dumps(detail).decode()
    if message is None:
        text = raw[:300].decode("utf-8", "replace").strip()
        message = text or f"HTTP {status}"
    retry_after = parse_retry_after(headers.get("retry-after"))
    if retry_after is None and isinstance(details, dict):
        value = details.get("retry_after")
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            retry_after = float(value)
    request_id = headers.get("x-request-id")
    if request_id is None and isinstance(details, dict):
        request_id = _str_or_none(details.get("request_id"))
    if status == 401:
        message += " (set MOXN_API_KEY, or pass api_key=)"
    return error_for_status(
        status,
        code,
        f"{request.method} {request.path}: {message}",
        retry_after=retry_after,
        request_id=request_id,
        details=details,
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _enable_debug_logging() -> None:
    """``MOXN_DEBUG=1``: make ``moxtrace.http`` DEBUG lines visible even without logging set up."""
    _logger.setLevel(logging.DEBUG)
    if not _logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        _logger.addHandler(handler)


# -- the two drivers ---------------------------------------------------------------------------
def _raw(response: httpx.Response) -> RawResponse:
    return RawResponse(response.status_code, response.headers, response.content)


def send_sync(http: httpx.Client, exchange: Exchange) -> Any:
    """Run ``exchange`` with a blocking httpx client; return its result."""
    try:
        step = next(exchange)
        while True:
            outcome: Outcome = None
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
            else:
                token = otel_context.attach(step.context)
                try:
                    outcome = _raw(
                        http.request(
                            step.method,
                            step.url,
                            content=step.content,
                            headers=step.headers,
                            timeout=step.timeout,
                        )
                    )
                except httpx.HTTPError as exc:
                    outcome = exc
                finally:
                    otel_context.detach(token)
            step = exchange.send(outcome)
    except StopIteration as done:
        return done.value
    finally:
        exchange.close()


async def send_async(http: httpx.AsyncClient, exchange: Exchange) -> Any:
    """Run ``exchange`` with an async httpx client; return its result."""
    import asyncio

    try:
        step = next(exchange)
        while True:
            outcome: Outcome = None
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
            else:
                token = otel_context.attach(step.context)
                try:
                    outcome = _raw(
                        await http.request(
                            step.method,
                            step.url,
                            content=step.content,
                            headers=step.headers,
                            timeout=step.timeout,
                        )
                    )
                except httpx.HTTPError as exc:
                    outcome = exc
                finally:
                    otel_context.detach(token)
            step = exchange.send(outcome)
    except StopIteration as done:
        return done.value
    finally:
        exchange.close()
