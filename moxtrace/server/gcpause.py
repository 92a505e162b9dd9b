"""Pausing Python's cyclic garbage collector around the CPU-heavy steps of a batch.

Parsing a batch, building its rows and deriving spans allocate tens of thousands of small
objects (dicts, strings, models) that hold no reference cycles: reference counting frees
them all. Yet every 700 allocations the cyclic collector walks the young objects, and every
so often the whole heap, which doubled the CPU time of those steps. Inside ``gc_paused()``
the collector does not run; it resumes when the last paused section ends (sections may
overlap across threads), and catches up on its next allocation-triggered pass. A section
that finds the collector already disabled (by the application) leaves it disabled.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["GC_THRESHOLD", "gc_paused", "raise_gc_threshold"]

GC_THRESHOLD = 50_000
"""Allocations between young-generation collections in a process that ingests (Python's
default is 700). Decoding and validating a batch allocates many short-lived containers,
freed by reference counting; with the default, the cyclic collector ran hundreds of times
per batch and tripled the ingest cost."""

_lock = threading.Lock()
_depth = 0
_resume = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block with the cyclic garbage collector off (reference counting still
    frees memory). Only for work that creates no reference cycles."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()


def raise_gc_threshold() -> None:
    """Set the young generation's threshold to ``GC_THRESHOLD`` (for a process that owns
    its interpreter: the server, the collector)."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, middle, old)
