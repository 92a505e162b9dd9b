"""``moxtrace collector`` options: validation, environment, the command line, the docs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from moxtrace.cli import build_parser
from moxtrace.pipeline.settings import CollectorSettings, parse_listen

KAFKA = "kafka://127.0.0.1:9092/spans"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "pipeline.md"


def test_defaults_and_the_dead_letter_topic() -> None:
    settings = CollectorSettings(kafka=KAFKA, sinks=["otlp:http://127.0.0.1:4318"])
    assert settings.group == "moxtrace-collector"
    assert settings.dead_letters == "spans.dlq"
    assert (
        CollectorSettings(kafka=KAFKA, sinks=["moxn:"], dead_letter_topic="bad-spans").dead_letters
        == "bad-spans"
    )


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"sinks": ["moxn:"]}, "no source"),
        ({"kafka": KAFKA}, "no sink"),
        ({"kafka": "kafka://nowhere/spans", "sinks": ["moxn:"]}, "HOST:PORT"),
        ({"kafka": KAFKA, "sinks": ["moxn:"], "tenant": "a b"}, "letters"),
        ({"listen": "localhost", "sinks": ["moxn:"]}, "HOST:PORT"),
        ({"kafka": KAFKA, "sinks": ["moxn:"], "max_poll_records": 0}, "max_poll_records"),
    ],
)
def test_bad_settings_say_what_is_wrong(given: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CollectorSettings(**given)  # type: ignore[arg-type]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOXN_COLLECTOR_KAFKA", KAFKA)
    monkeypatch.setenv("MOXN_COLLECTOR_SINKS", '["store:sqlite+aiosqlite:///x.db", "moxn:"]')
    monkeypatch.setenv("MOXN_COLLECTOR_GROUP", "ingest-eu")
    settings = CollectorSettings()
    assert settings.sinks == ["store:sqlite+aiosqlite:///x.db", "moxn:"]
    assert settings.group == "ingest-eu"


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:4318") == ("127.0.0.1", 4318)
    assert parse_listen("[::1]:0") == ("::1", 0)


def collector_parser() -> object:
    return next(
        action.choices["collector"]  # type: ignore[attr-defined]
        for action in build_parser()._actions
        if action.dest == "command"
    )


def test_every_flag_is_a_setting_and_names_its_environment_variable() -> None:
    parser = collector_parser()
    actions = [a for a in parser._actions if a.option_strings != ["-h", "--help"]]  # type: ignore[attr-defined]
    fields = {a.dest for a in actions}
    assert fields == set(CollectorSettings.model_fields)
    for action in actions:
        assert f"MOXN_COLLECTOR_{action.dest.upper()}" in action.help


def test_the_docs_list_every_option_and_environment_variable() -> None:
    text = DOCS.read_text()
    parser = collector_parser()
    flags = {o for a in parser._actions for o in a.option_strings if o.startswith("--")}  # type: ignore[attr-defined]
    for flag in flags - {"--help"}:
        assert f"`{flag}`" in text, flag
    for name in CollectorSettings.model_fields:
        assert f"MOXN_COLLECTOR_{name.upper()}" in text, name
    assert "`--queue`" in text and "MOXN_SERVER_QUEUE" in text
    for option in ("send_timeout", "linger_ms", "compression", "max_record_bytes"):
        assert f"`{option}`" in text, option


def run_collector(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moxtrace.cli", "collector", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_bad_options_exit_2_with_a_message() -> None:
    result = run_collector("--kafka", KAFKA)
    assert result.returncode == 2
    assert "no sink" in result.stderr
    result = run_collector("--kafka", KAFKA, "--sink", "s3:bucket")
    assert result.returncode == 2
    assert re.search(r"sink 's3:bucket': expected KIND:TARGET", result.stderr)


def test_a_missing_plugin_configuration_exits_2(tmp_path: Path) -> None:
    result = run_collector(
        "--kafka", KAFKA, "--sink", "moxn:", "--config", str(tmp_path / "nope.yaml")
    )
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr
