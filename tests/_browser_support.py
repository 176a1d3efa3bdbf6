"""What the browser tests share: finding Chromium (or saying why not), and the console they watch."""

from __future__ import annotations

import os
import re
import shutil
from typing import NoReturn

import pytest
from _stores_support import REPO

ARTIFACTS = REPO / "artifacts" / "playground"
"""Where the browser tests leave their screenshots (gitignored)."""
TIMEOUT_MS = 5000
"""The longest any one wait in a browser test may take."""
CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip the test saying why, or in CI (``CI`` set) fail it: CI must run what it can install."""
    if _in_ci():
        pytest.fail(f"{reason} — CI must run the browser tests (.ci/run installs Debian's chromium)")
    pytest.skip(reason)


def chromium_executable() -> str:
    """The Chromium to drive: ``CHATKIT_CHROMIUM``, else the first of ``CHROMIUM`` found."""
    for candidate in (os.environ.get("CHATKIT_CHROMIUM"), *CHROMIUM):
        found = shutil.which(candidate) if candidate else None
        if found:
            return found
    unavailable("no Chromium executable: apt-get install chromium (or set CHATKIT_CHROMIUM)")


class Console:
    """What the page said on its console, and the errors a test expects (by pattern)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.expected: list[re.Pattern[str]] = []

    def expect(self, pattern: str) -> None:
        """Allow console errors matching ``pattern`` (say, the resource error of an expected 422)."""
        self.expected.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [error for error in self.errors if not any(p.search(error) for p in self.expected)]
