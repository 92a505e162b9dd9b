"""Debian's Chromium, headless, driven by Playwright (the pip package's own driver).

Never ``playwright install``: the browser is the system's ``/usr/bin/chromium`` (apt
package ``chromium``, installed by .ci/services.sh), or ``$MOXTRACE_CHROMIUM``. Each
context gets a fresh profile directory, and Chromium is told not to phone home.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM_ARGS", "chromium_context", "chromium_path", "require_chromium"]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Flags for a quiet, headless Chromium in a container."""

INSTALL_HINT = (
    "the browser tests drive Debian's Chromium: `apt-get install -y chromium` (run "
    ".ci/services.sh) and `pip install -e '.[dev]'` (the playwright package); never "
    "`playwright install`"
)


def chromium_path() -> Path:
    """Where Chromium is: ``$MOXTRACE_CHROMIUM`` or ``/usr/bin/chromium``."""
    return Path(os.environ.get("MOXTRACE_CHROMIUM", "/usr/bin/chromium"))


def require_chromium() -> str | None:
    """None when Chromium and playwright are installed, else what is missing and how to fix it."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"playwright is not installed ({exc}); {INSTALL_HINT}"
    if not chromium_path().is_file():
        return f"no Chromium at {chromium_path()}; {INSTALL_HINT}"
    return None


@contextlib.contextmanager
def chromium_context(**options: Any) -> Iterator[Any]:
    """A Playwright ``BrowserContext`` in headless Chromium with a fresh profile.

    ``options`` go to ``launch_persistent_context`` (``viewport=...``).
    """
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="moxtrace-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(chromium_path()),
                headless=True,
                args=CHROMIUM_ARGS,
                **options,
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
