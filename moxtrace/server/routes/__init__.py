"""HTTP routes, one module per area; ``ROUTERS`` lists them in mounting order."""

from __future__ import annotations

from fastapi import APIRouter

from moxtrace.server.registry.routes import router as registry_router
from moxtrace.server.routes import health, otlp, telemetry, traces
from moxtrace.server.ui import router as ui_router

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    telemetry.router,
    otlp.router,
    traces.router,
    registry_router,
    ui_router,
)
"""Every router of the server."""
