"""Bench 12: the default store over HTTP, against ``MemoryStore`` and the peer over SQLite (issue 19's target).

    python -m bench.default_store                 # 5 rounds of 4 s per variant (~3 min)
    python -m bench.default_store -d 10 --rounds 5
    python -m bench.default_store --smoke         # a few seconds: proves it runs

One uvicorn process, one worker (``--loop uvloop --http httptools`` when
installed), serves ``bench/_stores_app.py``: the counter's sync (``+1``) and
streaming (one widget update, saved) actions by ours on ``MemoryStore``, ours on
``SQLiteStore`` (leases on: clicks serialized across processes) and
openai-chatkit's server on a SQLite store of its own (``bench/_peer_sqlite.py``).
Every click goes to the one widget of each. wrk (1 thread, 16 keep-alive
connections; ``bench/_loadgen.py`` without wrk) drives one variant at a time,
variants taking turns round after round; ratios are per round, then the median
over rounds (paired: a noisy stretch slows every variant alike). After the run,
an audit round per store (the Python load generator, which waits for every
answer) reads the counter before and after: SQLite must hold every click
answered 200 (the peer, which takes no lock, may not). The targets: SQLite's throughput
≥ 0.4× ``MemoryStore``'s and ≥ 2× the peer's, sync and streaming.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from bench._apps import body
from bench._harness import Target, environment, print_targets
from bench.over_http import STREAM, SYNC, Rounds, _post, _python_loadgen, _wrk, serving, take_turns

READ = body(streaming=False, payload={"by": 0})

VARIANTS = [
    ("memory, sync", "/chatkit", SYNC),
    ("sqlite, sync", "/chatkit-sqlite", SYNC),
    ("peer sqlite, sync", "/peer/sqlite", SYNC),
    ("memory, stream", "/chatkit", STREAM),
    ("sqlite, stream", "/chatkit-sqlite", STREAM),
    ("peer sqlite, stream", "/peer/sqlite", STREAM),
]


def _count(port: int, path: str) -> int:
    """The counter's value, by a ``+0`` click."""
    status, answer = _post(port, path, READ)
    assert status == 200, answer
    return int(json.loads(answer)["updated_item"]["widget"]["children"][0]["value"])


def run(duration: float, rounds: int, connections: int, loadgen: str) -> tuple[list[Rounds], dict[str, int]]:
    """Every variant's rounds, and per store the clicks answered 200 but not stored in an audit round."""
    drive = _wrk if loadgen == "wrk" else _python_loadgen
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "BENCH_SQLITE": str(Path(tmp, "ours.sqlite3")),
            "BENCH_PEER_SQLITE": str(Path(tmp, "peer.sqlite3")),
        }
        with serving("uvicorn", "bench._stores_app:app", env) as port:
            results = take_turns(
                port,
                VARIANTS,
                drive,
                rounds=rounds,
                duration=duration,
                connections=connections,
                warm_up=duration >= 1,
            )
            # The audit: the Python load generator waits for every answer (wrk leaves some in
            # flight when it stops), so the clicks it saw answered 200 are exactly those sent.
            lost = {}
            for path in ("/chatkit", "/chatkit-sqlite", "/peer/sqlite"):
                before = _count(port, path)
                ok = _ok(_python_loadgen(port, path, SYNC, connections, min(duration, 2.0)))
                lost[path] = (before + ok - _count(port, path)) % 1000
    return results, lost


def _ok(result: dict[str, float]) -> int:
    return int(result["requests"] - result["errors"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-d", "--duration", type=float, default=4.0, help="seconds per variant per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-c", "--connections", type=int, default=16)
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.rounds, args.connections = 0.3, 1, 4
    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") and not args.smoke else "python"
    print(environment())
    results, lost = run(args.duration, args.rounds, args.connections, loadgen)
    by_name = {r.name: r for r in results}
    print(f"\nuvicorn, 1 worker; load: {loadgen}, {args.connections} connections, all on one widget")
    print("| variant | req/s (median round) | p50 / p99 ms | ÷ memory | sqlite ÷ it |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in results:
        mode = r.name.split(", ")[1]
        m = r.median_run
        print(
            f"| {r.name} | {m['rps']:,.0f} | {m['p50_ms']:.2f} / {m['p99_ms']:.2f} | "
            f"{r.ratio(by_name['memory, ' + mode]):.3f} | {by_name['sqlite, ' + mode].ratio(r):.3f} |"
        )
    print(f"\naudit round: clicks answered 200 but not stored (mod 1000): {lost}")
    targets = []
    for mode in ("sync", "stream"):
        sqlite = by_name[f"sqlite, {mode}"]
        targets += [
            Target(f"sqlite ÷ memory, {mode}", sqlite.ratio(by_name[f"memory, {mode}"]), 0.4, False),
            Target(
                f"sqlite ÷ peer over sqlite, {mode}",
                sqlite.ratio(by_name[f"peer sqlite, {mode}"]),
                2.0,
                False,
            ),
        ]
    print_targets(targets, smoke=args.smoke)
    if lost["/chatkit-sqlite"] or lost["/chatkit"]:
        raise SystemExit("a click answered 200 was not stored")


if __name__ == "__main__":
    main()
