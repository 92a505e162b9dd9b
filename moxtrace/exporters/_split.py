"""``SplitOnTooLarge``: when the server refuses a body as too large (413), send halves.

Halving goes on down to a single event; a single event still refused is dropped and
counted (it can never be delivered). A part that fails for another reason is counted
as dropped too, so the other parts still go through.
"""

from __future__ import annotations

import logging

from moxtrace._ratelimit import RateLimitedLogger
from moxtrace.exporters._batch import EventBatch, Outcome
from moxtrace.exporters._errors import DeliveryError, PayloadTooLarge
from moxtrace.exporters._retry import BatchSender

__all__ = ["SplitOnTooLarge"]

_logger = logging.getLogger("moxtrace.exporters")
_warn = RateLimitedLogger(_logger)


class SplitOnTooLarge:
    """Sends through ``inner``; on ``PayloadTooLarge`` sends each half, recursively."""

    def __init__(self, inner: BatchSender) -> None:
        self._inner = inner

    def send(self, batch: EventBatch, deadline: float) -> Outcome:
        try:
            return self._inner.send(batch, deadline)
        except PayloadTooLarge as exc:
            if len(batch.events) < 2:
                event = batch.events[0] if batch.events else {}
                _warn.warning(
                    "event-too-large",
                    "moxtrace: dropped a %s event of span %s: the server refuses it as too "
                    "large even alone (%s)",
                    event.get("event_type"),
                    event.get("span_id"),
                    exc,
                )
                return Outcome(dropped=batch.spans)
            first, second = batch.halves()
            _logger.debug("moxtrace: batch %s too large; sending it in halves", batch.key)
            a = self._part(first, deadline)
            b = self._part(second, deadline)
            # Halves of one span: the span is only as delivered as its worse half.
            return a.worst(b) if batch.spans == 1 else a + b

    def _part(self, part: EventBatch, deadline: float) -> Outcome:
        try:
            return self.send(part, deadline)
        except DeliveryError as exc:
            _warn.warning(
                "split-part-failed",
                "moxtrace: part of a split batch could not be delivered: %s",
                exc,
            )
            return Outcome(dropped=part.spans)
