"""How the exporter's wrappers tell each other that a batch was not delivered.

These never reach the application: ``MoxnSpanExporter`` turns them into counters, a
rate-limited log line and a ``SpanExportResult``. The tree::

    DeliveryError             a batch (or a part of it) was not delivered
     ├── RetriableError       408, 429, 5xx, connection errors: the same batch may pass later
     ├── PayloadTooLarge      413: smaller batches may pass
     └── PermanentError       any other refusal: sending it again will not help
          └── RouteMissing    404/405 on a route the server does not have
"""

from __future__ import annotations

__all__ = [
    "DeliveryError",
    "PayloadTooLarge",
    "PermanentError",
    "RetriableError",
    "RouteMissing",
]


class DeliveryError(Exception):
    """A batch was not delivered. ``retriable`` says whether sending it again may help."""

    retriable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after
        """Seconds the server asked us to wait (``Retry-After``), if it said."""


class RetriableError(DeliveryError):
    """The server was unreachable, overloaded or failing: try again later."""

    retriable = True


class PayloadTooLarge(DeliveryError):
    """The server refused the body as too large (413): send it in smaller parts."""


class PermanentError(DeliveryError):
    """The server refused the batch for good (bad key, invalid payload)."""


class RouteMissing(PermanentError):
    """The server has no such route (404/405): e.g. the hosted API has no batch route."""
