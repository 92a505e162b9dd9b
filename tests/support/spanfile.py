"""Spans written as JSON lines by one process and read back by the test in another."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class FileSpanExporter(SpanExporter):
    """Appends each finished span to ``path`` as one JSON line (flushed at once)."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for span in spans:
            ctx = span.context
            assert ctx is not None
            lines.append(
                json.dumps(
                    {
                        "name": span.name,
                        "kind": span.kind.name,
                        "trace_id": format(ctx.trace_id, "032x"),
                        "span_id": format(ctx.span_id, "016x"),
                        "parent_span_id": format(span.parent.span_id, "016x")
                        if span.parent
                        else None,
                        "parent_is_remote": bool(span.parent and span.parent.is_remote),
                        "status": span.status.status_code.name,
                        "attributes": dict(span.attributes or {}),
                        "links": [
                            {
                                "trace_id": format(link.context.trace_id, "032x"),
                                "span_id": format(link.context.span_id, "016x"),
                                "attributes": dict(link.attributes or {}),
                            }
                            for link in span.links
                        ],
                    },
                    default=list,
                )
            )
        with self._lock, self._path.open("a") as f:
            f.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


@dataclass
class SpanRecord:
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    parent_is_remote: bool
    status: str
    attributes: dict[str, Any]
    links: list[dict[str, Any]] = field(default_factory=list)


def read_spans(*paths: str | Path) -> list[SpanRecord]:
    spans: list[SpanRecord] = []
    for path in paths:
        p = Path(path)
        if p.exists():
            spans.extend(SpanRecord(**json.loads(line)) for line in p.read_text().splitlines())
    return spans


def wait_for_spans(
    *paths: str | Path, name: str, count: int, timeout: float = 60.0
) -> list[SpanRecord]:
    """Poll the files until ``count`` spans named ``name`` are there (or fail)."""
    deadline = time.monotonic() + timeout
    while True:
        spans = read_spans(*paths)
        if sum(1 for s in spans if s.name == name) >= count:
            return spans
        if time.monotonic() > deadline:
            found = sorted({s.name for s in spans})
            raise AssertionError(f"waited {timeout}s for {count} {name!r} spans; saw {found}")
        time.sleep(0.1)
