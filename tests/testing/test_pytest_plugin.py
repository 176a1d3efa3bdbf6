"""The pytest plugin, loaded through its pytest11 entry point in a fresh pytest process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CONFTEST = """
import pytest

from chatkit_handlers import ActionRouter
from examples.counter import handlers


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def action_router():
    router = ActionRouter()
    router.include(handlers)
    return router
"""

TESTS = """
import pytest

from chatkit_handlers.errors import NotFoundError
from chatkit_handlers.testing import ActionTestClient, assert_widget_updated, make_widget_item
from examples.counter.widgets import counter_card


@pytest.mark.anyio
async def test_action_client(action_client, memory_store):
    assert isinstance(action_client, ActionTestClient)
    assert action_client.store is memory_store
    item = make_widget_item(counter_card(0))
    assert_widget_updated(await action_client.sync("counter.increment", {"by": 2}, sender=item), counter_card(2))
    assert_widget_updated(await action_client.stream("counter.reset", sender=item), counter_card(0))


@pytest.mark.anyio
async def test_each_test_gets_a_fresh_store(memory_store):
    with pytest.raises(NotFoundError):
        await memory_store.load_thread("thr_test")
"""

APP_TESTS = """
import pytest

from examples.counter.app import app
from examples.counter.widgets import counter_card


@pytest.fixture
def action_router():
    return app


@pytest.mark.anyio
async def test_app_is_entered_so_its_startup_ran(action_client):
    assert action_client.app is app
    assert await action_client.widget("wid_counter", thread="thr_demo") == counter_card(0)
"""


def run_pytest(tmp_path: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    # The counter app keeps its threads in this SQLite file: a fresh one, not the suite's.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CHATKIT_SQLITE_PATH": str(tmp_path / "counter.sqlite3")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_fixtures_work_with_anyio_and_no_asyncio_plugin(tmp_path: Path) -> None:
    files = {"conftest.py": CONFTEST, "test_counter.py": TESTS, "test_app.py": APP_TESTS}
    result = run_pytest(tmp_path, files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_missing_action_router_says_what_to_define(tmp_path: Path) -> None:
    test = """
    import pytest

    @pytest.fixture
    def anyio_backend():
        return "asyncio"

    @pytest.mark.anyio
    async def test_needs_router(action_client):
        pass
    """
    result = run_pytest(tmp_path, {"test_no_router.py": test})
    assert result.returncode != 0
    assert "define a fixture named `action_router`" in result.stdout


def test_the_plugin_imports_nothing_of_the_package_until_a_fixture_is_used(tmp_path: Path) -> None:
    """Another project's test run pays nothing, and coverage sees the package's first import."""
    test = """
    import sys

    def test_not_imported():
        assert "pytest_chatkit_handlers" in sys.modules  # the plugin is loaded
        assert not any(name.split(".")[0] == "chatkit_handlers" for name in sys.modules)
        assert "litestar" not in sys.modules
    """
    result = run_pytest(tmp_path, {"test_other_project.py": test})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
