"""The trace viewer: static HTML, CSS and JavaScript served by the server at ``/ui``.

Plain files committed in ``static/`` (no build step), served from memory with an ETag.
The pages hold no data and need no key: the viewer asks for an API key, keeps it in the
browser tab's ``sessionStorage`` and calls the JSON API with ``x-api-key`` (the live tail
too, read with ``fetch``, so no key ever goes in a URL). A strict Content-Security-Policy
allows only the viewer's own scripts and styles. See docs/viewer.md.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from moxtrace.server.errors import not_found

__all__ = ["ASSETS", "SECURITY_HEADERS", "router"]

ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "dom.js": "text/javascript; charset=utf-8",
    "list.js": "text/javascript; charset=utf-8",
    "trace.js": "text/javascript; charset=utf-8",
    "waterfall.js": "text/javascript; charset=utf-8",
    "detail.js": "text/javascript; charset=utf-8",
    "conversation.js": "text/javascript; charset=utf-8",
    "prompt.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
"""Every file the viewer serves, with its media type (anything else is 404)."""

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
"""Headers sent with every file of the viewer."""

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class _Asset:
    body: bytes
    media_type: str
    etag: str


@cache
def _asset(name: str) -> _Asset:
    body = resources.files(__package__).joinpath("static").joinpath(name).read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return _Asset(body, ASSETS[name], etag)


def _serve(request: Request, name: str) -> Response:
    if name not in ASSETS:
        raise not_found(f"no viewer file {name!r}")
    asset = _asset(name)
    headers = {**SECURITY_HEADERS, "ETag": asset.etag}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/ui")
async def viewer_redirect() -> Response:
    """``/ui`` → ``/ui/`` (the viewer's relative links need the slash)."""
    return RedirectResponse("ui/", status_code=308)


@router.get("/ui/")
async def viewer_page(request: Request) -> Response:
    """The viewer's single page."""
    return _serve(request, "index.html")


@router.get("/ui/{name}")
async def viewer_file(request: Request, name: str) -> Response:
    """One of the viewer's scripts, styles or images."""
    return _serve(request, name)
