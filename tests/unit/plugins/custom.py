"""A plugin of the kind docs/plugins.md shows how to write, loaded by import path."""

from __future__ import annotations

from typing import Any, ClassVar

from opentelemetry.sdk.trace import ReadableSpan
from pydantic import BaseModel, ConfigDict

from moxtrace.pipeline import CollectorPlugin
from moxtrace.pipeline.config import parse_options


class DropRoutesOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    routes: list[str] = ["/health", "/ready"]


class DropRoutes(CollectorPlugin):
    """Drops the spans of HTTP requests to the given routes."""

    name: ClassVar[str] = "drop_routes"

    def __init__(self, **options: Any) -> None:
        self.options = parse_options(self.name, DropRoutesOptions, options)

    def process(self, spans: list[ReadableSpan]) -> list[ReadableSpan]:
        routes = self.options.routes
        return [s for s in spans if (s.attributes or {}).get("http.route") not in routes]


NOT_A_PLUGIN = object()
