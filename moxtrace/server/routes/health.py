"""``GET /health`` (the process answers) and ``GET /ready`` (and so does its database)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from moxtrace._version import __version__
from moxtrace.server.envelope import success
from moxtrace.server.errors import unavailable
from moxtrace.server.services import services_of

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the server answers (no API key needed)")
async def health() -> Response:
    """``{"status": "ok"}`` while the process serves requests."""
    return success({"status": "ok", "version": __version__})


@router.get("/ready", summary="Readiness: the database answers (no API key needed)")
async def ready(request: Request) -> Response:
    """``{"status": "ready"}`` when the store answers a query, else 503."""
    services = services_of(request)
    if not await services.store.ping():
        raise unavailable("database not reachable", services.settings.retry_after)
    return success({"status": "ready", "database": services.store.dialect})
