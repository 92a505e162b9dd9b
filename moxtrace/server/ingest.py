"""The ingest path shared by every route: events in, committed, handed to the indexer.

Routes parse their own wire format into validated events and hand them to
``Ingestor.ingest``. It builds the events' rows and their traces' rows (``trace_rows``:
what gives each trace its number, without assembling the spans) and returns only after
the store committed them (acknowledgement means durable); the spans, LLM calls and
metadata are derived and written by the indexer right after, while the client prepares
its next batch (``moxtrace.server.indexer``). Database trouble becomes
503 + ``Retry-After`` (nothing was stored, the client retries), never a 500. CPU-heavy
steps of large batches run in a worker thread so the event loop keeps answering health
checks and small requests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc

from moxtrace.server.assemble import Event, EventRows, WireEvent, committed_rows
from moxtrace.server.errors import ApiError, invalid_payload, unavailable
from moxtrace.server.gcpause import gc_paused
from moxtrace.server.indexer import Indexer
from moxtrace.server.offload import off_loop
from moxtrace.server.store import Store
from moxtrace.server.store.telemetry import EventsWritten

__all__ = ["IngestCounters", "Ingestor", "store_error"]

_log = logging.getLogger("moxtrace.server")


@dataclass
class IngestCounters:
    """What the ingest path did since the server started."""

    requests: int = 0
    events_accepted: int = 0
    events_duplicate: int = 0
    store_unavailable: int = 0


def store_error(exc: Exception, retry_after: int) -> ApiError:
    """The ``ApiError`` for a database error: 503 when retrying may help, else 400."""
    if isinstance(exc, sa_exc.DataError):
        return invalid_payload(f"body: a value cannot be stored ({exc.orig})")
    return unavailable(f"store unavailable: {type(exc).__name__}; retry later", retry_after)


class Ingestor:
    """Writes batches of events for a tenant and publishes what they assembled."""

    def __init__(self, store: Store, indexer: Indexer, retry_after: int) -> None:
        self._store = store
        self._indexer = indexer
        self._retry_after = retry_after
        self.counters = IngestCounters()

    async def ingest(self, tenant: str, events: Sequence[Event | WireEvent]) -> EventsWritten:
        """Store ``events`` all or nothing; durable when this returns (then indexed)."""
        now_us = int(time.time() * 1e6)

        def build() -> EventRows:
            try:
                with gc_paused():
                    return committed_rows(tenant, events, now_us)
            except ValueError as exc:
                raise invalid_payload(f"body: an event cannot be stored ({exc})") from None

        rows = await off_loop(len(events) * 256, build)
        async with self._store_errors(tenant):
            result = await self._store.telemetry.write_events(rows)
        counters = self.counters
        counters.requests += 1
        counters.events_accepted += result.accepted
        counters.events_duplicate += result.duplicates
        if result.pending_id is not None:
            await self._indexer.submit(rows, result.trace_numbers, result.pending_id)
        return result

    async def close(self) -> None:
        """Release what the ingest path holds (nothing here; a queue's producer)."""

    async def put_content(self, tenant: str, storage_key: str, content: str) -> None:
        """Store uploaded content (JSON text) under ``storage_key``; durable on return."""
        async with self._store_errors(tenant):
            await self._store.telemetry.put_content(
                tenant, storage_key, content, int(time.time() * 1e6)
            )

    @asynccontextmanager
    async def _store_errors(self, tenant: str) -> AsyncIterator[None]:
        try:
            yield
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DataError) as exc:
            self.counters.store_unavailable += 1
            _log.warning("store error while ingesting for %s: %s", tenant, exc)
            raise store_error(exc, self._retry_after) from None
        except (sa_exc.TimeoutError, OSError, TimeoutError) as exc:
            self.counters.store_unavailable += 1
            _log.warning("store unreachable while ingesting for %s: %r", tenant, exc)
            raise unavailable("store unavailable; retry later", self._retry_after) from None
