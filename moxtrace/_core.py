"""What the async and sync clients share: settings, the tracing runtime and the
tracing methods that do no I/O. Only methods that wait differ between the two."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter
from pydantic import SecretStr

from moxtrace._registry import RegistryCore
from moxtrace.exporters import ExportStats
from moxtrace.exporters.destinations import Destination, add_destinations
from moxtrace.session.providers import parse_response
from moxtrace.session.session import PromptSession
from moxtrace.settings import Settings
from moxtrace.tracing.content import ContentCapture
from moxtrace.tracing.propagation import carrier_from_context
from moxtrace.tracing.runtime import TracingRuntime
from moxtrace.tracing.spans import (
    HasIdentity,
    MoxnSpan,
    ParentContext,
    record_llm_event,
    resolve_parent,
    span_from_carrier,
)
from moxtrace.types.carrier import MoxnTraceCarrier
from moxtrace.types.content import Provider
from moxtrace.types.telemetry import LLMEvent, TraceContext

__all__ = ["ClientCore"]


class ClientCore:
    """Configuration and tracing shared by ``MoxnClient`` and ``SyncMoxnClient``."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        settings: Settings | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        set_global: bool = False,
        span_exporters: Sequence[SpanExporter] = (),
        span_processors: Sequence[SpanProcessor] = (),
        content_capture: ContentCapture | bool | str | None = None,
        otlp_endpoint: str | Sequence[str] | None = None,
        otlp_headers: Mapping[str, str] | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        debug: bool | None = None,
    ) -> None:
        overrides: dict[str, Any] = {}
        for name, value in (("timeout", timeout), ("max_retries", max_retries), ("debug", debug)):
            if value is not None:
                overrides[name] = value
        if api_key is not None:
            # model_copy(update=) does not validate: give the field its own type.
            overrides["api_key"] = SecretStr(api_key)
        if base_url is not None:
            overrides["base_url"] = base_url
        if spool_dir is not None:
            overrides["spool_dir"] = Path(spool_dir)
        if settings is None:
            settings = Settings(**overrides)
        elif overrides:
            settings = settings.model_copy(update=overrides)
        self.settings = settings
        self.tracing = TracingRuntime(
            settings,
            tracer_provider=tracer_provider,
            set_global=set_global,
            span_processors=span_processors,
            content_capture=content_capture,
        )
        # Every destination behind its own batch processor; the content policy applies
        # to all but Moxn (docs/exporters.md).
        self.destinations: dict[str, Destination] = add_destinations(
            self.tracing,
            span_exporters=span_exporters,
            otlp_endpoint=otlp_endpoint,
            otlp_headers=otlp_headers,
        )
        self._depth = 0
        # The content API (prompts, tasks, versions, webhooks): docs/prompts.md.
        self._registry = RegistryCore(self.settings, self.tracing.tracer, type(self).__name__)

    def export_stats(self, destination: str = "moxn") -> ExportStats:
        """Span counts of a destination: exported, retried, spooled, dropped, queued.

        ``destination`` is ``"moxn"`` (all zeros when spans are not exported to Moxn),
        ``"otlp"``, ``"otlp-2"``..., ``"exporter-1"``... for ``span_exporters=`` (see
        ``client.destinations``).

        >>> client.export_stats().dropped
        0
        """
        found = self.destinations.get(destination)
        if found is not None:
            return found.stats
        if destination == "moxn":
            return ExportStats()
        known = sorted(self.destinations) or "none"
        raise ValueError(f"no destination {destination!r}; this client has {known}")

    # -- spans -----------------------------------------------------------------------
    def span(
        self,
        prompt_session: HasIdentity,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        parent_context: ParentContext | None = None,
        trace_context: TraceContext | None = None,
    ) -> MoxnSpan:
        """A span for work done with ``prompt_session``; use with ``async with`` or ``with``.

        The name defaults to the prompt's name; ``metadata`` entries become
        ``moxn.metadata.<key>`` attributes. The parent is ``parent_context`` if given,
        else the active span, else ``trace_context`` (a remote parent), else none (a
        new trace). An exception raised in the block is recorded and re-raised.

        >>> async with client.span(session, metadata={"customer_id": "c1"}) as span:
        ...     response = await llm.messages.create(**session.to_anthropic_invocation())
        ...     await client.log_telemetry_event_from_response(session, response, ANTHROPIC)
        """
        identity = prompt_session.identity
        return MoxnSpan(
            self.tracing,
            name or identity.prompt_name or "moxn.span",
            identity,
            metadata,
            resolve_parent(parent_context, trace_context),
        )

    def span_from_carrier(
        self,
        carrier: MoxnTraceCarrier | Mapping[str, Any],
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> MoxnSpan:
        """A span continuing the trace ``carrier`` came from (in a worker, a handler).

        A carrier that cannot be used starts a new trace with a warning; it never raises.

        >>> carrier = MoxnTraceCarrier.model_validate(message["carrier"])
        >>> async with client.span_from_carrier(carrier, name="process_item"):
        ...     await process(message["data"])
        """
        return span_from_carrier(self.tracing, carrier, name, metadata)

    def extract_context(self) -> MoxnTraceCarrier | None:
        """A carrier for the active span, or ``None`` when no span is active."""
        return carrier_from_context()

    def _record(self, event: LLMEvent) -> None:
        record_llm_event(self.tracing, event)

    def _record_response(
        self, prompt_session: PromptSession, response: Any, provider: Provider
    ) -> None:
        try:
            parsed = parse_response(response, provider)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"log_telemetry_event_from_response could not read the {provider.value} "
                f"response: {exc}"
            ) from exc
        self._record(prompt_session.create_llm_event_from_parsed_response(parsed))
