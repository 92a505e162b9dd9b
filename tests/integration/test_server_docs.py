"""The ``bash`` blocks of docs/ingest-api.md run against a real server and do what they say;
docs/server.md documents every option."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pytest

from moxtrace.cli import build_parser
from moxtrace.server.settings import ServerSettings
from tests.support.server import MoxtraceServer

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_curl_examples_run(shared_moxtrace_server: MoxtraceServer, tmp_path: Path) -> None:
    server = shared_moxtrace_server
    text = (DOCS / "ingest-api.md").read_text()
    blocks = re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) >= 8
    script = tmp_path / "examples.sh"
    # Every block, in order, in one shell (blocks share variables); then what a test needs.
    script.write_text(
        "set -euo pipefail\n" + "\n".join(blocks) + '\necho; echo "TRACE_ID=$TRACE_ID"\n'
    )
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "MOXN_BASE_URL": server.base_url,
        "MOXN_API_KEY": server.create_key("docs"),
        "HOME": str(tmp_path),
    }
    result = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    trace_id = re.search(r"^TRACE_ID=(\w+)$", result.stdout, re.M).group(1)  # type: ignore[union-attr]

    trace = httpx.get(
        f"{server.base_url}/traces/{trace_id}", headers={"x-api-key": env["MOXN_API_KEY"]}
    ).json()["data"]
    assert trace["span_count"] == 3
    assert trace["error_count"] == 1
    assert trace["usage"] == {"input_tokens": 120, "output_tokens": 48}
    spans = {s["name"]: s for s in trace["spans"]}
    assert [s["depth"] for s in trace["spans"]] == [0, 1, 1]
    (tool,) = spans["chat"]["log_events"]
    assert tool["content"] == {"results": ["a very long document …"]}
    assert spans["retrieve"]["kind"] == "client"
    assert '"accepted":4' in result.stdout
    assert "events[0].trace_id:" in result.stdout
    assert '"stored":true' in result.stdout


def test_server_md_documents_every_option() -> None:
    text = (DOCS / "server.md").read_text()
    serve = next(
        action.choices["serve"]  # type: ignore[union-attr]
        for action in build_parser()._actions
        if action.dest == "command"
    )
    flags = {o for a in serve._actions for o in a.option_strings if o.startswith("--")}
    for flag in flags - {"--help"}:
        assert f"`{flag}`" in text, flag
    for name in ServerSettings.model_fields:
        assert f"MOXN_SERVER_{name.upper()}" in text, name
