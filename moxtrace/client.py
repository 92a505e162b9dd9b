"""``MoxnClient``: the async client."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from moxtrace._core import ClientCore
from moxtrace.session.session import PromptSession
from moxtrace.tracing.runtime import FlushResult
from moxtrace.types.content import Provider
from moxtrace.types.telemetry import LLMEvent

__all__ = ["MoxnClient"]


class MoxnClient(ClientCore):
    """The async entry point: prompts, sessions, spans and telemetry.

    Reads ``MOXN_API_KEY`` and ``MOXN_BASE_URL`` from the environment unless given.
    Spans go to a TracerProvider moxtrace owns (or to ``tracer_provider=``); see
    docs/tracing.md.

    >>> async with MoxnClient() as client:
    ...     async with client.span(session) as span:
    ...         ...
    """

    async def log_telemetry_event(self, event: LLMEvent) -> None:
        """Record an LLM call on the active span (or on a short span of its own)."""
        self._record(event)

    async def log_telemetry_event_from_response(
        self, prompt_session: PromptSession, response: Any, provider: Provider
    ) -> None:
        """Parse a provider response (SDK object or dict) and record it in one call."""
        self._record_response(prompt_session, response, provider)

    async def flush(self, timeout: float | None = None) -> FlushResult:
        """Wait for spans handed over so far to be exported, at most ``timeout`` seconds.

        Returns what was still pending; never raises for export failures.
        """
        return await asyncio.to_thread(self.tracing.flush, timeout)

    async def close(self) -> None:
        """Flush and release everything the client holds. Idempotent."""
        await asyncio.to_thread(self.tracing.shutdown, None)

    async def __aenter__(self) -> MoxnClient:
        self._depth += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            await self.close()
