"""LLM calls already recorded by the provider SDK instrumentation, so none is recorded twice.

With ``moxtrace.instrument()`` active, every SDK call becomes a span by itself. An
application that also calls ``log_telemetry_event_from_response`` with the same response
(code written before it was instrumented) would record the call a second time. The
instrumentation notes each response id it recorded, under the trace the call was made in;
``record_llm_event`` skips an event whose response id is noted for the current trace.

Bounded: the most recent ``CAPACITY`` calls are remembered.
"""

from __future__ import annotations

import threading

__all__ = ["CAPACITY", "clear", "mark_recorded", "was_recorded"]

CAPACITY = 4096

_lock = threading.Lock()
_recorded: dict[tuple[int, str], None] = {}


def mark_recorded(trace_id: int, response_id: str) -> None:
    """Note that the call answered by ``response_id`` was recorded, in trace ``trace_id``
    (0 when the call was made outside any trace)."""
    with _lock:
        _recorded[(trace_id, response_id)] = None
        if len(_recorded) > CAPACITY:
            del _recorded[next(iter(_recorded))]


def was_recorded(trace_id: int, response_id: str | None) -> bool:
    """Whether the instrumentation recorded the call answered by ``response_id`` in trace
    ``trace_id``."""
    if not response_id or not _recorded:
        return False
    return (trace_id, response_id) in _recorded


def clear() -> None:
    """Forget every noted call (``uninstrument()`` does)."""
    with _lock:
        _recorded.clear()
