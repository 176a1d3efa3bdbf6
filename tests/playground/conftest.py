"""The widget playground in a real browser: headless Chromium, driven by Playwright, against
the example apps served by uvicorn on 127.0.0.1.

The browser is Debian's ``chromium`` (``.ci/run`` installs it), never one Playwright would
download. Without one the tests skip, saying why, except in CI, where they fail. Every test
fails on a console error or an uncaught page error, and leaves a screenshot under
``artifacts/playground/`` (not committed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from _browser_support import ARTIFACTS, TIMEOUT_MS, Console, chromium_executable, unavailable
from _stores_support import REPO, serve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, timeout=30_000)
        yield launched
        launched.close()


def _server(tmp_path_factory: pytest.TempPathFactory, app: str) -> Iterator[str]:
    folder = tmp_path_factory.mktemp(app.split(".")[1])
    env = {"CHATKIT_SQLITE_PATH": str(folder / "chatkit.sqlite3")}
    with serve(env, log=folder / "server.log", app=app, app_dir=REPO) as url:
        yield url


@pytest.fixture(scope="module")
def counter_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The counter example (what ``make run`` serves), on a SQLite file of its own."""
    yield from _server(tmp_path_factory, "examples.counter.app:app")


@pytest.fixture(scope="module")
def form_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _server(tmp_path_factory, "examples.form.app:app")


@pytest.fixture(scope="module")
def jobs_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _server(tmp_path_factory, "examples.jobs.app:app")


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser: Browser, console: Console, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()

    def on_console(message: Any) -> None:
        if message.type == "error":
            console.errors.append(f"console: {message.text}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: console.errors.append(f"page error: {error}"))
    try:
        yield tab
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        context.close()
    assert console.unexpected() == []


@pytest.fixture(scope="module")
def bridge_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bridge example: one endpoint for a ChatKitServer, its poll template in the playground."""
    yield from _server(tmp_path_factory, "examples.bridge.app:app")
