"""The public API: exported names, and the SDK importing without optional extras."""

from __future__ import annotations

import subprocess
import sys

import moxtrace


def test_all_names_are_exported_and_documented() -> None:
    for name in moxtrace.__all__:
        obj = getattr(moxtrace, name)
        if name != "__version__":
            assert obj.__doc__, f"{name} has no docstring"


def test_sdk_import_pulls_no_server_or_kafka_dependencies() -> None:
    code = (
        "import sys, moxtrace, moxtrace.tracing, moxtrace.session, moxtrace.types;"
        "heavy = {'fastapi', 'sqlalchemy', 'aiokafka', 'uvicorn', 'starlette'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _our_imports(package: str) -> dict[str, set[str]]:
    """``moxtrace.*`` modules imported by each file of a subpackage (read, not run)."""
    import ast
    from pathlib import Path

    root = Path(moxtrace.__file__).parent / package
    found: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[str(path)] = {n for n in names if n.startswith("moxtrace")}
    return found


def test_house_rules_on_imports() -> None:
    for path, names in _our_imports("types").items():
        assert all(n.startswith("moxtrace.types") for n in names), (path, names)
    for package in ("tracing", "session", "exporters"):
        for path, names in _our_imports(package).items():
            assert not any(n.startswith("moxtrace.server") for n in names), (path, names)
