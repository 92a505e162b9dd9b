"""``StoreSink``: spans into the server's store (SQLite or PostgreSQL), idempotently.

The same path as ``moxtrace serve``'s ingest: each span becomes its Moxn events
(``span_to_wire``, or the events it was rebuilt from when no plugin changed it), the
events are committed (``Ingestor``), then the spans, LLM calls and traces derived from
them are written by an ``Indexer`` behind the acknowledgement. Storage is idempotent —
an event is identified by ``(tenant, trace_id, span_id, event_type, sequence_number)`` —
so a redelivered span stores nothing twice (counted in ``duplicates``).

Several collectors (and ``moxtrace serve``) share one PostgreSQL database; a batch whose
derived rows a killed collector never wrote is replayed by any running collector's
indexer sweep (``sweep_interval``) or by the next one to start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import orjson
from opentelemetry.sdk.trace import ReadableSpan

from moxtrace._ratelimit import RateLimitedLogger
from moxtrace.exporters.events import (
    WIRE_CONTENT_KEY_ATTRIBUTE,
    WIRE_EVENT_ATTRIBUTE,
    WIRE_EVENT_NAME,
    WIRE_PARTIAL_ATTRIBUTE,
    span_to_wire,
)
from moxtrace.pipeline.processor import Unit
from moxtrace.pipeline.sinks.base import Sink, SinkUnavailable
from moxtrace.server.assemble import WireEvent
from moxtrace.server.broadcast import Broadcaster
from moxtrace.server.errors import ApiError
from moxtrace.server.indexer import Indexer
from moxtrace.server.ingest import Ingestor
from moxtrace.server.payloads import validate_events
from moxtrace.server.store import Store
from moxtrace.server.store.engine import describe_url

__all__ = ["StoreSink", "stored_events"]

_logger = logging.getLogger("moxtrace.pipeline")
_warn = RateLimitedLogger(_logger)
_RESERVED = (WIRE_PARTIAL_ATTRIBUTE, WIRE_CONTENT_KEY_ATTRIBUTE)
_ENDS = frozenset({"span_end", "span_error"})


def stored_events(span: ReadableSpan) -> list[dict[str, Any]]:
    """The events to store for ``span``: ``span_to_wire``, minus what ``wire_to_span``
    marked as never received (a partial span's missing start or end), with uploaded
    content's storage key restored and kept events (``WIRE_EVENT_NAME``) unfolded."""
    wire = span_to_wire(span)
    attrs = span.attributes or {}
    partial = attrs.get(WIRE_PARTIAL_ATTRIBUTE)
    received = set(str(partial).split(",")) if partial is not None else None
    storage_key = attrs.get(WIRE_CONTENT_KEY_ATTRIBUTE)
    out: list[dict[str, Any]] = []
    for event in wire:
        event_type = event["event_type"]
        if received is not None and not (
            event_type in received or (event_type in _ENDS and received & _ENDS)
        ):
            continue
        meta = event["system_metadata"]
        if event_type == "span_start":
            for name in _RESERVED:
                meta["attributes"].pop(name, None)
        elif event_type == "llm_call":
            if isinstance(storage_key, str) and storage_key and event["content"] is None:
                event["content_stored"] = True
                event["content_storage_key"] = storage_key
        else:
            meta["events"] = [e for e in meta["events"] if e["name"] != WIRE_EVENT_NAME]
        out.append(event)
    for kept in span.events:
        if kept.name != WIRE_EVENT_NAME:
            continue
        raw = (kept.attributes or {}).get(WIRE_EVENT_ATTRIBUTE)
        try:
            decoded = orjson.loads(raw) if isinstance(raw, str) else None
        except orjson.JSONDecodeError:
            decoded = None
        if isinstance(decoded, dict):
            out.append(decoded)
        else:
            _warn.warning("kept-event", "moxtrace collector: a kept event is no longer JSON")
    return out


def _events(units: Sequence[Unit]) -> tuple[list[WireEvent], list[tuple[Unit, str]]]:
    events: list[WireEvent] = []
    refused: list[tuple[Unit, str]] = []
    for unit in units:
        if unit.wire is not None:
            events.extend(unit.wire)
            continue
        try:
            events.extend(validate_events(stored_events(unit.span)))
        except ApiError as exc:
            refused.append((unit, exc.message))
        except ValueError as exc:
            refused.append((unit, str(exc)))
    return events, refused


class StoreSink(Sink):
    """Spans into a moxtrace store, through the server's ingest path.

    >>> sink = StoreSink("postgresql+asyncpg://moxtrace@db/moxtrace")
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        sweep_interval: float = 30.0,
        sqlite_synchronous: str = "full",
    ) -> None:
        super().__init__()
        self.url = url
        self.name = f"store:{describe_url(url)}"
        self._pool_size = pool_size
        self._sweep_interval = sweep_interval
        self._sqlite_synchronous = sqlite_synchronous
        self._store: Store | None = None
        self._indexer: Indexer | None = None
        self._ingestor: Ingestor | None = None

    async def start(self) -> None:
        """Open (and migrate) the store and start the indexer; ``SinkUnavailable`` when
        the database cannot be reached."""
        try:
            store = await Store.open(
                self.url, sqlite_synchronous=self._sqlite_synchronous, pool_size=self._pool_size
            )
        except (OSError, ValueError) as exc:
            raise SinkUnavailable(f"{self.name}: {exc}") from exc
        except Exception as exc:  # driver errors: SQLAlchemy's, asyncpg's
            raise SinkUnavailable(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        # Nobody tails a collector: a broadcaster without subscribers builds no messages.
        indexer = Indexer(store, Broadcaster(1, 1), sweep_interval=self._sweep_interval)
        indexer.start()
        self._store, self._indexer = store, indexer
        self._ingestor = Ingestor(store, indexer, retry_after=1)

    @property
    def indexer(self) -> Indexer | None:
        """The indexer (its ``backlog``, ``failed`` and ``replayed`` counters)."""
        return self._indexer

    async def write(self, units: Sequence[Unit]) -> None:
        """Commit the events of ``units`` (per tenant, each tenant's batch all or nothing)."""
        ingestor = self._ingestor
        if ingestor is None:
            raise SinkUnavailable(f"{self.name}: not started")
        by_tenant: dict[str, list[Unit]] = {}
        for unit in units:
            by_tenant.setdefault(unit.tenant, []).append(unit)
        for tenant, group in by_tenant.items():
            events = await self._encode(group)
            if not events:
                continue
            try:
                result = await ingestor.ingest(tenant, events)
            except ApiError as exc:
                if exc.status_code != 400:
                    raise SinkUnavailable(f"{self.name}: {exc.message}") from None
                await self._one_by_one(ingestor, tenant, group)
                continue
            except Exception as exc:
                raise SinkUnavailable(f"{self.name}: {type(exc).__name__}: {exc}") from exc
            self.counters.duplicates += result.duplicates
            self.counters.spans += len(group)
        self.counters.batches += 1

    async def _one_by_one(self, ingestor: Ingestor, tenant: str, units: list[Unit]) -> None:
        # The store refused the batch: find the spans it refuses and store the rest.
        for unit in units:
            events = await self._encode([unit])
            if not events:
                continue
            try:
                result = await ingestor.ingest(tenant, events)
            except ApiError as exc:
                if exc.status_code != 400:
                    raise SinkUnavailable(f"{self.name}: {exc.message}") from None
                self._reject(unit, exc.message)
                continue
            self.counters.duplicates += result.duplicates
            self.counters.spans += 1

    async def _encode(self, units: Sequence[Unit]) -> list[WireEvent]:
        if all(unit.wire is not None for unit in units):
            # Stored as sent: nothing to encode, no thread hop.
            return [event for unit in units for event in unit.wire or ()]
        events, refused = await asyncio.to_thread(_events, units)
        for unit, why in refused:
            self._reject(unit, why)
        return events

    def _reject(self, unit: Unit, why: str) -> None:
        self.counters.rejected += 1
        trace_id, span_id = unit.ids()
        _warn.warning(
            "store-rejected",
            "moxtrace collector: the store refused span %s of trace %s: %s",
            span_id,
            trace_id,
            why,
        )

    async def ready(self) -> bool:
        """Whether the database answers."""
        return self._store is not None and await self._store.ping()

    async def close(self) -> None:
        """Index what is queued, then close the store."""
        indexer, store = self._indexer, self._store
        self._indexer = self._store = self._ingestor = None
        try:
            if indexer is not None:
                await indexer.close(timeout=10.0)
        finally:
            if store is not None:
                await store.close()

    def __repr__(self) -> str:
        return f"StoreSink({describe_url(self.url)!r}, opened={self._store is not None})"
