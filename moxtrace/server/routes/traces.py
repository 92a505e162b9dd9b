"""Query routes: ``GET /traces``, ``GET /traces/{trace_id}``, the live tail and ``GET /stats``."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from moxtrace.server.assemble import to_us
from moxtrace.server.broadcast import TooManySubscribers, sse_frame
from moxtrace.server.envelope import success
from moxtrace.server.errors import invalid_payload, not_found, unavailable
from moxtrace.server.services import Services, services_of
from moxtrace.server.store.traces import TraceCursor, TraceFilter

__all__ = ["decode_cursor", "encode_cursor", "router"]

router = APIRouter(tags=["query"])

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_METADATA_PREFIX = "metadata."
_MAX_METADATA_FILTERS = 10


def _instant(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(float(value) * 1_000_000)
    except (ValueError, OverflowError):
        pass
    try:
        return to_us(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except (ValueError, OverflowError):
        raise invalid_payload(
            f"{name}: expected an ISO 8601 time or unix seconds, got {value!r}"
        ) from None


def _uuid(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise invalid_payload(f"{name}: expected a UUID, got {value!r}") from None


def encode_cursor(cursor: TraceCursor) -> str:
    """An opaque page cursor."""
    return base64.urlsafe_b64encode(f"{cursor.start_us}:{cursor.trace_id}".encode()).decode()


def decode_cursor(value: str) -> TraceCursor:
    """The cursor ``encode_cursor`` made; 400 for anything else."""
    try:
        start, _, trace_id = base64.urlsafe_b64decode(value.encode()).decode().partition(":")
        if not _TRACE_ID.fullmatch(trace_id):
            raise ValueError(trace_id)
        return TraceCursor(int(start), trace_id)
    except (ValueError, binascii.Error, UnicodeError):
        raise invalid_payload("cursor: not a cursor this server returned") from None


async def _tenant(request: Request) -> tuple[Services, str]:
    services = services_of(request)
    tenant = await services.auth.authenticate(request)
    await services.settled()
    return services, tenant


@router.get("/traces", summary="List traces, newest first, with filters and a cursor")
async def list_traces(
    request: Request,
    since: Annotated[
        str | None, Query(description="Traces starting at or after (ISO 8601 or unix seconds)")
    ] = None,
    until: Annotated[
        str | None, Query(description="Traces starting before (ISO 8601 or unix seconds)")
    ] = None,
    prompt_id: Annotated[
        str | None, Query(description="Some span of the trace has this prompt id")
    ] = None,
    task_id: Annotated[
        str | None, Query(description="Some span of the trace has this task id")
    ] = None,
    status: Annotated[
        Literal["ok", "error"] | None,
        Query(description="error: some span failed; ok: none did"),
    ] = None,
    service: Annotated[str | None, Query(description="service.name of the trace")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Traces per page")] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> Response:
    """Filter by ``metadata.<key>=<value>`` too (any span's user metadata, repeatable)."""
    services, tenant = await _tenant(request)
    metadata = [
        (key[len(_METADATA_PREFIX) :], value)
        for key, value in request.query_params.multi_items()
        if key.startswith(_METADATA_PREFIX) and len(key) > len(_METADATA_PREFIX)
    ]
    if len(metadata) > _MAX_METADATA_FILTERS:
        raise invalid_payload(f"metadata: at most {_MAX_METADATA_FILTERS} metadata filters")
    filters = TraceFilter(
        since_us=_instant("since", since),
        until_us=_instant("until", until),
        prompt_id=_uuid("prompt_id", prompt_id),
        task_id=_uuid("task_id", task_id),
        status=status,
        service_name=service,
        metadata=metadata,
        limit=limit,
        cursor=decode_cursor(cursor) if cursor else None,
    )
    page = await services.store.traces.list_traces(tenant, filters)
    return success(
        {
            "traces": page.traces,
            "next_cursor": encode_cursor(page.next_cursor) if page.next_cursor else None,
        }
    )


@router.get("/traces/stream", summary="Live tail: server-sent events of newly stored spans")
async def stream(request: Request) -> Response:
    """``event: spans`` per trace and batch stored; ``event: ready`` once subscribed."""
    services = services_of(request)
    tenant = await services.auth.authenticate(request)
    broadcaster = services.broadcaster
    settings = services.settings
    if broadcaster.subscriber_count >= settings.max_subscribers:
        raise unavailable("too many live-tail subscribers", settings.retry_after)

    async def frames() -> AsyncIterator[bytes]:
        try:
            with broadcaster.subscribe(tenant) as subscription:
                yield sse_frame("ready", {"tenant": tenant})
                async for frame in subscription.frames(settings.tail_heartbeat):
                    yield frame
        except TooManySubscribers:
            yield sse_frame("error", {"code": "unavailable", "message": "too many subscribers"})

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/traces/{trace_id}", summary="One trace: its span tree, LLM calls and events")
async def get_trace(
    request: Request,
    trace_id: str,
    offset: Annotated[int, Query(ge=0, description="First span (tree order) to return")] = 0,
    limit: Annotated[
        int | None, Query(ge=1, description="Spans to return (at most --max-trace-spans)")
    ] = None,
) -> Response:
    """404 for an unknown trace, or another tenant's. Big traces come in pages of spans."""
    services, tenant = await _tenant(request)
    trace_id = trace_id.lower()
    if not _TRACE_ID.fullmatch(trace_id):
        raise invalid_payload("trace_id: expected 32 hex digits")
    most = services.settings.max_trace_spans
    if limit is not None and limit > most:
        raise invalid_payload(f"limit: at most {most} spans per page")
    trace = await services.store.traces.get_trace(
        tenant, trace_id, offset=offset, limit=limit or most
    )
    if trace is None:
        raise not_found(f"no trace {trace_id}")
    return success(trace)


@router.get("/stats", summary="What this tenant has stored, the server's load and limits")
async def stats(request: Request) -> Response:
    """Counts of events, spans, traces, LLM calls and uploads for the caller's tenant."""
    services, tenant = await _tenant(request)
    settings = services.settings
    return success(
        {
            "tenant": tenant,
            "stored": await services.store.telemetry.counts(tenant),
            "server": {
                "ingest_inflight": services.gate.inflight,
                "ingest_waiting": services.gate.waiting,
                "index_backlog": services.indexer.backlog,
                "live_tail_subscribers": services.broadcaster.subscriber_count,
            },
            "limits": {
                "max_body_bytes": settings.max_body_bytes,
                "rate_limit": settings.rate_limit,
                "rate_limit_burst": settings.burst if settings.rate_limit else None,
                "max_inflight": settings.max_inflight,
                "max_queued": settings.max_queued,
            },
        }
    )
