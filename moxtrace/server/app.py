"""``create_app``: the ASGI application of ``moxtrace serve``.

The store is opened (and migrated) in the app's lifespan, so the app also runs under any
ASGI server: ``uvicorn --factory moxtrace.server.app:create_app`` reads its settings from
``MOXN_SERVER_*``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from moxtrace._version import __version__
from moxtrace.server.envelope import install_error_handlers
from moxtrace.server.payloads import LogEventsBody
from moxtrace.server.registry import Registry
from moxtrace.server.routes import ROUTERS
from moxtrace.server.services import Services, ensure_dev_key
from moxtrace.server.settings import ServerSettings
from moxtrace.server.store import Store
from moxtrace.types.telemetry import TelemetryLogRequest

__all__ = ["create_app"]

_log = logging.getLogger("moxtrace.server")

_DESCRIPTION = """The Moxn platform API, local: ingest (Moxn wire format and OTLP/HTTP), trace
queries and a live tail. Every route but /health and /ready needs `x-api-key:
moxn_<tenant>.<secret>`. Replies are `{success, data, error}` (OTLP replies excepted).
See docs/ingest-api.md."""


def _install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=_DESCRIPTION, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (TelemetryLogRequest, LogEventsBody):
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(model_schema.pop("$defs", {}))
            components[model.__name__] = model_schema
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]


def create_app(
    settings: ServerSettings | None = None,
    *,
    announce: Callable[[str], None] | None = None,
) -> FastAPI:
    """The server application; ``announce`` receives the lines a person should see (dev key).

    >>> app = create_app(ServerSettings(data_dir="/tmp/moxtrace-demo"))
    """
    settings = settings if settings is not None else ServerSettings()
    say = announce if announce is not None else _log.warning

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await Store.open(
            settings.resolved_database_url(),
            sqlite_synchronous=settings.sqlite_synchronous,
            pool_size=settings.db_pool_size,
        )
        try:
            if settings.dev_key:
                await ensure_dev_key(settings, store, say)
            services = await Services.start(settings, store)
        except BaseException:
            await store.close()
            raise
        app.state.services = services
        app.state.registry = Registry.start(store, settings.retry_after)
        try:
            yield
        finally:
            await app.state.registry.close()
            await services.close()

    app = FastAPI(
        title="moxtrace",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    _install_openapi(app)
    return app
