"""Bench 11: sync clicks over HTTP, store by store, with 1 and 2 uvicorn workers.

    python -m bench.stores_http                 # every store and worker count, 2 rounds of 5 s (~2 min)
    python -m bench.stores_http -d 10 --rounds 3
    python -m bench.stores_http --smoke         # a few seconds: proves it runs

``bench/_soak_app.py`` (eight counter widgets) is served by uvicorn on 127.0.0.1: MemoryStore by
one worker (it lives in its process), SQLite (one file) and PostgreSQL by one and by two.
``bench/_loadgen.py`` sends the +1 click over 16 keep-alive connections, either all on one widget
(clicks on one widget are serialized, so its rate is one action's latency) or spread over the
eight (two connections each). After each round every counter is read back: *lost* counts clicks
answered 200 and not stored (it must be 0). Exits non-zero when one is lost. Figures are in
``bench/README.md``, section 11. The load generator is Python too and shares the two cores with
the server: compare rows with each other, not with other machines.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import httpx

from bench._harness import environment
from bench.over_http import _python_loadgen
from bench.soak import WIDGETS, server, store_env, sync_body

CONFIGS = [("memory", 1), ("sqlite", 1), ("sqlite", 2), ("postgres", 1), ("postgres", 2)]


def _counts(url: str) -> list[int]:
    counts = []
    for widget in range(WIDGETS):
        answer = httpx.post(url, content=sync_body(widget, "soak.read"), timeout=30).json()
        counts.append(int(answer["updated_item"]["widget"]["children"][0]["value"]))
    return counts


def bench(store: str, workers: int, duration: float, rounds: int) -> dict[str, dict[str, float]]:
    """The median round of each scenario: one widget, eight widgets."""
    scenarios = {
        "one widget": [sync_body(0, "soak.add")],
        "8 widgets": [sync_body(w, "soak.add") for w in range(WIDGETS)],
    }
    found: dict[str, dict[str, float]] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        store_env(store, Path(tmp)) as env,
        server(store, workers, env, Path(tmp) / "server.log") as (url, _),
    ):
        for name, bodies in scenarios.items():
            runs = []
            for _ in range(rounds):
                before = _counts(url)
                run = _python_loadgen(httpx.URL(url).port or 80, "/chatkit", bodies, 16, duration)
                stored = sum(_counts(url)) - sum(before)
                ok = run["requests"] - run["errors"]
                runs.append({**run, "ok": ok, "lost": ok - stored})
            median = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
            found[name] = {
                **median,
                "lost": sum(r["lost"] for r in runs),
                "errors": sum(r["errors"] for r in runs),
            }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-d", "--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--store", choices=["memory", "sqlite", "postgres"], action="append")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per read-back
    configs = [c for c in CONFIGS if args.store is None or c[0] in args.store]
    if args.smoke:
        configs, args.duration, args.rounds = [("memory", 1), ("sqlite", 2)], 1.0, 1
    print(environment())
    print()
    print(
        "| store | workers | one widget: clicks/s | p50 / p99 ms | 8 widgets: clicks/s | p50 / p99 ms | not 200 | lost |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    lost = 0
    for store, workers in configs:
        found = bench(store, workers, args.duration, args.rounds)
        one, spread = found["one widget"], found["8 widgets"]
        lost += int(one["lost"] + spread["lost"])
        print(
            f"| {store} | {workers} | {one['rps']:,.0f} | {one['p50_ms']:.1f} / {one['p99_ms']:.1f} | "
            f"{spread['rps']:,.0f} | {spread['p50_ms']:.1f} / {spread['p99_ms']:.1f} | "
            f"{one['errors'] + spread['errors']:.0f} | {one['lost'] + spread['lost']:.0f} |",
            flush=True,
        )
    if args.smoke:
        print("(smoke run: not judged)")
    if lost:
        sys.exit(f"{lost} clicks were answered 200 and not stored")


if __name__ == "__main__":
    main()
