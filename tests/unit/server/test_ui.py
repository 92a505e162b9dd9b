"""The trace viewer's files at /ui (in-process): served without a key, with strict headers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from moxtrace.server.app import create_app
from moxtrace.server.settings import ServerSettings
from moxtrace.server.ui import ASSETS

STATIC = Path(__file__).resolve().parents[3] / "moxtrace" / "server" / "ui" / "static"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ServerSettings(data_dir=tmp_path, dev_key=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


def test_every_static_file_is_served_and_nothing_else() -> None:
    assert sorted(ASSETS) == sorted(p.name for p in STATIC.iterdir())


def test_the_page_loads_only_files_it_serves() -> None:
    page = (STATIC / "index.html").read_text()
    linked = set(re.findall(r'(?:src|href)="([\w.]+)"', page))
    imported = {
        name
        for js in STATIC.glob("*.js")
        for name in re.findall(r'from "\./([\w.]+)"', js.read_text())
    }
    assert linked | imported <= set(ASSETS)
    # Data is always put in the page as text, never parsed as HTML.
    code = "".join(js.read_text() for js in STATIC.glob("*.js"))
    assert not re.search(r"\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write", code)


async def test_viewer_is_served_without_a_key(client: httpx.AsyncClient) -> None:
    redirect = await client.get("/ui")
    assert redirect.status_code == 308 and redirect.headers["location"] == "ui/"
    page = await client.get("/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="app.js">' in page.text
    script = await client.get("/ui/app.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "renderTrace" in script.text


async def test_viewer_headers_and_revalidation(client: httpx.AsyncClient) -> None:
    page = await client.get("/ui/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-cache"
    again = await client.get("/ui/", headers={"if-none-match": page.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize("name", ["nope.js", "..%2Fapp.py", "static"])
async def test_unknown_files_are_404(client: httpx.AsyncClient, name: str) -> None:
    reply = await client.get(f"/ui/{name}")
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "not_found"


async def test_viewer_is_not_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert not [path for path in spec["paths"] if path.startswith("/ui")]
