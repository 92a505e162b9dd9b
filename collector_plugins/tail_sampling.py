"""``tail_sampling``: keep whole traces worth keeping, sample the rest, decided per trace.

A trace is **kept whole** when any of its spans

- failed: status ``ERROR`` or an ``error.type`` attribute (``keep_errors``);
- is an LLM call: it has ``gen_ai.operation.name`` (``keep_llm``);
- took at least ``latency_threshold_ms`` (``null`` turns this off);

and otherwise kept with probability ``sample_rate``, decided by the trace id (its low
64 bits against the rate, as OpenTelemetry's ``TraceIdRatioBased`` head sampler does):
the same trace gets the same decision in every collector and on every run.

Spans are held until their trace is decided: ``decision_wait`` seconds after the
trace's first span arrived, so that the spans of one trace can gather. Decisions are
made whenever ``process`` is called — with a batch, or with nothing on the collector's
timer tick (``PluginChain.poll``) — and at ``flush()``, which decides everything held.
``holds()`` tells the collector which spans are held, so their Kafka records stay
uncommitted until the decision: a crash meanwhile means redelivery, not loss.
Decisions are remembered in a bounded cache (``decision_cache_size`` traces), so spans
that arrive after their trace was decided follow it: kept if it was kept, dropped if it
was dropped. A late span whose trace was forgotten starts a new wait.

Memory is bounded: at most ``max_traces`` traces and ``max_spans`` spans are held; past
either, the oldest traces are decided early (counted as ``decided_early``).

Options::

    decision_wait: 10           # seconds
    sample_rate: 0.1            # 0..1, for traces no rule keeps
    latency_threshold_ms: 5000  # null: no latency rule
    keep_errors: true
    keep_llm: true
    max_traces: 10000
    max_spans: 200000
    decision_cache_size: 100000

In ``moxtrace collector`` the Kafka partitioning by trace id sends every span of a trace
to the same collector, which is what makes per-trace decisions possible there.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, ClassVar, Final

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode
from pydantic import BaseModel, ConfigDict, Field

from moxtrace.pipeline.config import parse_options
from moxtrace.pipeline.plugin import CollectorPlugin
from moxtrace.tracing import semconv

__all__ = ["TailSamplingOptions", "TailSamplingPlugin", "trace_id_sampled"]

_ID_MASK: Final = (1 << 64) - 1
_REASONS: Final = ("error", "llm", "latency", "sampled")


def trace_id_sampled(trace_id: int, rate: float) -> bool:
    """Whether ``trace_id`` falls within ``rate`` (the rule of ``TraceIdRatioBased``)."""
    return (trace_id & _ID_MASK) < round(rate * (_ID_MASK + 1))


class TailSamplingOptions(BaseModel):
    """The options of ``tail_sampling`` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision_wait: float = Field(default=10.0, ge=0)
    sample_rate: float = Field(default=0.1, ge=0, le=1)
    latency_threshold_ms: float | None = Field(default=5000.0, gt=0)
    keep_errors: bool = True
    keep_llm: bool = True
    max_traces: int = Field(default=10_000, ge=1)
    max_spans: int = Field(default=200_000, ge=1)
    decision_cache_size: int = Field(default=100_000, ge=0)


class _Trace:
    __slots__ = ("deadline", "reason", "span_ids", "spans")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.spans: list[ReadableSpan] = []
        self.span_ids: set[int] = set()
        self.reason: str | None = None


class TailSamplingPlugin(CollectorPlugin):
    """Per-trace sampling decisions after a wait window (see the module docstring).

    ``clock`` (seconds, monotonic) is for tests; options come from the configuration.
    """

    name: ClassVar[str] = "tail_sampling"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, **options: Any) -> None:
        opts = parse_options(self.name, TailSamplingOptions, options)
        self.options = opts
        self._clock = clock
        self._bound = round(opts.sample_rate * (_ID_MASK + 1))
        self._latency_ns = (
            None if opts.latency_threshold_ms is None else int(opts.latency_threshold_ms * 1e6)
        )
        self._pending: OrderedDict[int, _Trace] = OrderedDict()
        self._held_spans = 0
        self._decided: OrderedDict[int, bool] = OrderedDict()
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(
            [
                *(f"traces_kept_{reason}" for reason in _REASONS),
                "traces_dropped",
                "spans_kept",
                "spans_dropped",
                "decided_early",
                "late_spans_kept",
                "late_spans_dropped",
                "spans_without_trace_id",
            ],
            0,
        )

    def process(self, spans: list[ReadableSpan]) -> list[ReadableSpan]:
        """Hold the spans of undecided traces; release those of traces decided to keep."""
        out: list[ReadableSpan] = []
        with self._lock:
            now = self._clock()
            for span in spans:
                self._add(span, now, out)
            self._release_due(now, out)
            self._enforce_bounds(out)
        return out

    def holds(self, trace_id: int, span_id: int) -> bool:
        """Whether the span is held, waiting for its trace's decision (the collector keeps
        its Kafka record uncommitted meanwhile, so a crash does not lose it)."""
        with self._lock:
            trace = self._pending.get(trace_id)
            return trace is not None and span_id in trace.span_ids

    def flush(self) -> list[ReadableSpan]:
        """Decide every held trace now; the spans of those kept."""
        out: list[ReadableSpan] = []
        with self._lock:
            while self._pending:
                self._decide_oldest(out)
        return out

    def counts(self) -> dict[str, int]:
        """Decisions and spans so far, plus ``held_traces`` and ``held_spans`` now."""
        with self._lock:
            counts = dict(self._counts)
            counts["held_traces"] = len(self._pending)
            counts["held_spans"] = self._held_spans
        return counts

    # -- under the lock ------------------------------------------------------------------

    def _add(self, span: ReadableSpan, now: float, out: list[ReadableSpan]) -> None:
        context = span.context
        trace_id = context.trace_id if context is not None else 0
        if not trace_id:  # nothing to group by: let it through
            self._counts["spans_without_trace_id"] += 1
            out.append(span)
            return
        decision = self._decided.get(trace_id)
        if decision is not None:
            self._decided.move_to_end(trace_id)
            if decision:
                self._counts["late_spans_kept"] += 1
                self._counts["spans_kept"] += 1
                out.append(span)
            else:
                self._counts["late_spans_dropped"] += 1
                self._counts["spans_dropped"] += 1
            return
        trace = self._pending.get(trace_id)
        if trace is None:
            trace = _Trace(now + self.options.decision_wait)
            self._pending[trace_id] = trace
        trace.spans.append(span)
        if context is not None:
            trace.span_ids.add(context.span_id)
        self._held_spans += 1
        if trace.reason is None or trace.reason == "latency":
            reason = self._reason(span)
            if reason is not None and (trace.reason is None or reason != "latency"):
                trace.reason = reason

    def _reason(self, span: ReadableSpan) -> str | None:
        opts = self.options
        attrs = span.attributes or {}
        if opts.keep_errors and (
            (span.status is not None and span.status.status_code is StatusCode.ERROR)
            or semconv.ERROR_TYPE in attrs
        ):
            return "error"
        if opts.keep_llm and semconv.GEN_AI_OPERATION_NAME in attrs:
            return "llm"
        if (
            self._latency_ns is not None
            and span.start_time is not None
            and span.end_time is not None
            and span.end_time - span.start_time >= self._latency_ns
        ):
            return "latency"
        return None

    def _release_due(self, now: float, out: list[ReadableSpan]) -> None:
        # Traces are held in arrival order and share one wait, so the due ones lead.
        while self._pending:
            trace = next(iter(self._pending.values()))
            if trace.deadline > now:
                return
            self._decide_oldest(out)

    def _enforce_bounds(self, out: list[ReadableSpan]) -> None:
        opts = self.options
        while self._pending and (
            len(self._pending) > opts.max_traces or self._held_spans > opts.max_spans
        ):
            self._counts["decided_early"] += 1
            self._decide_oldest(out)

    def _decide_oldest(self, out: list[ReadableSpan]) -> None:
        trace_id, trace = self._pending.popitem(last=False)
        self._held_spans -= len(trace.spans)
        reason = trace.reason
        if reason is None and (trace_id & _ID_MASK) < self._bound:
            reason = "sampled"
        keep = reason is not None
        if keep:
            self._counts[f"traces_kept_{reason}"] += 1
            self._counts["spans_kept"] += len(trace.spans)
            out.extend(trace.spans)
        else:
            self._counts["traces_dropped"] += 1
            self._counts["spans_dropped"] += len(trace.spans)
        if self.options.decision_cache_size:
            self._decided[trace_id] = keep
            if len(self._decided) > self.options.decision_cache_size:
                self._decided.popitem(last=False)
