"""Bench 5: dispatch time as the number of registered action types grows (10 → 10,000).

    python -m bench.growth            # full run (~1 min)
    python -m bench.growth --smoke    # a few seconds; proves it works

For each size the router gets that many exact action types (``bench.a00042``),
each with its own handler and payload decoder; requests cycle through 64
different registered types so no single entry stays hot. ``Dispatcher.dispatch``
runs over ``ObjectStore`` (no store cost) so the table shows the core alone.
Also timed: a request for an unregistered type (the 404 path, which suggests
near names), and registering all the routes.

Pattern routes (when the router has them): as many wildcard routes
(``bench.p00042.*``) plus one exact type; requests that match a pattern, the
exact type, or nothing.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench._apps import ITEM, THREAD, Increment, ObjectStore, seed_ours
from bench._apps import body as request_body
from bench._harness import Measured, Target, bench_args, environment, fmt_us, measure, print_targets
from chatkit_handlers import ActionContext, ActionRouter, on_action
from chatkit_handlers.dispatch import Dispatcher

SIZES = (10, 100, 1000, 10_000)


def action_type(i: int) -> str:
    return f"bench.a{i:05d}"


def make_handler(i: int) -> Callable[..., Any]:
    """The handler of ``bench.a00042`` (``bench.exact`` for -1)."""

    async def handler(payload: Increment, ctx: ActionContext[Any]) -> None:
        return None

    handler.__qualname__ = f"handler_{i}"
    return on_action(action_type(i) if i >= 0 else "bench.exact", streaming=False)(handler)


def build_router(n: int) -> tuple[ActionRouter, float]:
    handlers = [make_handler(i) for i in range(n)]
    start = time.perf_counter()
    router = ActionRouter()
    for fn in handlers:
        router.add(fn)
    return router, time.perf_counter() - start


def dispatch_cycle(dispatcher: Dispatcher, bodies: list[bytes], status: int) -> Callable[[], Awaitable[None]]:
    state = {"i": 0}

    async def once() -> None:
        i = state["i"] = (state["i"] + 1) % len(bodies)
        result = await dispatcher.dispatch(bodies[i])
        if result.status_code != status:
            raise RuntimeError(f"{result.status_code}: {result.body!r}")

    return once


def patterns_supported() -> bool:
    """Whether ``@on_action`` takes patterns (a trailing ``*`` or a compiled ``re.Pattern``)."""
    try:
        on_action(re.compile(r"probe\.(?P<x>.+)"))
    except (TypeError, ValueError):
        return False
    return True


def make_pattern_handler(i: int) -> Callable[..., Any]:
    async def handler(payload: Increment, ctx: ActionContext[Any]) -> None:
        return None

    handler.__qualname__ = f"pattern_handler_{i}"
    return on_action(f"bench.p{i:05d}.*", streaming=False)(handler)


def build_pattern_router(n: int) -> tuple[ActionRouter, float]:
    """``n`` wildcard routes ``bench.p00042.*`` and one exact type, ``bench.exact``."""
    handlers = [make_pattern_handler(i) for i in range(n)]
    handlers.append(make_handler(-1))
    start = time.perf_counter()
    router = ActionRouter()
    for fn in handlers:
        router.add(fn)
    router.lookup("bench.exact")  # compile the table, as the first request would
    return router, time.perf_counter() - start


def spread(n: int, make: Callable[[int], bytes]) -> list[bytes]:
    """Up to 64 bodies for entries spread evenly over ``range(n)``."""
    step = max(1, n // 64)
    return [make(i) for i in range(0, n, step)][:64]


def print_rows(
    title: str,
    sizes: tuple[int, ...],
    columns: dict[str, dict[int, Measured]],
    registration: dict[int, float],
) -> None:
    first = sizes[0]
    print(f"\n{title}")
    head = (
        f"{'routes':>7}"
        + "".join(f"  {name:>18}  {'÷ ' + str(first):>7}" for name in columns)
        + f"  {'register all':>12}"
    )
    print(head)
    print("-" * len(head))
    for n in sizes:
        row = f"{n:>7,}"
        for measured in columns.values():
            row += f"  {fmt_us(measured[n].median) + ' µs':>18}  {measured[n].ratio(measured[first]):>7.2f}"
        print(row + f"  {registration[n] * 1e3:>10.1f}ms")


async def run(smoke: bool, rounds: int) -> list[Target]:
    store = ObjectStore()
    await seed_ours(store)
    sizes = (10, 100) if smoke else SIZES
    rounds = 1 if smoke else rounds
    batch = 0.002 if smoke else 0.03
    known: dict[int, Measured] = {}
    unknown: dict[int, Measured] = {}
    repeated: dict[int, Measured] = {}
    registration: dict[int, float] = {}
    # Every size's router is built first and all are measured in the same rounds, interleaved,
    # so that a noisy neighbour slows every size alike (the ratios compare sizes).
    variants: list[tuple[str, Any]] = []
    for n in sizes:
        router, registration[n] = build_router(n)
        dispatcher = Dispatcher(router, store)
        bodies = spread(n, lambda i: request_body(False, action_type(i)))
        # The 404 remembers its last 256 answers: cycling over more distinct unknown types than
        # that, every one is scored (the worst case, what a client sending made-up types costs);
        # the same 64 again and again is a stale widget clicked repeatedly.
        fresh = [request_body(False, f"bench.b{(i * 7919) % n:05d}x{i}") for i in range(300)]
        misses = spread(n, lambda i: request_body(False, f"bench.b{i:05d}x"))
        # (Its own router for the repeated ones: the fresh ones would push them out of memory.)
        again = Dispatcher(build_router(n)[0], store)
        variants += [
            (f"{n} known", dispatch_cycle(dispatcher, bodies, 200)),
            (f"{n} unknown", dispatch_cycle(dispatcher, fresh, 404)),
            (f"{n} unknown again", dispatch_cycle(again, misses, 404)),
        ]
    results = iter(await measure(variants, rounds=rounds, batch_seconds=batch))
    for n in sizes:
        known[n], unknown[n], repeated[n] = next(results), next(results), next(results)
    print_rows(
        f"exact action types; Dispatcher.dispatch of a sync action over ObjectStore ({THREAD}/{ITEM})",
        sizes,
        {"known type": known, "unknown (404)": unknown, "same unknown again": repeated},
        registration,
    )
    last = sizes[-1]
    targets = [
        Target(
            f"exact, known type: {last:,} routes ÷ {sizes[0]}",
            known[last].ratio(known[sizes[0]]),
            1.25,
        ),
        # Below ~20 routes the 404 scores every name; from there on it scores at most 20.
        Target(
            f"exact, unknown type (404): {last:,} routes ÷ {sizes[1]}",
            unknown[last].ratio(unknown[sizes[1]]),
            1.25,
        ),
    ]
    if not patterns_supported():
        print("\npattern routes: the router on this branch has exact types only; not measured")
        return targets

    hit: dict[int, Measured] = {}
    exact: dict[int, Measured] = {}
    miss: dict[int, Measured] = {}
    registration = {}
    variants = []
    for n in sizes:
        router, registration[n] = build_pattern_router(n)
        dispatcher = Dispatcher(router, store)
        hits = spread(n, lambda i: request_body(False, f"bench.p{i:05d}.go"))
        misses = spread(n, lambda i: request_body(False, f"bench.q{i:05d}.go"))
        variants += [
            (f"{n} pattern hit", dispatch_cycle(dispatcher, hits, 200)),
            (f"{n} exact hit", dispatch_cycle(dispatcher, [request_body(False, "bench.exact")], 200)),
            (f"{n} no match", dispatch_cycle(dispatcher, misses, 404)),
        ]
    results = iter(await measure(variants, rounds=rounds, batch_seconds=batch))
    for n in sizes:
        hit[n], exact[n], miss[n] = next(results), next(results), next(results)
    print_rows(
        "wildcard pattern routes (bench.p00042.*) and one exact type; the same requests",
        sizes,
        {"pattern hit": hit, "exact among them": exact, "no match (404)": miss},
        registration,
    )
    return [
        *targets,
        Target(f"pattern hit: {last:,} patterns ÷ {sizes[0]}", hit[last].ratio(hit[sizes[0]]), 1.25),
        Target(f"exact hit: {last:,} patterns ÷ {sizes[0]}", exact[last].ratio(exact[sizes[0]]), 1.25),
        Target(f"no match (404): {last:,} patterns ÷ {sizes[1]}", miss[last].ratio(miss[sizes[1]]), 1.25),
    ]


def main() -> None:
    args = bench_args(__doc__ or "")
    print(environment())
    targets = asyncio.run(run(args.smoke, args.rounds))
    print_targets(targets, smoke=args.smoke)


if __name__ == "__main__":
    main()
