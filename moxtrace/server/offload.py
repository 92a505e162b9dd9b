"""Running CPU-heavy steps of large requests in a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread

__all__ = ["OFF_LOOP_BYTES", "off_loop"]

_T = TypeVar("_T")

OFF_LOOP_BYTES = 64 * 1024
"""Work on more than this many bytes (or items x 256) runs in a worker thread."""


async def off_loop(size: int, func: Callable[[], _T]) -> _T:
    """``func()``, in a worker thread when ``size`` makes it worth the hop.

    The GIL still serialises Python code, but the event loop gets its turn every few
    milliseconds, so health checks and small requests are answered while a big batch is
    parsed.
    """
    if size < OFF_LOOP_BYTES:
        return func()
    return await anyio.to_thread.run_sync(func)
