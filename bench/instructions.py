"""Bench 6: instructions per call, counted by valgrind (callgrind): the same on a busy machine.

    python -m bench.instructions              # full run (~9 min; needs valgrind: apt-get install valgrind)
    python -m bench.instructions core-stream  # one group (core-sync, core-stream, request-sync,
                                              # request-stream, growth)
    python -m bench.instructions --smoke      # a few seconds, without valgrind; every variant answers

The timed benches (``bench.request``, ``bench.core``, ``bench.growth``) give ratios of seconds,
which a noisy shared machine moves by several percent from run to run, and which differ
between CPUs (the same code's stream took 1.9x and 2.5x its floor on two machines of this
project). This bench runs their variants, each in a child process under ``valgrind
--tool=callgrind``, and counts the CPU instructions of ``--calls`` calls: for the same code
and Python, the same count on every run, whatever else the machine does, and nearly the same
on another x86-64 CPU (a few C library routines are chosen by CPU feature). Any code change
moves objects in memory, and so hashing by address, by up to ~0.1 % of a count: a smaller
difference between two versions is not a difference in work. Instructions are
not time (a cache miss costs no instruction): these ratios complement the timed ones, they do
not replace them; the issue's targets are on time.

Each child warms its variant up, then runs the calls between ``oct(0)`` and ``bin(0)``, two
builtins nothing measured calls: callgrind zeroes its counters on entering the first
(``--zero-before``) and writes them out on entering the second (``--dump-before``), so the
count holds exactly the calls, not the interpreter's start-up. The calls run in an asyncio
event loop, awaited one after the other, as the timed benches run them. The child runs with
``PYTHONHASHSEED=0`` (string hashes, and so dict probing, the same on every run) and in one
thread (callgrind's zeroing is per thread: another thread's earlier work would be counted).
The request variants use ``bench.request``'s app without its peer routes (importing
openai-chatkit under valgrind is slow; Litestar finds a static path in a dict either way).
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
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench._harness import Target, asgi_request, environment, print_ratio_table, print_targets
from bench.request import HAND_WRITTEN, STREAM_ROUTES, SYNC_ROUTES

CORE = ["floor", "ours, ObjectStore", "ours, MemoryStore"]
OURS = "ours: ChatKitPlugin"
OBJECTS = "ours, ObjectStore (no store cost)"
REQUEST_SYNC = [OURS, OBJECTS, "bare @post", "bare @asgi", HAND_WRITTEN]
REQUEST_STREAM = [OURS, OBJECTS, "bare Stream"]
OBSERVED = ["unobserved", "ActionLog", "ActionMetrics", "ActionSpans", "all three"]
GROWTH = [
    "known type, 10 routes",
    "known type, 10,000 routes",
    "404 again, 10 routes",
    "404 again, 10,000 routes",
]
GROUPS: dict[str, tuple[str, list[str], list[str]]] = {
    # group: (title, variants, baselines)
    "core-sync": ("sync action: Dispatcher.dispatch", CORE, ["floor"]),
    "core-stream": (
        "streaming action, one widget update: Dispatcher.dispatch + reading the stream",
        CORE,
        ["floor"],
    ),
    "request-sync": ("sync action, whole request in-process", REQUEST_SYNC, ["bare @post", HAND_WRITTEN]),
    "request-stream": (
        "streaming action, one widget update, whole request in-process",
        REQUEST_STREAM,
        ["bare Stream"],
    ),
    "observed": (
        "sync action: Dispatcher.dispatch (ObjectStore), with observers (logging on, spans to nowhere)",
        OBSERVED,
        ["unobserved"],
    ),
    "growth": (
        "growth: Dispatcher.dispatch of a sync action (ObjectStore), as bench.growth",
        GROWTH,
        ["known type, 10 routes", "404 again, 10 routes"],
    ),
}


# --------------------------------------------------------------------------- the child


async def _variant(group: str, name: str) -> Callable[[], Awaitable[Any]]:
    """One call of ``name`` in ``group``, checked once, ready to repeat."""
    from bench._apps import ObjectStore, body, build_app, make_dispatcher, seed_ours
    from bench.core import Floor, check_answer, floor_call, ours_call
    from chatkit_handlers.stores import MemoryStore

    if group == "growth":
        return await _growth(name)
    if group == "observed":
        return await _observed(name)
    streaming = group.endswith("stream")
    data = body(streaming=streaming)
    memory, objects = MemoryStore(), ObjectStore()
    await seed_ours(memory)
    await seed_ours(objects)
    if group.startswith("core"):
        if name == "floor":
            once = floor_call(Floor(), data, streaming)
        else:
            once = ours_call(make_dispatcher(objects if "ObjectStore" in name else memory), data)
        check_answer(name, await once(), streaming)
        return once
    from bench import request

    app: Any = build_app(memory, objects=objects, peers=False)
    path = dict(STREAM_ROUTES if streaming else SYNC_ROUTES)[name]

    async def call() -> None:
        answer = await asgi_request(app, path, data)
        if answer.status != 200:
            raise RuntimeError(f"{name}: {answer.status} {answer.body[:200]!r}")

    answer = await asgi_request(app, path, data)
    request.check_answer(name, answer.status, answer.body, streaming)
    return call


async def _observed(name: str) -> Callable[[], Awaitable[Any]]:
    """The core sync action with ``name``'s observers: what per-action observability costs when on."""
    import logging

    from opentelemetry.sdk.trace import TracerProvider
    from prometheus_client import CollectorRegistry

    from bench._apps import ObjectStore, body, make_router, seed_ours
    from bench.core import check_answer, ours_call
    from chatkit_handlers.dispatch import Dispatcher
    from chatkit_handlers.observability import ActionLog, ActionObserver
    from chatkit_handlers.observability.metrics import ActionMetrics
    from chatkit_handlers.observability.tracing import ActionSpans

    logger = logging.getLogger("bench.actions")  # enabled, handled, written nowhere
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    every: dict[str, ActionObserver] = {
        "ActionLog": ActionLog(logger),
        "ActionMetrics": ActionMetrics(registry=CollectorRegistry()),
        "ActionSpans": ActionSpans(TracerProvider()),  # recorded spans, no exporter
    }
    observers = list(every.values()) if name == "all three" else [every[name]] if name in every else []
    store = ObjectStore()
    await seed_ours(store)
    once = ours_call(Dispatcher(make_router(), store, observers=observers), body(streaming=False))
    check_answer(name, await once(), False)
    return once


async def _growth(name: str) -> Callable[[], Awaitable[Any]]:
    """``bench.growth``'s known type and its same 64 unknown types again, at 10 or 10,000 routes."""
    from bench._apps import ObjectStore, body, seed_ours
    from bench.growth import action_type, build_router, dispatch_cycle, spread
    from chatkit_handlers.dispatch import Dispatcher

    n = 10 if name.endswith(" 10 routes") else 10_000
    store = ObjectStore()
    await seed_ours(store)
    dispatcher = Dispatcher(build_router(n)[0], store)
    if name.startswith("known"):
        return dispatch_cycle(dispatcher, spread(n, lambda i: body(False, action_type(i))), 200)
    return dispatch_cycle(dispatcher, spread(n, lambda i: body(False, f"bench.b{i:05d}x")), 404)


async def _child(group: str, name: str, calls: int) -> None:
    once = await _variant(group, name)
    for _ in range(200):  # warm-up: caches, first-call costs, the specializing interpreter
        await once()
    if threading.active_count() != 1:  # callgrind zeroes the current thread's counters only
        raise SystemExit(f"{group} / {name}: {threading.active_count()} threads; the count needs one")
    oct(0)  # callgrind zeroes its counters here (--zero-before=builtin_oct)
    for _ in range(calls):
        await once()
    bin(0)  # ... and writes them out here (--dump-before=builtin_bin)


# --------------------------------------------------------------------------- the parent


def _command(group: str, name: str, calls: int) -> list[str]:
    return [sys.executable, "-m", "bench.instructions", "--child", group, name, "--calls", str(calls)]


def _run(command: list[str], what: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{what}: exit {done.returncode}\n{done.stderr[-3000:]}")


def dump_summary(text: str) -> int:
    """The ``summary:`` line of a callgrind dump: the instructions it counted."""
    match = re.search(r"^summary:\s*(\d+)\s*$", text, re.MULTILINE)
    if match is None:
        raise ValueError("no summary line in the callgrind dump")
    return int(match.group(1))


def _count(group: str, name: str, calls: int, valgrind: str) -> float:
    """Instructions per call of one variant, in a child process under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        options = ["--tool=callgrind", "--zero-before=builtin_oct", "--dump-before=builtin_bin"]
        _run(
            [valgrind, *options, f"--callgrind-out-file={out}", *_command(group, name, calls)],
            f"{group} / {name}",
        )
        # One dump on entering bin() (.1), one at exit (no suffix); more would mean bin() ran again.
        dumps = sorted(path.name for path in Path(tmp).glob("callgrind.out.*"))
        if dumps != ["callgrind.out.1"]:
            raise SystemExit(f"{group} / {name}: expected one dump from bin(), found {dumps}")
        return dump_summary((Path(tmp) / "callgrind.out.1").read_text()) / calls


def _targets(counts: dict[tuple[str, str], float]) -> list[Target]:
    """The issue's ratio targets, here in instructions; only for the groups that ran."""
    targets = []
    if ("request-sync", OURS) in counts:
        post = counts["request-sync", "bare @post"]
        targets += [
            Target("sync: ours ÷ bare @post", counts["request-sync", OURS] / post, 0.5),
            Target("sync: ours (ObjectStore) ÷ bare @post", counts["request-sync", OBJECTS] / post, 0.5),
        ]
    if ("request-stream", OURS) in counts:
        ratio = counts["request-stream", OURS] / counts["request-stream", "bare Stream"]
        targets.append(Target("stream: ours ÷ bare Stream", ratio, 0.5))
    for mode in ("sync", "stream"):
        if (f"core-{mode}", "floor") in counts:
            ratio = counts[f"core-{mode}", "ours, ObjectStore"] / counts[f"core-{mode}", "floor"]
            targets.append(Target(f"core {mode}: ours (ObjectStore) ÷ floor", ratio, 2.0))
    if ("growth", GROWTH[0]) in counts:
        targets += [
            Target(
                "growth: known type, 10,000 ÷ 10 routes",
                counts["growth", GROWTH[1]] / counts["growth", GROWTH[0]],
                1.25,
            ),
            Target(
                "growth: 404 again, 10,000 ÷ 10 routes",
                counts["growth", GROWTH[3]] / counts["growth", GROWTH[2]],
                1.25,
            ),
        ]
    return targets


def run(groups: list[str], smoke: bool, calls: int, jobs: int) -> list[Target]:
    work = [(group, name) for group in groups for name in GROUPS[group][1]]
    if smoke:
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(lambda job: _run(_command(job[0], job[1], 5), f"{job[0]} / {job[1]}"), work))
        for group, name in work:
            print(f"{group}: {name}: answered")
        print("(smoke run: not judged) nothing counted: valgrind was not run")
        return []
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (apt-get install -y valgrind)")
    with ThreadPoolExecutor(jobs) as pool:  # one child per core: the counts do not depend on it
        found = pool.map(lambda job: _count(job[0], job[1], calls, valgrind), work)
        counts = dict(zip(work, found, strict=True))
    for group in groups:
        title, names, baselines = GROUPS[group]
        print_ratio_table(
            f"{title} (instructions per call)",
            [("instructions", 12)],
            [(name, [f"{counts[group, name]:,.0f}"]) for name in names],
            baselines,
            lambda name, baseline: counts[group, name] / counts[group, baseline],  # noqa: B023 (called at once)
        )
    return _targets(counts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("groups", nargs="*", metavar="GROUP", help=f"{', '.join(GROUPS)} (all by default)")
    parser.add_argument("--smoke", action="store_true", help="run each variant briefly, without valgrind")
    parser.add_argument("--calls", type=int, default=2000, help="calls counted per variant")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="children at once")
    parser.add_argument("--child", nargs=2, metavar=("GROUP", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        group, name = args.child
        asyncio.run(_child(group, name, args.calls))
        return
    unknown = [group for group in args.groups if group not in GROUPS]
    if unknown:
        parser.error(f"unknown group {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    print(environment())
    targets = run(args.groups or list(GROUPS), args.smoke, args.calls, args.jobs)
    if targets:
        print("\n(the same ratios as the timed benches' targets, in instructions: the targets are on time)")
        print_targets([Target(f"{t.label}, instructions", t.value, t.limit, t.at_most) for t in targets])


if __name__ == "__main__":
    main()
