"""The collector plugins shipped with moxtrace.

``redact``, ``cost``, ``tail_sampling`` and ``genai_normalize``.

Each is a ``moxtrace.pipeline.CollectorPlugin`` registered in the entry-point group
``moxtrace.collector_plugins``, so a configuration names it (``load_plugins``), and
usable in an application as well::

    from collector_plugins import RedactPlugin, CostPlugin
    from moxtrace.pipeline import PluginSpanExporter

    exporter = PluginSpanExporter(OTLPSpanExporter(), [RedactPlugin(), CostPlugin()])

docs/plugins.md describes every option.
"""

from __future__ import annotations

from collector_plugins.cost import CostPlugin
from collector_plugins.genai_normalize import GenAINormalizePlugin
from collector_plugins.redact import RedactPlugin
from collector_plugins.tail_sampling import TailSamplingPlugin

__all__ = ["CostPlugin", "GenAINormalizePlugin", "RedactPlugin", "TailSamplingPlugin"]
