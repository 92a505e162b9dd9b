"""First paint of a 500-span trace in the trace viewer, in headless Chromium.

Starts ``moxtrace serve`` (SQLite, 127.0.0.1) in a temporary directory, stores a trace of
``--spans`` spans (a realistic tree over three services, LLM calls with content, a few
errors; see tests/e2e/big_trace.py), then opens ``/ui/#/trace/<id>`` in Debian's Chromium
(driven by Playwright) with the API key already in the tab, and reads the viewer's
performance marks, in milliseconds from the start of the navigation:

- ``trace-loaded``: the trace's JSON has arrived (``GET /traces/{id}``);
- ``waterfall-rendered``: the waterfall's rows and the span details are in the DOM;
- ``waterfall-painted``: the next frame after that (what the user sees).

The floor, measured in the same run and browser: first contentful paint of the viewer's
login page (the same HTML, CSS and scripts, no data). Prints the median over ``--runs``
fresh tabs (cold: the first tab, empty cache), and the ratio to the floor. Goal: the
500-span trace painted in under 1 s. A 5,000-span trace is measured too, for scale.

    python bench/viewer_paint.py [--spans 500] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.big_trace import big_trace_events
from tests.e2e.browser import chromium_context, require_chromium
from tests.support.server import MoxtraceServer

MARKS = ("moxtrace:trace-loaded", "moxtrace:waterfall-rendered", "moxtrace:waterfall-painted")
GOAL_MS = 1000.0


def store_trace(server: MoxtraceServer, spans: int) -> str:
    """Ingest a ``spans``-span trace (in batches of ~1000 spans); its id."""
    trace_id, events = big_trace_events(spans)
    with server.client() as http:
        for start in range(0, len(events), 2500):
            batch = events[start : start + 2500]
            reply = http.post("/telemetry/log-events", json={"events": batch})
            reply.raise_for_status()
        trace = http.get(f"/traces/{trace_id}").json()["data"]
    assert trace["span_count"] == spans, trace["span_count"]
    return trace_id


def paint(context: Any, url: str) -> dict[str, float]:
    """Open ``url`` in a new tab; the viewer's marks (ms since navigation start)."""
    page = context.new_page()
    try:
        page.goto(url)
        page.wait_for_selector("html[data-waterfall=painted]", timeout=60_000)
        marks: dict[str, float] = page.evaluate(
            "names => Object.fromEntries(names.map(n => "
            "[n, performance.getEntriesByName(n)[0].startTime]))",
            list(MARKS),
        )
        return marks
    finally:
        page.close()


def login_paint(context: Any, url: str) -> float:
    """First contentful paint of the login page (no key in the tab), in ms."""
    page = context.new_page()
    try:
        page.goto(url)
        page.wait_for_selector("#login-form")
        fcp: float = page.evaluate(
            "() => new Promise(done => new PerformanceObserver((list, observer) => {"
            "  const entry = list.getEntriesByName('first-contentful-paint')[0];"
            "  if (entry) { observer.disconnect(); done(entry.startTime); }"
            "}).observe({type: 'paint', buffered: true}))"
        )
        return fcp
    finally:
        page.close()


def measure(context: Any, url: str, runs: int) -> tuple[dict[str, float], dict[str, float]]:
    """(cold marks, median marks over ``runs`` warm tabs)."""
    cold = paint(context, url)
    warm = [paint(context, url) for _ in range(runs)]
    return cold, {m: statistics.median(w[m] for w in warm) for m in MARKS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=500)
    parser.add_argument("--large", type=int, default=5000, help="the larger trace (0: skip)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    missing = require_chromium()
    if missing:
        print(f"viewer_paint: {missing}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="moxtrace-viewer-bench-") as tmp:
        server = MoxtraceServer(Path(tmp) / "data")
        server.start()
        try:
            sizes = [args.spans] + ([args.large] if args.large else [])
            traces = {n: store_trace(server, n) for n in sizes}
            ui = f"{server.base_url}/ui/"
            with chromium_context(viewport={"width": 1440, "height": 900}) as context:
                floor = statistics.median(login_paint(context, ui) for _ in range(args.runs))
                context.add_init_script(
                    f"sessionStorage.setItem('moxtrace.apiKey', {server.api_key!r});"
                )
                version = context.browser.version if context.browser else "?"
                print(f"Chromium {version}, headless; viewport 1440x900; {args.runs} runs")
                print(f"floor: login page first contentful paint  {floor:7.1f} ms (median)")
                for n, trace_id in traces.items():
                    cold, warm = measure(context, f"{ui}#/trace/{trace_id}", args.runs)
                    painted = warm["moxtrace:waterfall-painted"]
                    print(
                        f"{n:>5} spans: painted {painted:7.1f} ms median "
                        f"(cold {cold[MARKS[2]]:.1f})  = JSON {warm[MARKS[0]]:.1f} + render "
                        f"{warm[MARKS[1]] - warm[MARKS[0]]:.1f} + frame "
                        f"{warm[MARKS[2]] - warm[MARKS[1]]:.1f} ms;  {painted / floor:.1f}x floor"
                    )
                    if n == args.spans:
                        verdict = "ok" if max(painted, cold[MARKS[2]]) < GOAL_MS else "OVER"
                        print(f"       goal: < {GOAL_MS:.0f} ms ({verdict})")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
