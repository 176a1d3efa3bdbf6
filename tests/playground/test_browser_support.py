"""Without a Chromium the browser tests skip and say why, except in CI, where they fail."""

from __future__ import annotations

import shutil

import pytest
from _browser_support import Console, chromium_executable


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CHATKIT_CHROMIUM", raising=False)


@pytest.mark.usefixtures("no_chromium")
def test_without_chromium_the_browser_tests_skip_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Chromium executable: apt-get install chromium"):
        chromium_executable()


@pytest.mark.usefixtures("no_chromium")
def test_in_ci_a_missing_chromium_fails_the_browser_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        chromium_executable()


def test_chatkit_chromium_names_the_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATKIT_CHROMIUM", "/bin/sh")  # any executable will do for finding one
    assert chromium_executable() == "/bin/sh"


def test_expected_console_errors_are_told_apart() -> None:
    console = Console()
    console.errors += [
        "console: Failed to load resource: the server responded with a status of 422",
        "page error: x",
    ]
    console.expect("status of 422")
    assert console.unexpected() == ["page error: x"]
