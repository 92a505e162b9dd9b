"""The scaled pipeline: ``moxtrace collector`` and its plugin interface."""

from __future__ import annotations

from moxtrace.pipeline.plugin import (
    PLUGIN_ENTRY_POINT_GROUP,
    CollectorPlugin,
    PluginChain,
    PluginSpanExporter,
    PluginSpanProcessor,
    replace_span,
)

__all__ = [
    "PLUGIN_ENTRY_POINT_GROUP",
    "CollectorPlugin",
    "PluginChain",
    "PluginSpanExporter",
    "PluginSpanProcessor",
    "replace_span",
]
