"""``moxtrace serve``: the Moxn platform API, local (ingest, trace queries, live tail).

Needs the ``server`` extra (``pip install 'moxtrace[server]'``). The names below are
imported on first use, so ``moxtrace.server.tail`` (a client) works without FastAPI.

>>> from moxtrace.server import ServerSettings, create_app
>>> app = create_app(ServerSettings(data_dir="/tmp/moxtrace"))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moxtrace.server.app import create_app
    from moxtrace.server.serve import serve
    from moxtrace.server.settings import ServerSettings
    from moxtrace.server.store import Store

__all__ = ["ServerSettings", "Store", "create_app", "serve"]

_HOMES = {
    "create_app": "moxtrace.server.app",
    "serve": "moxtrace.server.serve",
    "ServerSettings": "moxtrace.server.settings",
    "Store": "moxtrace.server.store",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
