"""Browser tests: the trace viewer in headless Chromium against ``moxtrace serve``.

The session's fixtures run ``moxtrace demo --data-dir`` once (a subprocess, as a user
would), then serve its data directory with ``moxtrace serve`` on 127.0.0.1 and open one
Chromium (Debian's, via Playwright) for every test; each test gets a new tab, so it
starts logged out. Screenshots go to ``test-artifacts/e2e/`` (``$MOXTRACE_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_REPO_ROOT = Path(__file__).resolve().parents[2]
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from tests.e2e.browser import chromium_context, require_chromium  # noqa: E402
from tests.support.server import MoxtraceServer  # noqa: E402

_TRACE_LINE = re.compile(r"^trace ([0-9a-f]{32})  (\S+)", re.MULTILINE)


@dataclass(frozen=True)
class DemoData:
    """A server holding the demo's traces, and what the demo printed about them."""

    server: MoxtraceServer
    api_key: str
    output: str
    traces: list[tuple[str, str]]
    """(trace id, root span name) in the order the demo printed them."""

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def ui_url(self) -> str:
        return f"{self.server.base_url}/ui/"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (kept after the run; gitignored)."""
    path = Path(os.environ.get("MOXTRACE_TEST_ARTIFACTS", _REPO_ROOT / "test-artifacts")) / "e2e"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoData]:
    """``moxtrace demo`` run once, its data served by ``moxtrace serve``."""
    data_dir = tmp_path_factory.mktemp("e2e-demo") / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOXN_", "OTEL_"))}
    env["PYTHONIOENCODING"] = "utf-8"
    result = subprocess.run(
        [sys.executable, "-m", "moxtrace.cli", "demo", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
        timeout=180,
        stdin=subprocess.DEVNULL,
        cwd=_REPO_ROOT,
        env=env,
    )
    assert result.returncode == 0, f"moxtrace demo failed:\n{result.stdout}\n{result.stderr}"
    server = MoxtraceServer(data_dir)
    server.start()
    try:
        yield DemoData(
            server,
            (data_dir / "demo-api-key").read_text().strip(),
            result.stdout,
            _TRACE_LINE.findall(result.stdout),
        )
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium (a Playwright BrowserContext) per test module.

    Not per session: Playwright's sync API runs an event loop in this thread while it is
    open, and asyncio tests elsewhere in the suite cannot start theirs until it is closed.
    """
    missing = require_chromium()
    if missing:
        pytest.fail(missing, pytrace=False)
    with chromium_context(viewport={"width": 1440, "height": 900}) as context:
        context.set_default_timeout(15_000)
        yield context


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A new tab (logged out: the key lives in the tab's sessionStorage); fails the test
    if the page raised an uncaught JavaScript error."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield tab
    finally:
        tab.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
