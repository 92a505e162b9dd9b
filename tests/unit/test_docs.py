"""Every ``python`` block of the docs runs (blocks of one page share a namespace)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
RUNNABLE = ["tracing.md", "sessions.md", "instrumentation.md"]


@pytest.mark.parametrize("page", RUNNABLE)
def test_python_blocks_run(page: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = (DOCS / page).read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert blocks, f"{page} has no python blocks"
    namespace: dict[str, object] = {"__name__": f"docs_{page}"}
    for block in blocks:
        exec(compile(block, f"{page}", "exec"), namespace)
    out = capsys.readouterr().out
    # The values the page's comments promise.
    for expected in re.findall(r"print\(.*\)\s+# (.+)$", text, flags=re.M):
        assert expected.strip() in out, expected
