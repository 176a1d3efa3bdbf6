"""Bench 6: instructions per call, counted by valgrind (callgrind): the same on any machine load.

    python -m bench.instructions            # full run (~3 min; needs valgrind: apt-get install valgrind)
    python -m bench.instructions --smoke    # a few seconds, without valgrind; proves every variant answers

The timed benches (``bench.request``, ``bench.core``) give ratios of seconds, which a noisy
shared machine moves by several percent from run to run, and which differ between CPUs (the
same code gave 1.9x and 2.5x its floor on two machines of this project). This bench runs each
variant of theirs in a child process under ``valgrind --tool=callgrind`` and counts the CPU
instructions of ``--calls`` calls: a count that repeats exactly for the same code, whatever
else the machine does. Instructions are not time (a cache miss costs no instruction), so these
ratios complement the timed ones, they do not replace them: the targets are on time.

Each child warms its variant up, then runs the calls between ``oct(0)`` and ``bin(0)``, two
builtins no variant calls: callgrind zeroes its counters on entering the first
(``--zero-before``) and writes them out on entering the second (``--dump-before``), so the
count holds exactly the calls, not the interpreter's start-up. The calls run in an asyncio
event loop, awaited one after the other, as the timed benches run them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench._harness import Target, asgi_request, environment, print_targets

# (group, variant): how the child builds it is in _variant().
CORE_SYNC = [
    "floor",
    "ours, ObjectStore",
    "ours, MemoryStore",
]
CORE_STREAM = CORE_SYNC
REQUEST_SYNC = {
    "ours: ChatKitPlugin": "/chatkit",
    "ours, ObjectStore (no store cost)": "/chatkit-objects",
    "bare @post": "/bare/post",
    "bare @asgi": "/bare/asgi",
    "hand-written @post (load, handler, save)": "/bare/post-store",
}
REQUEST_STREAM = {
    "ours: ChatKitPlugin": "/chatkit",
    "ours, ObjectStore (no store cost)": "/chatkit-objects",
    "bare Stream": "/bare/stream",
}
GROUPS: dict[str, tuple[str, list[str], list[str]]] = {
    # group: (title, variants, baselines)
    "core-sync": ("sync action: Dispatcher.dispatch", CORE_SYNC, ["floor"]),
    "core-stream": (
        "streaming action, one widget update: Dispatcher.dispatch + reading the stream",
        CORE_STREAM,
        ["floor"],
    ),
    "request-sync": (
        "sync action, whole request in-process",
        list(REQUEST_SYNC),
        ["bare @post", "hand-written @post (load, handler, save)"],
    ),
    "request-stream": (
        "streaming action, one widget update, whole request in-process",
        list(REQUEST_STREAM),
        ["bare Stream"],
    ),
}


# --------------------------------------------------------------------------- the child


async def _variant(group: str, name: str) -> Callable[[], Awaitable[Any]]:
    """One call of ``name`` in ``group``, checked once, ready to repeat."""
    from bench._apps import ObjectStore, body, build_app, make_dispatcher, seed_ours
    from bench.core import Floor, _check, _floor, _ours
    from chatkit_handlers.stores import MemoryStore

    streaming = group.endswith("stream")
    data = body(streaming=streaming)
    memory, objects = MemoryStore(), ObjectStore()
    await seed_ours(memory)
    await seed_ours(objects)
    if group.startswith("core"):
        if name == "floor":
            once = _floor(Floor(), data, streaming)
        else:
            once = _ours(make_dispatcher(objects if "ObjectStore" in name else memory), data)
        _check(name, await once(), streaming)
        return once
    from bench.request import _check as check_answer

    app: Any = build_app(memory, objects=objects, peers=False)
    path = (REQUEST_STREAM if streaming else REQUEST_SYNC)[name]

    async def request() -> None:
        call = await asgi_request(app, path, data)
        if call.status != 200:
            raise RuntimeError(f"{name}: {call.status} {call.body[:200]!r}")

    call = await asgi_request(app, path, data)
    check_answer(name, call.status, call.body, streaming)
    return request


async def _child(group: str, name: str, calls: int) -> None:
    once = await _variant(group, name)
    for _ in range(200):  # warm-up: caches, first-call costs, the specializing interpreter
        await once()
    oct(0)  # callgrind zeroes its counters here (--zero-before=builtin_oct)
    for _ in range(calls):
        await once()
    bin(0)  # ... and writes them out here (--dump-before=builtin_bin)


# --------------------------------------------------------------------------- the parent


def _count(group: str, name: str, calls: int, valgrind: str) -> float:
    """Instructions per call of one variant, in a child process under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [
            valgrind,
            "--tool=callgrind",
            "--zero-before=builtin_oct",
            "--dump-before=builtin_bin",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "bench.instructions",
            "--child",
            group,
            name,
            "--calls",
            str(calls),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise SystemExit(f"{group} / {name}: exit {done.returncode}\n{done.stderr[-3000:]}")
        dumps = sorted(Path(tmp).glob("callgrind.out.*"))  # .1: the dump made entering bin()
        if not dumps:
            raise SystemExit(f"{group} / {name}: callgrind wrote no dump (is builtin_bin a known symbol?)")
        match = re.search(r"^summary:\s*(\d+)", dumps[0].read_text(), re.MULTILINE)
        if match is None:
            raise SystemExit(f"{group} / {name}: no summary line in {dumps[0].name}")
        return int(match.group(1)) / calls


def _smoke(group: str, name: str) -> None:
    """The child itself, without valgrind and with a few calls: proves the variant answers."""
    command = [sys.executable, "-m", "bench.instructions", "--child", group, name, "--calls", "5"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"{group} / {name}: exit {done.returncode}\n{done.stderr[-3000:]}")


def _print_group(title: str, counts: dict[str, float], baselines: list[str]) -> None:
    width = max(len(name) for name in counts)
    head = f"{'variant':<{width}}  {'instructions':>12}"
    head += "".join(f"  {'÷ ' + b:>{max(12, len(b) + 2)}}" for b in baselines)
    print(f"\n{title}")
    print(head)
    print("-" * len(head))
    for name, count in counts.items():
        row = f"{name:<{width}}  {count:>12,.0f}"
        row += "".join(f"  {count / counts[b]:>{max(12, len(b) + 2)}.3f}" for b in baselines)
        print(row)
    sys.stdout.flush()


def run(smoke: bool, calls: int, jobs: int) -> list[Target]:
    jobs_list = [(group, name) for group, (_title, names, _b) in GROUPS.items() for name in names]
    valgrind = shutil.which("valgrind")
    if smoke:
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(lambda job: _smoke(*job), jobs_list))
        for group, name in jobs_list:
            print(f"{group}: {name}: answered")
        print("(smoke run: not judged) nothing counted: valgrind was not run")
        return []
    if valgrind is None:
        raise SystemExit("valgrind is not installed (apt-get install -y valgrind)")
    with ThreadPoolExecutor(jobs) as pool:  # one child per core: the counts do not depend on it
        found = pool.map(lambda job: _count(*job, calls, valgrind), jobs_list)
        counts = dict(zip(jobs_list, found, strict=True))
    for group, (title, names, baselines) in GROUPS.items():
        _print_group(f"{title} (instructions per call)", {n: counts[group, n] for n in names}, baselines)
    ours, objects = "ours: ChatKitPlugin", "ours, ObjectStore (no store cost)"
    sync = {n: counts["request-sync", n] for n in REQUEST_SYNC}
    stream = {n: counts["request-stream", n] for n in REQUEST_STREAM}
    return [
        Target("sync: ours ÷ bare @post", sync[ours] / sync["bare @post"], 0.5),
        Target("sync: ours (ObjectStore) ÷ bare @post", sync[objects] / sync["bare @post"], 0.5),
        Target("stream: ours ÷ bare Stream", stream[ours] / stream["bare Stream"], 0.5),
        Target(
            "core sync: ours (ObjectStore) ÷ floor",
            counts["core-sync", "ours, ObjectStore"] / counts["core-sync", "floor"],
            2.0,
        ),
        Target(
            "core stream: ours (ObjectStore) ÷ floor",
            counts["core-stream", "ours, ObjectStore"] / counts["core-stream", "floor"],
            2.0,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="run each variant briefly, without valgrind")
    parser.add_argument("--calls", type=int, default=2000, help="calls counted per variant")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="children at once")
    parser.add_argument("--child", nargs=2, metavar=("GROUP", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(_child(*args.child, args.calls))
        return
    print(environment())
    targets = run(args.smoke, args.calls, args.jobs)
    if targets:
        print("\n(the issue's targets are on time; these are the same ratios in instructions)")
        print_targets(targets)


if __name__ == "__main__":
    main()
