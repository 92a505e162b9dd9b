"""A logger wrapper that says each kind of problem at most once per interval."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

__all__ = ["RateLimitedLogger"]


class RateLimitedLogger:
    """Logs a message for ``key`` at most once per ``interval`` seconds.

    Telemetry problems tend to repeat on every span; the application's log must not
    drown in them. Suppressed repeats are counted and reported with the next message.
    """

    def __init__(self, logger: logging.Logger, interval: float = 60.0) -> None:
        self._logger = logger
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def warning(self, key: str, msg: str, *args: Any) -> None:
        self._log(logging.WARNING, key, msg, args)

    def error(self, key: str, msg: str, *args: Any) -> None:
        self._log(logging.ERROR, key, msg, args)

    def _log(self, level: int, key: str, msg: str, args: tuple[Any, ...]) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            repeats = self._suppressed.pop(key, 0)
        if repeats:
            msg = f"{msg} ({repeats} similar messages suppressed)"
        self._logger.log(level, msg, *args)

    def reset(self) -> None:
        """Forget what was said (for tests)."""
        with self._lock:
            self._last.clear()
            self._suppressed.clear()
