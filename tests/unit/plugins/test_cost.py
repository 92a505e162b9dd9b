"""``cost``: figures for known token counts (computed by hand in the comments), model
matching, the shipped price table, user price files and their errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collector_plugins.cost import (
    COST_CACHE_CREATION_USD,
    COST_CACHE_READ_USD,
    COST_INPUT_USD,
    COST_MODEL,
    COST_OUTPUT_USD,
    COST_USD,
    CostPlugin,
    PriceTable,
)
from moxtrace.pipeline.config import PluginOptionError
from tests.unit.plugins.spans import make_span


def llm_attrs(
    model: str,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    *,
    cache_read: int | None = None,
    cache_creation: int | None = None,
    reasoning: int | None = None,
    request_model: str | None = None,
) -> dict[str, Any]:
    attrs: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.response.model": model}
    for name, value in (
        ("gen_ai.request.model", request_model),
        ("gen_ai.usage.input_tokens", input_tokens),
        ("gen_ai.usage.output_tokens", output_tokens),
        ("gen_ai.usage.cache_read.input_tokens", cache_read),
        ("gen_ai.usage.cache_creation.input_tokens", cache_creation),
        ("gen_ai.usage.reasoning.output_tokens", reasoning),
    ):
        if value is not None:
            attrs[name] = value
    return attrs


def priced(plugin: CostPlugin, attrs: dict[str, Any]) -> dict[str, Any]:
    [span] = plugin.process([make_span(attrs)])
    return dict(span.attributes or {})


def test_anthropic_call_with_cache_reads_and_writes() -> None:
    # claude-sonnet-4-5: $3 in, $15 out, $0.30 cache read, $3.75 cache write per MTok.
    # 1500 input = 200 uncached + 1000 read + 300 written.
    # input  = 200*3 + 1000*0.30 + 300*3.75 = 600 + 300 + 1125 = 2025 µ$ = 0.002025
    # output = 50*15 = 750 µ$ = 0.00075; total 0.002775
    attrs = priced(
        CostPlugin(),
        llm_attrs("claude-sonnet-4-5-20250929", 1500, 50, cache_read=1000, cache_creation=300),
    )
    assert attrs[COST_INPUT_USD] == pytest.approx(0.002025)
    assert attrs[COST_OUTPUT_USD] == pytest.approx(0.00075)
    assert attrs[COST_CACHE_READ_USD] == pytest.approx(0.0003)
    assert attrs[COST_CACHE_CREATION_USD] == pytest.approx(0.001125)
    assert attrs[COST_USD] == pytest.approx(0.002775)
    assert attrs[COST_MODEL] == "claude-sonnet-4-5"
    assert attrs["gen_ai.usage.input_tokens"] == 1500


def test_input_reported_without_the_cached_part_is_not_undercharged() -> None:
    # Anthropic's raw API reports input_tokens=200 beside the cache counts: same call.
    attrs = priced(
        CostPlugin(),
        llm_attrs("claude-sonnet-4-5", 200, 50, cache_read=1000, cache_creation=300),
    )
    assert attrs[COST_USD] == pytest.approx(0.002775)


def test_openai_call_with_cached_input() -> None:
    # gpt-4o-mini: $0.15 in, $0.075 cached, $0.60 out. 1200 input, 1000 of them cached.
    # input = 200*0.15 + 1000*0.075 = 30 + 75 = 105 µ$; output = 80*0.6 = 48 µ$.
    attrs = priced(CostPlugin(), llm_attrs("gpt-4o-mini-2024-07-18", 1200, 80, cache_read=1000))
    assert attrs[COST_INPUT_USD] == pytest.approx(0.000105)
    assert attrs[COST_OUTPUT_USD] == pytest.approx(0.000048)
    assert attrs[COST_USD] == pytest.approx(0.000153)
    assert attrs[COST_CACHE_CREATION_USD] == 0
    assert attrs[COST_MODEL] == "gpt-4o-mini"


def test_reasoning_tokens_inside_output_are_not_charged_twice() -> None:
    # o3: $2 in, $8 out. 5000 output of which 4000 reasoning: 10000*2 + 5000*8 = 0.06.
    attrs = priced(CostPlugin(), llm_attrs("o3", 10_000, 5_000, reasoning=4_000))
    assert attrs[COST_USD] == pytest.approx(0.06)


def test_reasoning_tokens_reported_apart_from_output_are_added() -> None:
    # gemini-2.5-flash: $2.50 out. 100 output + 400 thinking reported apart: 500*2.5 µ$.
    attrs = priced(CostPlugin(), llm_attrs("gemini-2.5-flash", 0, 100, reasoning=400))
    assert attrs[COST_OUTPUT_USD] == pytest.approx(0.00125)


def test_long_context_tier_prices_the_whole_request() -> None:
    plugin = CostPlugin()
    # gemini-2.5-pro <= 200K: $1.25 in, $10 out: 100000*1.25 + 1000*10 = 0.125 + 0.01.
    small = priced(plugin, llm_attrs("gemini-2.5-pro", 100_000, 1_000))
    assert small[COST_USD] == pytest.approx(0.135)
    # > 200K: $2.50 in, $0.25 cached, $15 out:
    # 200000*2.5 + 100000*0.25 + 1000*15 = 0.5 + 0.025 + 0.015 = 0.54.
    large = priced(plugin, llm_attrs("gemini-2.5-pro", 300_000, 1_000, cache_read=100_000))
    assert large[COST_USD] == pytest.approx(0.54)
    # claude-sonnet-4 over 200K: $6 in, $22.50 out: 250000*6 + 1000*22.5 = 1.5 + 0.0225.
    sonnet = priced(plugin, llm_attrs("claude-sonnet-4-20250514", 250_000, 1_000))
    assert sonnet[COST_USD] == pytest.approx(1.5225)


@pytest.mark.parametrize(
    ("model", "entry"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("claude-opus-4-5-20251101", "claude-opus-4-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("claude-opus-4-0", "claude-opus-4"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-sonnet-4-6", "claude-sonnet-4-6"),
        ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
        ("anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
        ("GPT-4o", "gpt-4o"),
        ("openai/gpt-4.1", "gpt-4.1"),
        ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("o1-mini-2024-09-12", "o1-mini"),
        ("gpt-4-0613", "gpt-4"),
        ("models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("gemini-1.5-pro-002", "gemini-1.5-pro"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
    ],
)
def test_model_names_match_exactly_then_as_dated_snapshots(model: str, entry: str) -> None:
    found = PriceTable.builtin().lookup(model)
    assert found is not None
    assert found[0] == entry


@pytest.mark.parametrize(
    "model", ["claude-opus-4-7", "gpt-4o-audio-preview", "gpt-5.9", "my-finetune", "claude"]
)
def test_names_that_are_no_snapshot_of_an_entry_are_unknown(model: str) -> None:
    assert PriceTable.builtin().lookup(model) is None


def test_unknown_model_gets_no_cost_and_is_counted() -> None:
    plugin = CostPlugin()
    spans = [make_span(llm_attrs("my-finetune", 10, 10)) for _ in range(2)]
    out = plugin.process(spans)
    assert out[0] is spans[0]
    assert COST_USD not in (out[0].attributes or {})
    assert plugin.counts() == {"priced": 0, "unknown_model": 2, "no_usage": 0}
    assert plugin.unknown_models() == {"my-finetune": 2}


def test_response_model_first_then_request_model() -> None:
    plugin = CostPlugin()
    # An unknown response model name falls back to the request model.
    attrs = priced(plugin, llm_attrs("ft:gpt-4o:acme:1234", 1000, 0, request_model="gpt-4o"))
    assert attrs[COST_MODEL] == "gpt-4o"
    assert attrs[COST_USD] == pytest.approx(0.0025)


def test_spans_without_usage_or_model_are_left_alone() -> None:
    plugin = CostPlugin()
    spans = [
        make_span({"http.route": "/x"}),
        make_span(llm_attrs("gpt-4o")),
        make_span({"gen_ai.usage.input_tokens": 5}),
        make_span(llm_attrs("gpt-4o", True, None)),  # type: ignore[arg-type]
    ]
    assert [a is b for a, b in zip(plugin.process(spans), spans, strict=True)] == [True] * 4
    assert plugin.counts()["no_usage"] == 2


def test_the_shipped_price_table_covers_three_providers_with_cache_prices() -> None:
    table = PriceTable.builtin()
    by_provider: dict[str | None, list[str]] = {}
    for name, price in table.models.items():
        by_provider.setdefault(price.provider, []).append(name)
        assert price.output >= 0 and price.input >= 0
        if price.cache_read is not None:
            assert price.cache_read < price.input, name
    assert set(by_provider) == {"anthropic", "openai", "google"}
    for model in (
        "claude-sonnet-4-6",
        "claude-haiku-4-5",
        "gpt-5",
        "gpt-4.1",
        "o3",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
    ):
        assert model in table.models
    assert all(table.models[m].cache_write for m in by_provider["anthropic"])
    table.check_aliases()


@pytest.mark.parametrize("suffix", [".yaml", ".toml", ".json"])
def test_a_price_file_overrides_and_extends_the_table(tmp_path: Path, suffix: str) -> None:
    data = {
        "models": {
            "my-finetune": {"input": 1.0, "output": 2.0},
            "gpt-4o": {"input": 10.0, "output": 10.0},
        },
        "aliases": {"house-model": "claude-haiku-4-5"},
    }
    path = tmp_path / f"prices{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(data))
    elif suffix == ".yaml":
        path.write_text(
            "models:\n  my-finetune: {input: 1.0, output: 2.0}\n"
            "  gpt-4o: {input: 10.0, output: 10.0}\naliases:\n  house-model: claude-haiku-4-5\n"
        )
    else:
        path.write_text(
            "[models.my-finetune]\ninput = 1.0\noutput = 2.0\n"
            "[models.gpt-4o]\ninput = 10.0\noutput = 10.0\n"
            '[aliases]\nhouse-model = "claude-haiku-4-5"\n'
        )
    plugin = CostPlugin(price_file=str(path))
    assert priced(plugin, llm_attrs("my-finetune", 1_000_000, 1_000_000))[COST_USD] == 3.0
    assert priced(plugin, llm_attrs("gpt-4o-2024-08-06", 100_000, 0))[COST_USD] == 1.0
    assert priced(plugin, llm_attrs("house-model", 1_000_000, 0))[COST_MODEL] == (
        "claude-haiku-4-5"
    )
    assert priced(plugin, llm_attrs("o3", 1_000_000, 0))[COST_USD] == 2.0  # still shipped


def test_inline_prices_and_no_builtin_prices() -> None:
    plugin = CostPlugin(
        builtin_prices=False,
        prices={"acme-llm": {"input": 4, "output": 8, "cache_read": 1}},
        aliases={"acme": "acme-llm"},
    )
    attrs = priced(plugin, llm_attrs("acme", 2_000_000, 1_000_000, cache_read=1_000_000))
    assert attrs[COST_USD] == pytest.approx(4 + 1 + 8)
    assert plugin.table.lookup("gpt-4o") is None


@pytest.mark.parametrize(
    ("options", "option", "words"),
    [
        ({"price_file": "/nonexistent/prices.yaml"}, "price_file", "cannot read"),
        ({"price_file": "prices.ini"}, "price_file", "unknown configuration format"),
        ({"prices": {"m": {"input": -1, "output": 1}}}, "prices.m.input", "greater than"),
        ({"prices": {"m": {"input": 1}}}, "prices.m.output", "required"),
        (
            {"prices": {"m": {"input": 1, "output": 1, "cached": 1}}},
            "prices.m.cached",
            "unknown key",
        ),
        ({"aliases": {"a": "no-such-model"}}, "aliases", "no-such-model"),
        ({"builtin": False}, "builtin", "unknown option"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], option: str, words: str) -> None:
    with pytest.raises(PluginOptionError) as info:
        CostPlugin(**options)
    assert info.value.option == option
    assert words in str(info.value)


def test_a_bad_entry_in_a_price_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {"x": {"input": "cheap", "output": 1}}}))
    with pytest.raises(PluginOptionError) as info:
        CostPlugin(price_file=str(path))
    assert info.value.option == "price_file"
    assert f"{path}: models.x.input" in str(info.value)
