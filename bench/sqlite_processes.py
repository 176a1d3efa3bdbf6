"""Bench 9: clicks on one widget over HTTP, one SQLite file served by 1 and 2 uvicorn workers.

    python -m bench.sqlite_processes                # 1 and 2 workers, 3 rounds of 10 s (~2 min)
    python -m bench.sqlite_processes --workers 2 -d 5 --rounds 1
    python -m bench.sqlite_processes --smoke        # a few seconds; proves it runs

The counter example (``examples.counter.app:app``) is served by ``uvicorn --workers N``
on 127.0.0.1, every worker opening the same SQLite file; bench/_loadgen.py sends the
counter's ``+1`` click, all on the one demo widget, over 16 keep-alive connections. Each
round reports the clicks per second answered, how many were answered 200, and the audit:
the stored count against the 200s (``lost``: answered 200, not stored; clicks on one widget
are serialized across the workers by SQLiteStore's lease locks, so it must be 0).
Exits non-zero when a click was lost. Figures are in ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec

from bench._harness import environment, stop
from bench.over_http import _free_port, _python_loadgen

ROOT = Path(__file__).resolve().parent.parent


def _click(by: int) -> bytes:
    return msgspec.json.encode(
        {
            "type": "threads.sync_custom_action",
            "params": {
                "thread_id": "thr_demo",
                "item_id": "wid_counter",
                "action": {"type": "counter.increment", "payload": {"by": by}},
            },
        }
    )


@contextmanager
def _serving(workers: int, path: Path) -> Iterator[int]:
    port = _free_port()
    env = {**os.environ, "CHATKIT_SQLITE_PATH": str(path)}
    command = [sys.executable, "-m", "uvicorn", "examples.counter.app:app", "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the server did not start")
            try:
                if httpx.post(f"http://127.0.0.1:{port}/chatkit", content=_click(0), timeout=5).is_success:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        time.sleep(3)  # the other workers start too (each seeds the demo widget if it is missing)
        yield port
    finally:
        stop(process, grace=15)


def _count(port: int) -> int:
    answer = httpx.post(f"http://127.0.0.1:{port}/chatkit", content=_click(0), timeout=30).json()
    return int(answer["updated_item"]["widget"]["children"][0]["value"])


def bench(workers: int, duration: float, rounds: int) -> list[dict[str, float]]:
    results = []
    with tempfile.TemporaryDirectory() as tmp, _serving(workers, Path(tmp, "bench.sqlite3")) as port:
        for _ in range(rounds):
            before = _count(port)
            run = _python_loadgen(port, "/chatkit", _click(1), 16, duration)
            ok = run["requests"] - run["errors"]
            stored = _count(port) - before
            results.append({**run, "ok": ok, "lost": ok - stored})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("-d", "--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.workers, args.duration, args.rounds = [2], 1.0, 1
    print(environment())
    print("| workers | clicks/s (median round) | p50 ms | p99 ms | answered 200 | not 200 | lost |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    lost = 0
    for workers in args.workers:
        runs = bench(workers, args.duration, args.rounds)
        lost += sum(int(r["lost"]) for r in runs)
        median = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
        print(
            f"| {workers} | {median['rps']:.0f} | {median['p50_ms']:.1f} | {median['p99_ms']:.1f} | "
            f"{sum(r['ok'] for r in runs):.0f} | {sum(r['errors'] for r in runs):.0f} | "
            f"{sum(r['lost'] for r in runs):.0f} |"
        )
        print(json.dumps({"workers": workers, "rps": [round(r["rps"]) for r in runs]}), file=sys.stderr)
    if args.smoke:
        print("(smoke run: not judged)")
    if lost:
        sys.exit(f"{lost} clicks were answered 200 and not stored")


if __name__ == "__main__":
    main()
