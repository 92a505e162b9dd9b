"""``ApiError``: every error the server answers with, as one exception type.

Routes raise it; one handler (``moxtrace.server.envelope``) turns it into the
``{success: false, data: null, error: {code, message, details}}`` envelope. Errors from
dependencies (pydantic, SQLAlchemy) are translated into it at the route boundary, so no
driver exception ever reaches a client as a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ApiError",
    "forbidden",
    "invalid_payload",
    "not_found",
    "payload_too_large",
    "rate_limited",
    "unauthorized",
    "unavailable",
]


class ApiError(Exception):
    """An HTTP error with a machine-readable ``code`` and a message for people."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The ``error`` member of the envelope."""
        return {"code": self.code, "message": self.message, "details": self.details}


def invalid_payload(message: str, details: Any = None) -> ApiError:
    """400: the body is not what the route takes; ``message`` names the field."""
    return ApiError(400, "invalid_payload", message, details=details)


def unauthorized(message: str = "missing or invalid API key (header x-api-key)") -> ApiError:
    """401: no key, or a key the server does not know."""
    return ApiError(401, "unauthorized", message)


def forbidden(message: str) -> ApiError:
    """403: a signed URL whose signature is wrong or expired."""
    return ApiError(403, "forbidden", message)


def not_found(message: str = "not found") -> ApiError:
    """404: nothing there for this tenant (also what another tenant's data looks like)."""
    return ApiError(404, "not_found", message)


def payload_too_large(limit: int) -> ApiError:
    """413: the body (after decompression) is larger than ``limit`` bytes."""
    return ApiError(
        413,
        "payload_too_large",
        f"request body exceeds the limit of {limit} bytes (after decompression); split the batch",
        details={"max_body_bytes": limit},
    )


def rate_limited(retry_after: int) -> ApiError:
    """429: the tenant's token bucket is empty."""
    return ApiError(
        429,
        "rate_limited",
        f"rate limit exceeded; retry after {retry_after} s",
        details={"retry_after": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def unavailable(message: str, retry_after: int) -> ApiError:
    """503: the store is overloaded or unreachable; nothing was stored."""
    return ApiError(
        503,
        "unavailable",
        message,
        details={"retry_after": retry_after},
        headers={"Retry-After": str(retry_after)},
    )
