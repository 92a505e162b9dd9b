"""``load_plugins``: YAML, TOML and JSON files and mappings; entry points and import
paths; errors that name the file, the entry, the plugin and the option."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collector_plugins import CostPlugin, GenAINormalizePlugin, RedactPlugin, TailSamplingPlugin
from moxtrace.pipeline.config import (
    PluginConfigError,
    available_plugins,
    load_plugins,
    read_config_file,
)
from tests.unit.plugins.custom import DropRoutes
from tests.unit.plugins.spans import make_span

YAML = """\
# the chain, in order
plugins:
  - genai_normalize
  - name: redact
    options:
      mask: "<{kind}>"
      patterns:
        ticket: "TICKET-[0-9]{6}"
      deny_attributes: ["app.secret.*"]
  - name: cost
    options:
      prices:
        house-model: {input: 1.0, output: 2.0}
  - name: tail_sampling
    options: {decision_wait: 2.5, sample_rate: 0.25, latency_threshold_ms: null}
  - name: tail_sampling
    enabled: false
    options: {sample_rate: 1}
sinks: [ignored by load_plugins]
"""

TOML = """\
[[plugins]]
name = "genai_normalize"

[[plugins]]
name = "redact"
[plugins.options]
mask = "<{kind}>"
deny_attributes = ["app.secret.*"]
[plugins.options.patterns]
ticket = "TICKET-[0-9]{6}"

[[plugins]]
name = "cost"
[plugins.options.prices.house-model]
input = 1.0
output = 2.0

[[plugins]]
name = "tail_sampling"
[plugins.options]
decision_wait = 2.5
sample_rate = 0.25

[[plugins]]
name = "tail_sampling"
enabled = false
options = { sample_rate = 1 }
"""


def check_chain(plugins: list[Any]) -> None:
    assert [type(p) for p in plugins] == [
        GenAINormalizePlugin,
        RedactPlugin,
        CostPlugin,
        TailSamplingPlugin,
    ]
    redact, cost, sampling = plugins[1], plugins[2], plugins[3]
    [span] = redact.process([make_span({"a": "TICKET-123456 by ann@x.io", "app.secret.x": "s"})])
    assert span.attributes == {"a": "<ticket> by <email>", "app.secret.x": "<attribute>"}
    assert cost.table.lookup("house-model")[0] == "house-model"
    assert (sampling.options.decision_wait, sampling.options.sample_rate) == (2.5, 0.25)


@pytest.mark.parametrize(("suffix", "text"), [(".yaml", YAML), (".yml", YAML), (".toml", TOML)])
def test_a_chain_from_yaml_and_toml_files(tmp_path: Path, suffix: str, text: str) -> None:
    path = tmp_path / f"plugins{suffix}"
    path.write_text(text)
    check_chain(load_plugins(path))
    check_chain(load_plugins(str(path)))


def test_a_chain_from_json_and_from_a_mapping(tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(YAML)
    path = tmp_path / "plugins.json"
    path.write_text(json.dumps(data))
    check_chain(load_plugins(path))
    check_chain(load_plugins(data))
    assert load_plugins({"plugins": []}) == []
    assert load_plugins({"plugins": None}) == []


def test_the_shipped_plugins_are_entry_points() -> None:
    found = {name: ep.load() for name, ep in available_plugins().items()}
    assert {
        "redact": RedactPlugin,
        "cost": CostPlugin,
        "tail_sampling": TailSamplingPlugin,
        "genai_normalize": GenAINormalizePlugin,
    }.items() <= found.items()
    for name, cls in found.items():
        assert cls.name == name


def test_a_plugin_by_import_path() -> None:
    [plugin] = load_plugins(
        {
            "plugins": [
                {"name": "tests.unit.plugins.custom:DropRoutes", "options": {"routes": ["/x"]}}
            ]
        }
    )
    assert isinstance(plugin, DropRoutes)
    spans = [make_span({"http.route": "/x"}), make_span({"http.route": "/y"})]
    assert plugin.process(spans) == spans[1:]


def where(exc: PluginConfigError) -> tuple[str, int | None, str | None, str | None]:
    return exc.source, exc.entry, exc.plugin, exc.option


def test_a_bad_option_names_the_file_entry_plugin_and_option(tmp_path: Path) -> None:
    path = tmp_path / "plugins.yaml"
    path.write_text("plugins:\n  - cost\n  - name: tail_sampling\n    options: {sample_rate: 3}\n")
    with pytest.raises(PluginConfigError) as info:
        load_plugins(path)
    assert where(info.value) == (str(path), 1, "tail_sampling", "sample_rate")
    message = str(info.value)
    assert message.startswith(f"{path}: plugins[1] (tail_sampling): option 'sample_rate': ")
    assert "less than or equal to 1" in message


def test_a_bad_option_of_a_disabled_entry_is_still_an_error() -> None:
    with pytest.raises(PluginConfigError) as info:
        load_plugins({"plugins": [{"name": "redact", "enabled": False, "options": {"mask": 1}}]})
    assert where(info.value) == ("<mapping>", 0, "redact", "mask")


@pytest.mark.parametrize(
    ("entries", "entry", "plugin", "option", "words"),
    [
        ([{"name": "nope"}], 0, "nope", None, "installed: "),
        (["cost", {"options": {}}], 1, None, None, "'name' is missing"),
        ([42], 0, None, None, "got int"),
        ([{"name": "redact", "mask": "x"}], 0, "redact", "mask", "go under 'options'"),
        ([{"name": "redact", "options": ["x"]}], 0, "redact", "options", "must be a mapping"),
        ([{"name": "redact", "enabled": "yes"}], 0, "redact", "enabled", "true or false"),
        ([{"name": "redact", "options": {"colour": 1}}], 0, "redact", "colour", "unknown option"),
        (
            [{"name": "tests.unit.plugins.custom:NOT_A_PLUGIN"}],
            0,
            "tests.unit.plugins.custom:NOT_A_PLUGIN",
            None,
            "not a CollectorPlugin",
        ),
        ([{"name": "tests.unit.plugins.nowhere:X"}], 0, "tests.unit.plugins.nowhere:X", None, ""),
    ],
)
def test_bad_entries(
    entries: list[Any], entry: int, plugin: str | None, option: str | None, words: str
) -> None:
    with pytest.raises(PluginConfigError) as info:
        load_plugins({"plugins": entries})
    assert where(info.value) == ("<mapping>", entry, plugin, option)
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("p.yaml", "plugins: [cost\n", "cannot parse"),
        ("p.toml", "plugins = [", "cannot parse"),
        ("p.json", "{", "cannot parse"),
        ("p.yaml", "- cost\n", "expected a mapping at the top, got list"),
        ("p.yaml", "sinks: []\n", "no 'plugins' list"),
        ("p.yaml", "plugins: cost\n", "'plugins' must be a list"),
        ("p.ini", "[plugins]\n", "unknown configuration format '.ini'"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, name: str, text: str, words: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PluginConfigError) as info:
        load_plugins(path)
    assert info.value.source == str(path)
    assert str(info.value).startswith(f"{path}: ")
    assert words in str(info.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PluginConfigError, match=r"missing\.yaml: cannot read"):
        read_config_file(tmp_path / "missing.yaml")
