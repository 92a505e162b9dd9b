"""``Sink``: the interface every destination of the collector implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from moxtrace.pipeline.processor import Unit

__all__ = ["Sink", "SinkCounters", "SinkUnavailable"]


class SinkUnavailable(Exception):
    """The destination cannot take the spans now; the collector retries the batch."""


@dataclass
class SinkCounters:
    """What a sink did since it started."""

    batches: int = 0
    spans: int = 0
    """Spans delivered (a redelivered span counts again)."""
    failures: int = 0
    """Writes that raised ``SinkUnavailable`` (each retried)."""
    rejected: int = 0
    """Spans the destination refused for good (logged and skipped)."""
    duplicates: int = 0
    """Events the destination already had (redeliveries; store sink only)."""

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict (for ``/stats``)."""
        return asdict(self)


class Sink:
    """A destination: ``start``, ``write`` batches, ``close``; ``name`` says which."""

    name: str = "sink"

    def __init__(self) -> None:
        self.counters = SinkCounters()

    async def start(self) -> None:
        """Connect (open the store, build the exporter)."""

    async def write(self, units: Sequence[Unit]) -> None:
        """Deliver the spans of ``units``; return once the destination has them.

        Raises ``SinkUnavailable`` when they could not be delivered now.
        """
        raise NotImplementedError

    async def ready(self) -> bool:
        """Whether the destination answers (for ``/ready``)."""
        return True

    async def close(self) -> None:
        """Release connections and threads (after the last ``write``)."""
