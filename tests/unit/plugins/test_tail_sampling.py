"""``tail_sampling``: whole traces kept for errors, LLM calls and latency; the rest sampled
by trace id; late spans follow the decision; memory bounds; flush."""

from __future__ import annotations

import random
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased

from collector_plugins.tail_sampling import TailSamplingPlugin, trace_id_sampled
from moxtrace.pipeline.config import PluginOptionError
from moxtrace.pipeline.plugin import PluginChain
from tests.unit.plugins.spans import make_span

LOW = 0x1111111111111111_0000000000000001  # low 64 bits tiny: sampled at any rate > 0
HIGH = 0x2222222222222222_FFFFFFFFFFFFFFF0  # low 64 bits huge: dropped at any rate < 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def plugin(clock: Clock, **options: Any) -> TailSamplingPlugin:
    defaults: dict[str, Any] = {"decision_wait": 5, "sample_rate": 0.0}
    return TailSamplingPlugin(clock=clock, **{**defaults, **options})


def ids(spans: list[ReadableSpan]) -> set[tuple[int, int]]:
    return {(s.context.trace_id, s.context.span_id) for s in spans if s.context}


def trace(trace_id: int, count: int, **last: Any) -> list[ReadableSpan]:
    spans = [make_span({"i": i}, trace_id=trace_id) for i in range(count - 1)]
    return [*spans, make_span({"i": count - 1, **last.pop("attrs", {})}, trace_id=trace_id, **last)]


@pytest.mark.parametrize(
    ("last", "reason"),
    [
        ({"error": True}, "error"),
        ({"attrs": {"error.type": "timeout"}}, "error"),
        ({"attrs": {"gen_ai.operation.name": "chat"}}, "llm"),
        ({"duration_ms": 6000}, "latency"),
    ],
)
def test_error_llm_and_slow_traces_are_kept_whole(last: dict[str, Any], reason: str) -> None:
    clock = Clock()
    sampler = plugin(clock)
    keep = trace(HIGH, 4, **last)
    drop = trace(HIGH - 1, 3)
    # The trace arrives over two batches, the interesting span first.
    assert sampler.process([keep[-1], drop[0]]) == []
    clock.now += 2
    assert sampler.process([*keep[:-1], *drop[1:]]) == []  # held: still in the wait
    assert sampler.counts()["held_spans"] == 7
    clock.now += 3.5
    released = sampler.process([])
    assert ids(released) == ids(keep)
    counts = sampler.counts()
    assert counts[f"traces_kept_{reason}"] == 1
    assert counts["traces_dropped"] == 1
    assert (counts["spans_kept"], counts["spans_dropped"]) == (4, 3)
    assert (counts["held_traces"], counts["held_spans"]) == (0, 0)


def test_holds_says_which_spans_wait_for_a_decision_and_poll_releases_them() -> None:
    clock = Clock()
    sampler = plugin(clock, decision_wait=5)
    spans = trace(LOW, 2, error=True)
    assert sampler.process(spans) == []
    assert [sampler.holds(LOW, s.context.span_id) for s in spans] == [True, True]
    assert not sampler.holds(LOW, 999_999)
    assert not sampler.holds(HIGH, spans[0].context.span_id)
    clock.now += 5
    # The collector's timer tick: no new spans, the chain polls every plugin.
    assert ids(PluginChain([sampler]).poll()) == ids(spans)
    assert [sampler.holds(LOW, s.context.span_id) for s in spans] == [False, False]


def test_other_traces_are_sampled_by_trace_id_deterministically() -> None:
    clock = Clock()
    sampler = plugin(clock, sample_rate=0.5, decision_wait=0)
    low, high = trace(LOW, 2), trace(HIGH, 2)
    assert ids(sampler.process([*low, *high])) == ids(low)
    assert sampler.counts()["traces_kept_sampled"] == 1
    # Another collector (or a rerun) decides the same.
    again = plugin(Clock(), sample_rate=0.5, decision_wait=0)
    assert [again.process(trace(t, 1)) != [] for t in (LOW, HIGH, LOW + 2, HIGH - 2)] == [
        True,
        False,
        True,
        False,
    ]


def test_sampling_agrees_with_the_sdk_trace_id_ratio_sampler() -> None:
    rng = random.Random(7)
    for rate in (0.0, 0.01, 0.25, 0.5, 0.9, 1.0):
        head = TraceIdRatioBased(rate)
        for _ in range(2000):
            trace_id = rng.getrandbits(128)
            expected = (
                head.should_sample(None, trace_id, "x").decision is Decision.RECORD_AND_SAMPLE
            )
            assert trace_id_sampled(trace_id, rate) is expected
    kept = sum(trace_id_sampled(rng.getrandbits(128), 0.25) for _ in range(20_000))
    assert 4_500 < kept < 5_500


def test_late_spans_follow_the_decision_of_their_trace() -> None:
    clock = Clock()
    sampler = plugin(clock, decision_wait=1)
    kept, dropped = trace(LOW, 2, error=True), trace(HIGH, 2)
    sampler.process([*kept, *dropped])
    clock.now += 2
    assert ids(sampler.process([])) == ids(kept)
    late_kept = make_span({"late": True}, trace_id=LOW)
    late_dropped = make_span({"late": True}, trace_id=HIGH, error=False)
    assert sampler.process([late_kept, late_dropped]) == [late_kept]  # at once, no wait
    counts = sampler.counts()
    assert (counts["late_spans_kept"], counts["late_spans_dropped"]) == (1, 1)
    assert counts["held_spans"] == 0


def test_a_forgotten_decision_makes_a_late_span_wait_again() -> None:
    clock = Clock()
    sampler = plugin(clock, decision_wait=1, decision_cache_size=1)
    first, second = trace(LOW, 1, error=True), trace(LOW + 5, 1, error=True)
    sampler.process(first)
    clock.now += 2
    sampler.process(second)  # decides `first`; `second` waits
    clock.now += 2
    sampler.process([])  # decides `second`: the cache (size 1) forgets `first`
    late = make_span({}, trace_id=LOW)
    assert sampler.process([late]) == []
    assert sampler.counts()["held_traces"] == 1


def test_too_many_traces_are_decided_early_oldest_first() -> None:
    clock = Clock()
    sampler = plugin(clock, max_traces=2, decision_wait=60)
    oldest = trace(LOW, 2, error=True)
    sampler.process(oldest)
    sampler.process(trace(LOW + 1, 1))
    released = sampler.process(trace(LOW + 2, 1))
    assert ids(released) == ids(oldest)
    counts = sampler.counts()
    assert counts["decided_early"] == 1
    assert counts["held_traces"] == 2


def test_too_many_spans_are_decided_early() -> None:
    clock = Clock()
    sampler = plugin(clock, max_spans=5, decision_wait=60)
    sampler.process(trace(HIGH, 3))
    sampler.process(trace(HIGH - 1, 3))  # 6 held > 5: the first trace is decided (dropped)
    counts = sampler.counts()
    assert (counts["decided_early"], counts["traces_dropped"], counts["held_spans"]) == (1, 1, 3)


def test_flush_decides_and_releases_everything_held() -> None:
    clock = Clock()
    sampler = plugin(clock, decision_wait=60)
    kept, dropped = trace(HIGH, 3, attrs={"gen_ai.operation.name": "chat"}), trace(HIGH - 1, 2)
    assert sampler.process([*kept, *dropped]) == []
    assert ids(sampler.flush()) == ids(kept)
    assert sampler.flush() == []
    assert sampler.counts()["held_spans"] == 0


def test_rules_can_be_turned_off() -> None:
    clock = Clock()
    sampler = plugin(
        clock, decision_wait=0, keep_errors=False, keep_llm=False, latency_threshold_ms=None
    )
    spans = [
        *trace(HIGH, 1, error=True),
        *trace(HIGH - 1, 1, attrs={"gen_ai.operation.name": "chat"}),
        *trace(HIGH - 2, 1, duration_ms=60_000),
    ]
    assert sampler.process(spans) == []
    assert sampler.counts()["traces_dropped"] == 3


def test_sample_rate_one_keeps_everything_and_spans_without_trace_id_pass() -> None:
    sampler = plugin(Clock(), sample_rate=1.0, decision_wait=0)
    spans = trace(HIGH, 2)
    orphan = make_span({}, trace_id=0)
    assert ids(sampler.process([*spans, orphan])) == ids([*spans, orphan])
    assert sampler.counts()["spans_without_trace_id"] == 1


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"sample_rate": 1.5}, "sample_rate"),
        ({"decision_wait": -1}, "decision_wait"),
        ({"max_traces": 0}, "max_traces"),
        ({"latency_threshold_ms": 0}, "latency_threshold_ms"),
        ({"sampling_rate": 0.1}, "sampling_rate"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], option: str) -> None:
    with pytest.raises(PluginOptionError) as info:
        TailSamplingPlugin(**options)
    assert info.value.option == option
