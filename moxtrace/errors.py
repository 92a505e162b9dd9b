"""The errors the Moxn API clients raise: one tree, rooted at ``MoxnError``::

    MoxnError                  code, message, status_code, retry_after, request_id, details
     ├── MoxnConnectionError   the server could not be reached, or did not answer in time
     │    └── MoxnTimeoutError  no answer within the request timeout (or the retry deadline)
     ├── AuthenticationError   401: no API key, or one the server does not know
     ├── AuthorizationError    403: the key may not do this
     ├── NotFoundError         404: no such prompt, task, branch, commit... for this tenant
     ├── ConflictError         409: e.g. a concurrent commit won (``head_moved``)
     ├── ValidationError       400, 422 (and a ValueError): ``message`` says what to fix
     ├── RateLimitError        429: slow down; ``retry_after`` says for how long
     └── ServerError           5xx: the server failed; usually worth retrying

Any other status is a plain ``MoxnError``. ``retriable`` says whether the same request may
succeed later (408, 429, 5xx, connection errors). Errors of the HTTP library are translated
here, at one boundary (``moxtrace.http``); nothing else escapes the clients.

>>> try:
...     prompt = client.get_prompt(prompt_id, branch_name="main")
... except NotFoundError as exc:
...     print(exc.code, exc.message)
... except RateLimitError as exc:
...     print(f"retry after {exc.retry_after} s")
"""

from __future__ import annotations

from typing import Any

from moxtrace.retry import is_retriable_status

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "ConflictError",
    "MoxnConnectionError",
    "MoxnError",
    "MoxnTimeoutError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "ValidationError",
    "error_for_status",
    "is_retriable_status",
]


class MoxnError(Exception):
    """An error from the Moxn API (or from reaching it).

    Attributes:
        code: machine-readable, e.g. ``"not_found"``, ``"head_moved"``, ``"connection_error"``.
        message: for people; says what went wrong and, where it can, what to do.
        status_code: the HTTP status, or ``None`` when no response arrived.
        retry_after: seconds the server asked to wait (``Retry-After``), if it said.
        request_id: the server's id of the request (``x-request-id``), for support.
        details: the ``details`` member of the error envelope, as the server sent it.

    >>> err = MoxnError("not_found", "no prompt 42", status_code=404)
    >>> str(err)
    'not_found: no prompt 42 (HTTP 404)'
    """

    default_code = "error"

    def __init__(
        self,
        code: str | None,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        details: Any = None,
    ) -> None:
        self.code = code or self.default_code
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after
        self.request_id = request_id
        self.details = details
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"{self.code}: {self.message}"
        if self.status_code is not None:
            text += f" (HTTP {self.status_code})"
        if self.request_id:
            text += f" [request {self.request_id}]"
        return text

    @property
    def retriable(self) -> bool:
        """Whether sending the same request again may succeed."""
        return self.status_code is not None and is_retriable_status(self.status_code)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments: pickle (multiprocessing, Celery) needs help to rebuild.
        return (
            _rebuild,
            (
                type(self),
                self.code,
                self.message,
                self.status_code,
                self.retry_after,
                self.request_id,
                self.details,
            ),
        )


def _rebuild(
    cls: type[MoxnError],
    code: str,
    message: str,
    status_code: int | None,
    retry_after: float | None,
    request_id: str | None,
    details: Any,
) -> MoxnError:
    return cls(
        code,
        message,
        status_code=status_code,
        retry_after=retry_after,
        request_id=request_id,
        details=details,
    )


class MoxnConnectionError(MoxnError):
    """The server could not be reached or the connection broke (no HTTP response).

    Named so as not to shadow Python's builtin ``ConnectionError``.
    """

    default_code = "connection_error"

    @property
    def retriable(self) -> bool:
        return True


class MoxnTimeoutError(MoxnConnectionError):
    """No answer within the request timeout, or the retry deadline ran out."""

    default_code = "timeout"


class AuthenticationError(MoxnError):
    """401: the API key is missing or unknown (set ``MOXN_API_KEY``)."""

    default_code = "unauthorized"


class AuthorizationError(MoxnError):
    """403: the key is valid but may not do this."""

    default_code = "forbidden"


class NotFoundError(MoxnError):
    """404: nothing with that id (or branch, or commit) exists for this tenant."""

    default_code = "not_found"


class ConflictError(MoxnError):
    """409: the request conflicts with the current state (a concurrent commit won)."""

    default_code = "conflict"


class ValidationError(MoxnError, ValueError):
    """400 or 422: the request is malformed; ``message`` names what to fix.

    Also raised, without a status, for arguments the client can tell are wrong before
    sending anything (both ``branch_name`` and ``commit_id``); it is a ``ValueError`` too.
    """

    default_code = "invalid_request"


class RateLimitError(MoxnError):
    """429: too many requests; wait ``retry_after`` seconds."""

    default_code = "rate_limited"


class ServerError(MoxnError):
    """5xx: the server failed or is unavailable."""

    default_code = "server_error"


_BY_STATUS: dict[int, type[MoxnError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: AuthorizationError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
}


def error_for_status(
    status_code: int,
    code: str | None,
    message: str,
    *,
    retry_after: float | None = None,
    request_id: str | None = None,
    details: Any = None,
) -> MoxnError:
    """The ``MoxnError`` subclass for an HTTP error status.

    >>> type(error_for_status(409, "head_moved", "the branch moved")).__name__
    'ConflictError'
    """
    cls = _BY_STATUS.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else MoxnError
    return cls(
        code,
        message,
        status_code=status_code,
        retry_after=retry_after,
        request_id=request_id,
        details=details,
    )
