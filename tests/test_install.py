"""What the README promises a new user: ``pip install "chatkit-handlers[server]"`` in a fresh
venv, the README's app in ``app.py``, ``litestar --app app:app run``, and the README's curl
commands get the answers it describes.

The wheel is built from this checkout (``pip wheel``), installed with its ``server`` extra into a
new venv (dependencies from the package index), and the app runs as a real process in a
directory holding only ``app.py``: nothing of the checkout (``examples``, ``tests``) is
importable there. The app and the requests are read from README.md, never copied here.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from routing_support import parse_sse
from test_docs import ROOT, blocks_of

APP_DOCSTRING = '"""app.py'
"""How the README's app block starts: its module docstring names the file."""

BUILD_TIMEOUT = 180.0
INSTALL_TIMEOUT = 300.0
START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 10.0


def readme_app() -> str:
    """The one Python block of README.md that is a whole app module (``app.py``)."""
    apps = [
        block.code
        for block in blocks_of((ROOT / "README.md").read_text())
        if block.lang == "python" and block.code.startswith(APP_DOCSTRING)
    ]
    assert len(apps) == 1, f"README.md needs exactly one python block starting with {APP_DOCSTRING}: the app"
    return apps[0]


def readme_requests() -> list[tuple[str, bytes]]:
    """The URL and body of each ``curl ... -d '<json>'`` in the bash block that runs the app."""
    runs = [
        block.code
        for block in blocks_of((ROOT / "README.md").read_text())
        if block.lang == "bash" and "litestar --app app:app run" in block.code
    ]
    assert len(runs) == 1, "README.md needs one bash block with `litestar --app app:app run` and its curls"
    requests = []
    for line in runs[0].splitlines():
        if not line.startswith("curl "):
            continue
        words = shlex.split(line)
        url = next(word for word in words if word.startswith("http://"))
        requests.append((url, words[words.index("-d") + 1].encode()))
    assert requests, "the README's run block has no curl command"
    return requests


def run(command: list[str | Path], timeout: float, **kwargs: Any) -> str:
    """Run ``command`` to its end within ``timeout`` seconds; its output, or a failure showing it."""
    try:
        done = subprocess.run(
            [str(part) for part in command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{command} did not finish within {timeout} s:\n{exc.stdout}\n{exc.stderr}")
    if done.returncode != 0:
        pytest.fail(f"{command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_serving(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``url`` answers (a GET: 405 from the endpoint); fails if the server exits or is too slow."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"litestar run exited with {server.returncode}:\n{log.read_text()}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"litestar run did not answer within {START_TIMEOUT} s:\n{log.read_text()}")


def test_a_fresh_venv_runs_the_readme_app(tmp_path: Path) -> None:
    app_source, requests = readme_app(), readme_requests()
    # The venv must not see this checkout or the project's venv.
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "VIRTUAL_ENV"}}

    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, ROOT], BUILD_TIMEOUT, env=env)
    (wheel,) = dist.glob("chatkit_handlers-*.whl")

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], INSTALL_TIMEOUT, env=env)
    python = venv / "bin" / "python"
    run([python, "-m", "pip", "install", "-q", f"{wheel}[server]"], INSTALL_TIMEOUT, env=env)

    home = tmp_path / "project"
    home.mkdir()
    (home / "app.py").write_text(app_source)
    imported = "import chatkit_handlers; print(chatkit_handlers.__file__)"
    where = run([python, "-c", imported], 60, cwd=home, env=env)
    assert Path(where.strip()).is_relative_to(venv), f"chatkit_handlers imported from {where}"

    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        litestar = venv / "bin" / "litestar"
        server = subprocess.Popen(
            [litestar, "--app", "app:app", "run", "--host", "127.0.0.1", "--port", str(port)],
            cwd=home,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        urls = [url.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for url, _ in requests]
        wait_until_serving(urls[0], server, log)
        # As curl -d sends them.
        headers = {"content-type": "application/x-www-form-urlencoded"}
        answers = [
            httpx.post(url, content=body, headers=headers, timeout=REQUEST_TIMEOUT)
            for url, (_, body) in zip(urls, requests, strict=True)
        ]
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)

    increment, reset = answers
    assert increment.status_code == 200, increment.text
    assert msgspec.json.decode(increment.content)["updated_item"]["widget"]["children"][0]["value"] == "2"

    assert reset.status_code == 200, reset.text
    assert reset.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(reset.content)
    assert [event["type"] for event in events] == ["stream_options", "progress_update", "thread.item.updated"]
    assert events[-1]["update"]["widget"]["children"][0]["value"] == "0"
