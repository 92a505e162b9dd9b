"""docs/configuration.md lists every setting: a variable that is not documented is a bug."""

from __future__ import annotations

from pathlib import Path

from moxtrace.settings import Settings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()


def env_names() -> list[str]:
    names = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if alias is None:
            names.append(f"MOXN_{name.upper()}")
        elif isinstance(alias, str):
            names.append(alias)
        else:
            names.extend(str(choice) for choice in alias.choices)  # type: ignore[union-attr]
    return names


def test_every_environment_variable_is_documented() -> None:
    missing = [name for name in env_names() if f"`{name}`" not in DOC]
    assert not missing, f"docs/configuration.md does not document {missing}"
