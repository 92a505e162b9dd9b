"""``SyncMoxnClient``: the same surface as ``MoxnClient`` for code without an event loop."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from moxtrace._core import ClientCore
from moxtrace.session.session import PromptSession
from moxtrace.tracing.runtime import FlushResult
from moxtrace.types.content import Provider
from moxtrace.types.telemetry import LLMEvent

__all__ = ["SyncMoxnClient"]


class SyncMoxnClient(ClientCore):
    """The blocking twin of ``MoxnClient``: the same methods, without ``await``.

    >>> with SyncMoxnClient() as client:
    ...     with client.span(session):
    ...         ...
    """

    def log_telemetry_event(self, event: LLMEvent) -> None:
        """Record an LLM call on the active span (or on a short span of its own)."""
        self._record(event)

    def log_telemetry_event_from_response(
        self, prompt_session: PromptSession, response: Any, provider: Provider
    ) -> None:
        """Parse a provider response (SDK object or dict) and record it in one call."""
        self._record_response(prompt_session, response, provider)

    def flush(self, timeout: float | None = None) -> FlushResult:
        """Wait for spans handed over so far to be exported, at most ``timeout`` seconds."""
        return self.tracing.flush(timeout)

    def close(self) -> None:
        """Flush and release everything the client holds. Idempotent."""
        self.tracing.shutdown(None)

    def __enter__(self) -> SyncMoxnClient:
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.close()
