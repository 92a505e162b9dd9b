"""The ``{success, data, error}`` reply envelope and the handlers that produce it."""

from __future__ import annotations

import logging
from typing import Any

import pydantic_core
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from moxtrace.server.errors import ApiError

__all__ = ["JSONBytesResponse", "failure", "install_error_handlers", "success"]

_log = logging.getLogger("moxtrace.server")

_HTTP_CODES = {
    400: "invalid_payload",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


class JSONBytesResponse(Response):
    """A JSON response serialised by pydantic-core (fast, and handles UUIDs and datetimes)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content)


def success(data: Any, status_code: int = 200) -> JSONBytesResponse:
    """``{"success": true, "data": data, "error": null}``."""
    return JSONBytesResponse({"success": True, "data": data, "error": None}, status_code)


def failure(error: ApiError) -> JSONBytesResponse:
    """``{"success": false, "data": null, "error": {...}}`` with the error's status and headers."""
    return JSONBytesResponse(
        {"success": False, "data": None, "error": error.body()},
        error.status_code,
        headers=error.headers,
    )


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("query", "path", "header")]
    return ".".join(parts) or "request"


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error, including FastAPI's own, with the envelope; never leak a trace."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return failure(exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"field": _field(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
            for e in exc.errors()
        ][:20]
        first = errors[0] if errors else {"field": "request", "message": "invalid"}
        message = f"{first['field']}: {first['message']}"
        return failure(ApiError(400, "invalid_payload", message, details=errors))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "error")
        error = ApiError(exc.status_code, code, str(exc.detail), headers=exc.headers)
        return failure(error)

    async def on_crash(request: Request, exc: Exception) -> Response:
        _log.exception("unhandled error on %s %s", request.method, request.url.path)
        return failure(ApiError(500, "internal", "internal server error"))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)
