"""What moxtrace keeps in the OpenTelemetry context beside the current span."""

from __future__ import annotations

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Span

from moxtrace.tracing.identity import MoxnIdentity

__all__ = ["SCOPE_KEY", "Scope", "current_identity", "current_scope"]

SCOPE_KEY = otel_context.create_key("moxtrace-scope")


class Scope:
    """The Moxn identity in force, and the moxtrace span that set it (if any).

    ``llm_calls`` counts the LLM events recorded directly on ``span``: the first one
    goes on the span itself, later ones on child spans.
    """

    __slots__ = ("identity", "llm_calls", "span")

    def __init__(self, identity: MoxnIdentity, span: Span | None) -> None:
        self.identity = identity
        self.span = span
        self.llm_calls = 0


def current_scope(context: Context | None = None) -> Scope | None:
    value = otel_context.get_value(SCOPE_KEY, context)
    return value if isinstance(value, Scope) else None


def current_identity(context: Context | None = None) -> MoxnIdentity | None:
    """The Moxn identity of the current (or given) context, if any."""
    scope = current_scope(context)
    return scope.identity if scope is not None else None
