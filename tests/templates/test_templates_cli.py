"""``python -m chatkit_handlers render`` and ``litestar chatkit render``: one command, two CLIs."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chatkit_handlers import ActionRouter
from chatkit_handlers.__main__ import main
from chatkit_handlers.litestar.cli import chatkit_group
from chatkit_handlers.templates import WidgetTemplate

ROOT = Path(__file__).resolve().parents[2]
WIDGETS = Path(__file__).parent / "widgets"
FLIGHTS = WIDGETS / "flights.widget"
ORDER = WIDGETS / "order.widget"
POLL = ROOT / "examples" / "bridge" / "poll.widget"

Run = Callable[..., tuple[int, str, str]]
"""Runs ``render`` with the given arguments: ``(exit status, stdout, stderr)``."""


@pytest.fixture(params=["python -m chatkit_handlers", "litestar chatkit"])
def render(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> Run:
    if request.param == "python -m chatkit_handlers":

        def run_main(*args: str, stdin: str = "") -> tuple[int, str, str]:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
                status = main(["render", *args])
            captured = capsys.readouterr()
            return status, captured.out, captured.err

        return run_main
    group = chatkit_group(ActionRouter)

    def run_click(*args: str, stdin: str = "") -> tuple[int, str, str]:
        result = CliRunner().invoke(group, ["render", *args], input=stdin)
        return result.exit_code, result.stdout, result.stderr

    return run_click


def test_renders_with_the_templates_sample_data(render: Run) -> None:
    status, out, err = render(str(FLIGHTS))
    assert (status, err) == (0, "")
    assert json.loads(out) == WidgetTemplate.from_file(FLIGHTS).preview
    assert out.startswith('{\n  "type": "ListView",')  # indented for reading
    assert "SFO → JFK" in out  # unicode as it is


def test_renders_with_data_from_a_file_or_standard_input(render: Run, tmp_path: Path) -> None:
    data = {"question": 'Pizza or "sushi"?', "yes": 4, "no": 2, "closed": True}
    (tmp_path / "poll.json").write_text(json.dumps(data))
    status, out, _ = render(str(POLL), "--data", str(tmp_path / "poll.json"))
    assert status == 0
    assert json.loads(out) == WidgetTemplate.from_file(POLL).render(data)
    status, out, _ = render(str(POLL), "-d", "-", stdin=json.dumps(data))
    assert status == 0
    assert json.loads(out) == WidgetTemplate.from_file(POLL).render(data)


def test_bad_data_exits_2_naming_the_field(render: Run, tmp_path: Path) -> None:
    data: dict[str, Any] = json.loads(json.dumps(WidgetTemplate.from_file(ORDER).sample_data))
    data["lines"][1]["qty"] = "two"
    (tmp_path / "order.json").write_text(json.dumps(data))
    status, out, err = render(str(ORDER), "--data", str(tmp_path / "order.json"))
    assert (status, out) == (2, "")
    assert err.startswith("error: the data for widget template 'order'")
    assert "  data.lines[1].qty: 'two' is not of type 'integer'\n" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [str(POLL)],
            "poll.widget carries no sample data (the builder's encodedWidget): pass a JSON file of data",
        ),
        ([str(WIDGETS / "nope.widget")], "cannot read"),
        ([str(FLIGHTS), "--data", str(WIDGETS / "nope.json")], "nope.json: No such file or directory"),
        ([str(FLIGHTS), "--data", "-"], "the data in standard input is not JSON"),
        ([str(ROOT / "README.md")], "README.md is not JSON"),
    ],
)
def test_other_failures_exit_2_with_a_message(render: Run, args: list[str], message: str) -> None:
    status, out, err = render(*args, stdin="{")
    assert (status, out) == (2, "")
    assert err.startswith("error: ")
    assert message in err


def test_without_the_extra_it_says_what_to_install(render: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jinja2", None)
    monkeypatch.delitem(sys.modules, "chatkit_handlers.templates")
    status, _, err = render(str(FLIGHTS))
    assert status == 2
    assert 'pip install "chatkit-handlers[templates]"' in err


def test_python_dash_m_renders_in_a_fresh_process(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"origin": "SFO", "destination": "JFK", "flights": [{"id": 1}]}')
    command = [sys.executable, "-m", "chatkit_handlers", "render", str(FLIGHTS)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["children"][0]["key"] == "fl_ua512"
    failed = subprocess.run(
        [*command, "--data", str(tmp_path / "bad.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert failed.returncode == 2
    assert "data.flights[0].id: 1 is not of type 'string'" in failed.stderr


def test_litestars_cli_renders_for_an_app(tmp_path: Path) -> None:
    env = {**os.environ, "CHATKIT_SQLITE_PATH": str(tmp_path / "cli.sqlite3"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "litestar",
            "--app",
            "examples.counter.app:app",
            "chatkit",
            "render",
            str(ORDER),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == WidgetTemplate.from_file(ORDER).preview


def test_the_package_and_its_other_commands_need_no_jinja2(tmp_path: Path) -> None:
    """A fresh interpreter where jinja2 and jsonschema cannot be imported."""
    script = """
import sys

class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("jinja2", "jsonschema"):
            raise ImportError(f"No module named {name!r}")

sys.meta_path.insert(0, Absent())
import chatkit_handlers, chatkit_handlers.litestar, chatkit_handlers.testing
from chatkit_handlers.__main__ import main
assert main(["routes", "examples.counter.app:router"]) == 0
assert main(["render", sys.argv[1]]) == 2
"""
    env = {**os.environ, "CHATKIT_SQLITE_PATH": str(tmp_path / "cli.sqlite3"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(FLIGHTS)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "counter.increment" in done.stdout
    assert "error: chatkit_handlers.templates needs jinja2 and jsonschema" in done.stderr
    assert 'pip install "chatkit-handlers[templates]"' in done.stderr
