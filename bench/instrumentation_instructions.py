"""Instructions moxtrace adds to each provider SDK call, against a bare OTel span (callgrind).

The wall-time bench (``bench/instrumentation.py``) moves by more than the instrumentation
costs on a shared machine. Instructions counted under ``valgrind --tool=callgrind`` do
not. This script counts moxtrace's own work per call: each case of
``bench/instrumentation.py`` is run once through the real SDK (in-process transport) to
record what the SDK method returned (the response object, or the stream's chunks as the
SDK yields them); then the SDK method is replaced by one that returns that canned answer
(a stream: an iterator over the recorded chunks), so only the wrapper, the span and the
reading of request and response are counted. Per case:

- ``canned``: the call with the canned SDK method, uninstrumented (the case's own loop);
- ``instrumented``: the same, after ``moxtrace.instrument()``; ``added`` is the difference;
- ``bare span``: ``start_as_current_span`` with the name, kind and attributes the
  instrumented call's span ends up with, through the same processor.

Each figure is ``(I(n2) - I(n1)) / (n2 - n1)``, the instructions of ``n2`` and of ``n1``
calls, so the constant cost of a measurement drops out. Spans go through a
BatchSpanProcessor into an exporter that discards; its batch is larger than any
measurement and it is flushed between them, so its worker thread never runs while
instructions are counted. The cyclic garbage collector is off while counting (its
passes fall where allocation counts put them). Goal: added / bare span <= 1.5.

Collection is switched on only inside a C function the measurement runs in (libc's
``qsort_r``, entered through ``ctypes`` with a Python comparator), and callgrind dumps its
counters each time that function returns: one dump per measurement.

    python bench/instrumentation_instructions.py [--calls N] [--case SUBSTRING]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_MARKER = "qsort_r"
_COMPARE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


def counted(fn: Callable[[], Any], calls: int) -> None:
    """Call ``fn`` ``calls`` times inside ``qsort_r``: what callgrind counts."""

    def compare(_a: Any, _b: Any) -> int:
        for _ in range(calls):
            fn()
        return 0

    comparator = _COMPARE(compare)
    pair = (ctypes.c_int * 2)(0, 1)
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.qsort(pair, 2, ctypes.sizeof(ctypes.c_int), comparator)


def _dumps(directory: Path) -> dict[int, Path]:
    """Callgrind's dumps in ``directory``, by number."""
    found = {}
    for path in directory.glob("callgrind.out.*"):
        number = path.suffix[1:]
        if number.isdigit():
            found[int(number)] = path
    return found


def child(calls: tuple[int, int], only: str | None, labels_path: str) -> None:
    """Run under callgrind: every measurement, in order; each one's label and dump number
    to ``labels_path`` (other code calls ``qsort_r`` too: OpenSSL sorting certificates)."""
    from instrumentation import Canned, Discard, cases, span_floors
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    import moxtrace

    big = 1 << 20
    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(
            Discard(),
            max_queue_size=big,
            max_export_batch_size=big,
            schedule_delay_millis=3_600_000,
        )
    )
    tracer = provider.get_tracer("bench")
    canned = Canned()
    calls_of = {name: fn for name, fn in cases().items() if only is None or only in name}
    canned.record()
    for fn in calls_of.values():
        fn()
    canned.replay()

    floors = span_floors(calls_of, tracer)

    labels: list[list[Any]] = []

    def measure(name: str, what: str, fn: Callable[[], Any]) -> None:
        for _ in range(20):  # warm: first-call caches, lazily built tables
            fn()
        for n in calls:
            provider.force_flush()
            gc.collect()
            gc.disable()
            counted(fn, n)
            gc.enable()
            labels.append([name, what, n, max(_dumps(Path(labels_path).parent))])

    for name in calls_of:
        measure(name, "bare span", floors[name])
    for name, fn in calls_of.items():
        measure(name, "canned", fn)
        moxtrace.instrument(tracer_provider=provider, content_capture="all")
        measure(name, "instrumented", fn)
        moxtrace.uninstrument()
    canned.restore()
    provider.shutdown()
    Path(labels_path).write_text(json.dumps(labels))


def parent(calls: tuple[int, int], only: str | None) -> None:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="moxtrace-callgrind-") as tmp:
        labels_path = os.path.join(tmp, "labels.json")
        command = [
            valgrind,
            "--tool=callgrind",
            f"--toggle-collect={_MARKER}",
            f"--dump-after={_MARKER}",
            "--dump-instr=no",
            f"--callgrind-out-file={tmp}/callgrind.out",
            sys.executable,
            __file__,
            "--child",
            labels_path,
            "--calls",
            str(calls[1] - calls[0]),
            *(["--case", only] if only else []),
        ]
        print("counting instructions under callgrind (a few minutes)...", flush=True)
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(command, check=True, env=env, capture_output=True)
        labels = json.loads(Path(labels_path).read_text())
        dumps = _dumps(Path(tmp))
        counts: dict[str, dict[str, dict[int, int]]] = {}
        for name, what, n, dump in labels:
            counts.setdefault(name, {}).setdefault(what, {})[n] = _total(dumps[dump])
    per_call = {
        name: {
            what: (by_n[calls[1]] - by_n[calls[0]]) / (calls[1] - calls[0])
            for what, by_n in series.items()
        }
        for name, series in counts.items()
    }
    print(
        f"instructions per call (callgrind, {calls[1]} - {calls[0]} calls), "
        f"Python {sys.version.split()[0]}; SDK replaced by its canned answer"
    )
    print(f"  {'call':<40} {'canned':>8} {'instrumented':>12} {'added':>8} {'bare span':>10} ratio")
    ratios = []
    for name, figures in per_call.items():
        added = figures["instrumented"] - figures["canned"]
        ratio = added / figures["bare span"]
        ratios.append(ratio)
        print(
            f"  {name:<40} {figures['canned'] / 1e3:7.1f}k {figures['instrumented'] / 1e3:11.1f}k "
            f"{added / 1e3:7.1f}k {figures['bare span'] / 1e3:9.1f}k {ratio:5.2f}"
        )
    print(f"  RATIO added/bare span, worst case = {max(ratios):.2f} (goal <= 1.50)")


def _total(path: Path) -> int:
    match = re.search(r"^totals:\s*(\d+)", path.read_text(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40, help="calls counted per figure")
    parser.add_argument("--case", help="only the cases whose name contains this")
    parser.add_argument("--child", metavar="LABELS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    calls = (10, 10 + args.calls)
    if args.child:
        child(calls, args.case, args.child)
    else:
        parent(calls, args.case)


if __name__ == "__main__":
    main()
