"""docs/plugins.md: its Python runs and prints what it says; its configurations load;
its tables list exactly the options, kinds, attributes and counters of the code."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from collector_plugins.cost import Cost, CostOptions, PriceTable
from collector_plugins.genai_normalize import GenAINormalizeOptions
from collector_plugins.redact import BUILTIN_PATTERNS, RedactOptions
from collector_plugins.tail_sampling import TailSamplingOptions, TailSamplingPlugin
from moxtrace.pipeline.config import available_plugins, load_plugins

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PAGE = Path(__file__).resolve().parents[3] / "docs" / "plugins.md"
TEXT = PAGE.read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", TEXT, flags=re.S | re.M)


def section(name: str) -> str:
    match = re.search(rf"^## `{name}`\n(.*?)(?=^## |\Z)", TEXT, flags=re.S | re.M)
    assert match is not None, f"no section for {name}"
    return match.group(1)


def first_column(text: str, header: str) -> set[str]:
    """Backticked names in the first column of the tables whose first header is ``header``."""
    names: set[str] = set()
    for table in re.findall(rf"^\| {header} \|.*?(?=^[^|]|\Z)", text, flags=re.S | re.M):
        names.update(re.findall(r"^\| `([^`]+)` \|", table, flags=re.M))
    return names


def test_python_blocks_run_and_print_what_they_say(capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, object] = {"__name__": "docs_plugins"}
    for block in blocks("python"):
        exec(compile(block, str(PAGE), "exec"), namespace)
    out = capsys.readouterr().out.splitlines()
    promised = re.findall(r"print\(.*\)\s+# (.+)$", TEXT, flags=re.M)
    assert promised
    assert [line.strip() for line in out] == [p.strip() for p in promised]


def test_configurations_on_the_page_load(tmp_path: Path) -> None:
    installed = set(available_plugins())
    documents = [yaml.safe_load(b) for b in blocks("yaml")] + [
        tomllib.loads(b) for b in blocks("toml")
    ]
    chains = [d for d in documents if isinstance(d, dict) and "plugins" in d]
    assert len(chains) >= 3
    for chain in chains:
        names = {e if isinstance(e, str) else e["name"] for e in chain["plugins"]}
        if names <= installed:  # the "writing a plugin" example names an uninstalled one
            assert load_plugins(chain)
    [prices] = [d for d in documents if isinstance(d, dict) and "models" in d]
    merged = PriceTable.builtin().merged(PriceTable.from_mapping(prices))
    merged.check_aliases()


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("redact", RedactOptions),
        ("cost", CostOptions),
        ("tail_sampling", TailSamplingOptions),
        ("genai_normalize", GenAINormalizeOptions),
    ],
)
def test_every_option_is_documented_and_nothing_else(name: str, options: type) -> None:
    assert first_column(section(name), "option") == set(options.model_fields)  # type: ignore[attr-defined]


def test_redaction_kinds_cost_attributes_and_sampling_counters_are_the_codes() -> None:
    kinds = first_column(section("redact"), "kind")
    assert kinds == {*BUILTIN_PATTERNS, "attribute", "field"}
    attributes = first_column(section("cost"), "attribute")
    assert attributes == set(Cost("m", 0, 0, 0, 0).attributes())
    counters = set(re.findall(r"`([a-z_]+)`", section("tail_sampling").split("`counts()`:")[1]))
    assert counters == set(TailSamplingPlugin().counts())
