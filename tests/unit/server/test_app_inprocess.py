"""The application in-process (httpx ASGI transport): envelope, OpenAPI, dev key, schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from moxtrace.cli import build_parser
from moxtrace.server.app import create_app
from moxtrace.server.settings import ServerSettings
from moxtrace.server.store import Store
from moxtrace.server.store.migrations import MIGRATIONS


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    said: list[str] = []
    app = create_app(ServerSettings(data_dir=tmp_path), announce=said.append)
    async with app.router.lifespan_context(app):
        key = (tmp_path / "dev-api-key").read_text().strip()
        assert said == [f"dev API key (tenant 'dev'): {key}  (saved to {tmp_path / 'dev-api-key'})"]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers={"x-api-key": key}
        ) as c:
            yield c


async def test_health_and_envelope(client: httpx.AsyncClient) -> None:
    reply = await client.get("/health")
    assert reply.json() == {
        "success": True,
        "data": {"status": "ok", "version": "0.1.0"},
        "error": None,
    }
    ready = await client.get("/ready")
    assert ready.json()["data"] == {"status": "ready", "database": "sqlite"}


async def test_framework_errors_use_the_envelope(client: httpx.AsyncClient) -> None:
    missing = await client.get("/no/such/route")
    wrong = await client.get("/telemetry/log-events")

    assert missing.status_code == 404
    assert missing.json() == {
        "success": False,
        "data": None,
        "error": {"code": "not_found", "message": "Not Found", "details": None},
    }
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


async def test_openapi_documents_the_ingest_and_query_api(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()

    for path in (
        "/telemetry/log-event",
        "/telemetry/log-events",
        "/telemetry/log-event-and-get-signed-url",
        "/telemetry/content/{storage_key}",
        "/v1/traces",
        "/traces",
        "/traces/stream",
        "/traces/{trace_id}",
        "/stats",
        "/health",
    ):
        assert path in spec["paths"], path
    schemas = spec["components"]["schemas"]
    assert {"TelemetryLogRequest", "LogEventsBody", "TelemetryEventType"} <= set(schemas)
    body = spec["paths"]["/telemetry/log-events"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/LogEventsBody"
    }


async def test_migrations_run_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    first = await Store.open(url)
    await first.close()
    again = await Store.open(url)
    try:
        assert first.schema_version == again.schema_version == MIGRATIONS[-1].version
        assert await again.keys.count() == 0
    finally:
        await again.close()


def test_cli_options_map_to_settings() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["serve", "--max-body-bytes", "2048", "--rate-limit", "2.5", "--port", "0", "--no-dev-key"]
    )
    assert (args.max_body_bytes, args.rate_limit, args.port, args.no_dev_key) == (
        2048,
        2.5,
        0,
        True,
    )
    assert args.func.__name__ == "_cmd_serve"
    fields = {a.dest for a in parser._subparsers._group_actions[0].choices["serve"]._actions}  # type: ignore[union-attr]
    assert fields - {"help", "no_dev_key", "access_log"} <= set(ServerSettings.model_fields)
