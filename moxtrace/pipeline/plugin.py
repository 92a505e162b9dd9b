"""The collector's plugin interface: a step that turns a batch of spans into another.

A plugin sees finished OpenTelemetry spans (``ReadableSpan``) — whatever produced them:
moxtrace, another instrumentation, an OpenTelemetry Collector — and returns the spans
to pass on: changed (a new span built with ``replace_span``), dropped, or held back
for a later call (tail sampling holds a trace until it can decide on it). The same
plugins run in three places:

- in ``moxtrace collector``, configured from a YAML or TOML file (``load_plugins``);
- in an application, around an exporter: ``PluginSpanExporter(exporter, plugins)``;
- in an application, around a span processor: ``PluginSpanProcessor(processor, plugins)``.

Plugins are found through the entry-point group ``moxtrace.collector_plugins``
(``name = "package.module:PluginClass"``); ``collector_plugins`` ships ``redact``,
``cost``, ``tail_sampling`` and ``genai_normalize``.

Writing one::

    class DropHealthChecks(CollectorPlugin):
        name = "drop_health_checks"

        def process(self, spans):
            return [s for s in spans if s.name != "GET /health"]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.util.types import Attributes

__all__ = [
    "PLUGIN_ENTRY_POINT_GROUP",
    "CollectorPlugin",
    "PluginChain",
    "PluginSpanExporter",
    "PluginSpanProcessor",
    "replace_span",
]

PLUGIN_ENTRY_POINT_GROUP = "moxtrace.collector_plugins"
_logger = logging.getLogger("moxtrace.pipeline")
_UNSET = object()


def replace_span(
    span: ReadableSpan,
    *,
    name: str | None = None,
    attributes: Attributes | object = _UNSET,
    events: Sequence[Event] | None = None,
    resource_attributes: Mapping[str, Any] | None = None,
) -> ReadableSpan:
    """A copy of ``span`` with some parts replaced (spans are immutable once ended)."""
    resource = span.resource
    if resource_attributes is not None:
        from opentelemetry.sdk.resources import Resource

        resource = Resource(dict(resource_attributes), resource.schema_url)
    return ReadableSpan(
        name=span.name if name is None else name,
        context=span.context,
        parent=span.parent,
        resource=resource,
        attributes=span.attributes if attributes is _UNSET else attributes,  # type: ignore[arg-type]
        events=span.events if events is None else events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class CollectorPlugin:
    """Base class of collector plugins; subclasses set ``name`` and override ``process``.

    ``options`` are the plugin's settings from the configuration file (or keyword
    arguments in code); a plugin validates them in ``__init__`` and raises ``ValueError``
    naming the bad option. ``process`` must not raise for odd spans: skip what it cannot
    handle.
    """

    name: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        if options:
            raise ValueError(f"plugin {self.name!r} takes no options, got {sorted(options)}")

    def process(self, spans: list[ReadableSpan]) -> list[ReadableSpan]:
        """The spans to pass on, for ``spans`` (which the plugin may not keep mutating).

        Also called with an empty list on a timer (``PluginChain.poll``), so a plugin
        that holds spans can release what is due when no new spans come.
        """
        return spans

    def holds(self, trace_id: int, span_id: int) -> bool:
        """Whether the plugin is holding this span back, to return it from a later call.

        A plugin that holds spans (tail sampling) answers True from the ``process`` call
        that kept the span until the one that returns or drops it. ``moxtrace collector``
        commits a Kafka record only when each of its spans was delivered or dropped, so
        a held span is read again after a crash rather than lost; a plugin that holds
        spans without saying so makes them at-most-once.
        """
        return False

    def flush(self) -> list[ReadableSpan]:
        """Spans held back so far, released now (at shutdown, or a sink flush)."""
        return []

    def shutdown(self) -> None:
        """Release resources; ``flush`` has been called before."""


class PluginChain:
    """Plugins applied in order; a plugin that raises is logged and skipped for that
    batch (its input passes on unchanged), so one bad plugin never loses spans."""

    def __init__(self, plugins: Sequence[CollectorPlugin]) -> None:
        self.plugins = list(plugins)

    def _run(self, index: int, spans: list[ReadableSpan]) -> list[ReadableSpan]:
        for plugin in self.plugins[index:]:
            if not spans:
                break
            try:
                spans = plugin.process(spans)
            except Exception:
                _logger.exception("moxtrace: plugin %r failed; its input passes on", plugin.name)
        return spans

    def process(self, spans: list[ReadableSpan]) -> list[ReadableSpan]:
        return self._run(0, list(spans))

    def poll(self) -> list[ReadableSpan]:
        """Spans the plugins release without new input: each plugin's ``process([])``,
        passed through the plugins after it (a timer tick for plugins that hold spans)."""
        out: list[ReadableSpan] = []
        for index, plugin in enumerate(self.plugins):
            try:
                released = plugin.process([])
            except Exception:
                _logger.exception("moxtrace: plugin %r failed on a timer tick", plugin.name)
                continue
            if released:
                out.extend(self._run(index + 1, released))
        return out

    def holds(self, trace_id: int, span_id: int) -> bool:
        """Whether some plugin is holding the span back (``CollectorPlugin.holds``)."""
        for plugin in self.plugins:
            try:
                if plugin.holds(trace_id, span_id):
                    return True
            except Exception:
                _logger.exception("moxtrace: plugin %r failed to answer holds()", plugin.name)
        return False

    def flush(self) -> list[ReadableSpan]:
        """Held spans of every plugin, each passed through the plugins after it."""
        out: list[ReadableSpan] = []
        for index, plugin in enumerate(self.plugins):
            try:
                held = plugin.flush()
            except Exception:
                _logger.exception("moxtrace: plugin %r failed to flush", plugin.name)
                continue
            out.extend(self._run(index + 1, held))
        return out

    def shutdown(self) -> None:
        for plugin in self.plugins:
            try:
                plugin.shutdown()
            except Exception:
                _logger.exception("moxtrace: plugin %r failed to shut down", plugin.name)


class PluginSpanExporter(SpanExporter):
    """Runs the plugins on each batch, then hands what they pass on to ``exporter``."""

    def __init__(self, exporter: SpanExporter, plugins: Sequence[CollectorPlugin]) -> None:
        self.exporter = exporter
        self.chain = PluginChain(plugins)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        out = self.chain.process(list(spans))
        return self.exporter.export(out) if out else SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        held = self.chain.flush()
        if held and self.exporter.export(held) is not SpanExportResult.SUCCESS:
            return False
        return self.exporter.force_flush(timeout_millis)

    def shutdown(self) -> None:
        held = self.chain.flush()
        if held:
            self.exporter.export(held)
        self.chain.shutdown()
        self.exporter.shutdown()


class PluginSpanProcessor(SpanProcessor):
    """Runs the plugins on each finished span before ``processor`` sees it."""

    def __init__(self, processor: SpanProcessor, plugins: Sequence[CollectorPlugin]) -> None:
        self.processor = processor
        self.chain = PluginChain(plugins)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.processor.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for out in self.chain.process([span]):
            self.processor.on_end(out)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        for out in self.chain.flush():
            self.processor.on_end(out)
        return self.processor.force_flush(timeout_millis)

    def shutdown(self) -> None:
        for out in self.chain.flush():
            self.processor.on_end(out)
        self.chain.shutdown()
        self.processor.shutdown()
