"""Bench 3: requests per second over HTTP on 127.0.0.1, ours against a bare Litestar ``@post``.

    python -m bench.over_http                      # uvicorn, and granian if installed (~8 min)
    python -m bench.over_http --servers uvicorn -d 10 --rounds 5
    python -m bench.over_http --smoke              # a few seconds; proves the pipeline works

One server process with one worker serves bench/_http_app.py (every variant
on one app); a load generator process drives one route at a time: wrk
(``apt-get install -y wrk``) with 1 thread and 16 keep-alive connections, or,
without wrk, bench/_loadgen.py (asyncio, same connections). Variants take turns
round after round, each for a bounded duration; the table shows the median
round's requests/s and its p50/p99 latency, and ratios as the median over
rounds of each round's ratio (paired: a noisy stretch slows both sides).

uvicorn runs with ``--loop uvloop --http httptools`` when both are installed
(``uvicorn[standard]``, what production deployments use), else its defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

from bench._apps import body
from bench._harness import Target, environment, print_targets, stop

ROOT = Path(__file__).resolve().parent.parent
SYNC = body(streaming=False)
STREAM = body(streaming=True)

VARIANTS = [
    ("ours: ChatKitPlugin, sync", "/chatkit", SYNC),
    ("bare @post", "/bare/post", SYNC),
    ("bare @asgi", "/bare/asgi", SYNC),
    ("peer fair, sync", "/peer/fair", SYNC),
    ("peer as shipped, sync", "/peer/shipped", SYNC),
    ("ours: ChatKitPlugin, stream", "/chatkit", STREAM),
    ("bare Stream", "/bare/stream", STREAM),
    ("peer fair, stream", "/peer/fair", STREAM),
]


@dataclass
class Rounds:
    """The load generator's results for one variant, one entry per round."""

    name: str
    runs: list[dict[str, float]] = field(default_factory=list)

    @property
    def median_run(self) -> dict[str, float]:
        ordered = sorted(self.runs, key=lambda r: r["rps"])
        return ordered[len(ordered) // 2]

    def ratio(self, baseline: Rounds) -> float:
        """req/s ÷ ``baseline``'s in the same round, the median over rounds (see ``Measured.ratio``)."""
        pairs = zip(self.runs, baseline.runs, strict=True)
        return statistics.median(ours["rps"] / base["rps"] for ours, base in pairs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_command(server: str, port: int, app: str = "bench._http_app:app") -> list[str]:
    if server == "uvicorn":
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        cmd += ["--workers", "1", "--log-level", "warning", "--no-access-log"]
        if find_spec("uvloop") and find_spec("httptools"):
            cmd += ["--loop", "uvloop", "--http", "httptools"]
        return cmd
    granian = Path(sys.executable).with_name("granian")
    return [
        str(granian),
        "--interface",
        "asgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
        app,
    ]


def _post(port: int, path: str, data: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, response.read()


@contextlib.contextmanager
def serving(
    server: str, app: str = "bench._http_app:app", env: dict[str, str] | None = None
) -> Iterator[int]:
    """Start ``server`` serving ``app`` (with ``env`` added) on a free port; stop it (this process's child only) on exit."""
    port = _free_port()
    # PYTHONPATH: the server imports this checkout's chatkit_handlers, whatever is installed.
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        _server_command(server, port, app), cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, _ = _post(port, "/bare/asgi", SYNC)
                if status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{server} did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        yield port
    finally:
        stop(proc)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk(port: int, path: str, data: bytes, connections: int, duration: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(data.decode())}\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(duration))}s",
                "--latency",
                "-s",
                script.name,
                f"http://127.0.0.1:{port}{path}",
            ],
            capture_output=True,
            text=True,
            timeout=duration + 30,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)

    def latency(q: str) -> float:
        m = re.search(rf"^\s*{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    requests = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests": float(requests.group(1)) if requests else 0.0,
        "errors": float(bad.group(1) if bad else 0) + (sum(int(g) for g in errors.groups()) if errors else 0),
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
    }


def _python_loadgen(
    port: int, path: str, data: bytes | list[bytes], connections: int, duration: float
) -> dict[str, float]:
    """``bench._loadgen`` in a process of its own; with several bodies, connection ``i`` sends body ``i % n``."""
    bodies = data if isinstance(data, list) else [data]
    files = []
    try:
        for body in bodies:
            with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
                f.write(body)
            files.append(f.name)
        command = [sys.executable, "-m", "bench._loadgen", "--port", str(port), "--path", path]
        command += [arg for name in files for arg in ("--body-file", name)]
        command += ["-c", str(connections), "-d", str(duration)]
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + 30, check=True, cwd=ROOT
        ).stdout
    finally:
        for name in files:
            os.unlink(name)
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def take_turns(
    port: int,
    variants: list[tuple[str, str, bytes]],
    drive: Callable[[int, str, bytes, int, float], dict[str, float]],
    *,
    rounds: int,
    duration: float,
    connections: int,
    warm_up: bool,
) -> list[Rounds]:
    """Check that every ``(name, path, body)`` answers (SSE for ``STREAM``, JSON otherwise), warm
    each up for a second if asked, then drive them in turn, round after round, each round starting
    one variant further along; any error ends the bench."""
    for name, path, data in variants:
        status, answer = _post(port, path, data)
        if status != 200 or not answer.startswith(b"data: " if data == STREAM else b"{"):
            raise SystemExit(f"{name}: {status} {answer[:200]!r}")
        if warm_up:
            drive(port, path, data, connections, 1.0)
    results = [Rounds(name) for name, _path, _data in variants]
    for r in range(rounds):
        shift = r % len(variants)
        for i in list(range(shift, len(variants))) + list(range(shift)):
            name, path, data = variants[i]
            run = drive(port, path, data, connections, duration)
            if run["errors"]:
                raise SystemExit(f"{name}: {run}")
            results[i].runs.append(run)
    return results


def bench_server(server: str, args: argparse.Namespace, loadgen: str) -> list[Rounds]:
    drive = _wrk if loadgen == "wrk" else _python_loadgen
    smoke_set = ("ours: ChatKitPlugin, sync", "bare @post", "ours: ChatKitPlugin, stream", "bare Stream")
    variants = [v for v in VARIANTS if not args.smoke or v[0] in smoke_set]
    with serving(server) as port:
        return take_turns(
            port,
            variants,
            drive,
            rounds=args.rounds,
            duration=args.duration,
            connections=args.connections,
            warm_up=not args.smoke,
        )


def print_http_table(server: str, loadgen: str, results: list[Rounds]) -> None:
    by_name = {r.name: r for r in results}
    width = max(len(r.name) for r in results)
    print(f"\n{server}, 1 worker; load: {loadgen}")
    head = f"{'variant':<{width}}  {'req/s':>9}  {'p50 ms':>7}  {'p99 ms':>7}  {'÷ bare @post':>12}  {'÷ bare Stream':>13}"
    print(head)
    print("-" * len(head))
    for r in results:
        m = r.median_run
        spread = statistics.pstdev([x["rps"] for x in r.runs]) / m["rps"] if len(r.runs) > 1 else 0.0
        print(
            f"{r.name:<{width}}  {m['rps']:>9,.0f}  {m['p50_ms']:>7.2f}  {m['p99_ms']:>7.2f}  "
            f"{r.ratio(by_name['bare @post']):>12.3f}  {r.ratio(by_name['bare Stream']):>13.3f}"
            + (f"   (±{spread:.0%} over rounds)" if spread else "")
        )
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="four variants, a fraction of a second each")
    parser.add_argument("--servers", default="uvicorn,granian")
    parser.add_argument("-d", "--duration", type=float, default=4.0, help="seconds per variant per round")
    parser.add_argument("-c", "--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.rounds, args.connections = 0.3, 1, 4
    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") and not args.smoke else "python"
    print(environment())
    targets = []
    for server in args.servers.split(","):
        if server == "granian" and not Path(sys.executable).with_name("granian").exists():
            print("\ngranian: not installed (pip install granian, or the `bench` extra); skipped")
            continue
        results = bench_server(server, args, loadgen)
        print_http_table(server, loadgen, results)
        m = {r.name: r for r in results}
        targets += [
            Target(
                f"{server}: ours ÷ bare @post, req/s",
                m["ours: ChatKitPlugin, sync"].ratio(m["bare @post"]),
                1.2,
                False,
            ),
        ]
    print_targets(targets, smoke=args.smoke)


if __name__ == "__main__":
    main()
