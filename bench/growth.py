"""Bench 5: dispatch time as the number of registered action types grows (10 → 10,000).

    python -m bench.growth            # full run (~1 min)
    python -m bench.growth --smoke    # a few seconds; proves it works

For each size the router gets that many exact action types (``bench.a00042``),
each with its own handler and payload decoder; requests cycle through 64
different registered types so no single entry stays hot. ``Dispatcher.dispatch``
runs over ``ObjectStore`` (no store cost) so the table shows the core alone.
Also timed: a request for an unregistered type (the 404 path, which suggests
near names), and registering all the routes.

Pattern routes: measured when the router has them (see the note printed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench._apps import ITEM, THREAD, Increment, ObjectStore, seed_ours
from bench._apps import body as request_body
from bench._harness import Measured, Target, bench_args, environment, fmt_us, measure, print_targets
from chatkit_handlers import ActionContext, ActionRouter, Dispatcher, on_action

SIZES = (10, 100, 1000, 10_000)


def action_type(i: int) -> str:
    return f"bench.a{i:05d}"


def make_handler(i: int) -> Callable[..., Any]:
    async def handler(payload: Increment, ctx: ActionContext[Any]) -> None:
        return None

    handler.__qualname__ = f"handler_{i}"
    return on_action(action_type(i), streaming=False)(handler)


def build_router(n: int) -> tuple[ActionRouter, float]:
    handlers = [make_handler(i) for i in range(n)]
    start = time.perf_counter()
    router = ActionRouter()
    for fn in handlers:
        router.add(fn)
    return router, time.perf_counter() - start


def _dispatcher_variant(
    dispatcher: Dispatcher, bodies: list[bytes], status: int
) -> Callable[[], Awaitable[None]]:
    state = {"i": 0}

    async def once() -> None:
        i = state["i"] = (state["i"] + 1) % len(bodies)
        result = await dispatcher.dispatch(bodies[i])
        if result.status_code != status:
            raise RuntimeError(f"{result.status_code}: {result.body!r}")

    return once


async def run(smoke: bool, rounds: int) -> list[Target]:
    store = ObjectStore()
    await seed_ours(store)
    sizes = (10, 100) if smoke else SIZES
    known: dict[int, Measured] = {}
    unknown: dict[int, Measured] = {}
    registration: dict[int, float] = {}
    for n in sizes:
        router, registration[n] = build_router(n)
        dispatcher = Dispatcher(router, store)
        step = max(1, n // 64)
        bodies = [request_body(False, action_type(i)) for i in range(0, n, step)][:64]
        misses = [request_body(False, f"bench.b{i:05d}x") for i in range(0, n, step)][:64]
        results = await measure(
            [
                (f"{n} known", _dispatcher_variant(dispatcher, bodies, 200)),
                (f"{n} unknown", _dispatcher_variant(dispatcher, misses, 404)),
            ],
            rounds=1 if smoke else rounds,
            batch_seconds=0.002 if smoke else 0.03,
        )
        known[n], unknown[n] = results
    first = sizes[0]
    print(f"\nexact action types; Dispatcher.dispatch of a sync action over ObjectStore ({THREAD}/{ITEM})")
    head = (
        f"{'routes':>7}  {'known µs':>9}  {'÷ ' + str(first):>7}  {'unknown (404) µs':>16}  {'÷ ' + str(first):>7}"
        f"  {'register all':>12}"
    )
    print(head)
    print("-" * len(head))
    for n in sizes:
        print(
            f"{n:>7,}  {fmt_us(known[n].median):>9}  {known[n].median / known[first].median:>7.2f}"
            f"  {fmt_us(unknown[n].median):>16}  {unknown[n].median / unknown[first].median:>7.2f}"
            f"  {registration[n] * 1e3:>10.1f}ms"
        )
    patterns = hasattr(ActionRouter, "on_pattern") or "pattern" in (ActionRouter.__init__.__doc__ or "")
    print(
        "\npattern routes: "
        + (
            "see the patterns table"
            if patterns
            else "the router on this branch has exact types only; not measured"
        )
    )
    last = sizes[-1]
    return [
        Target(f"known type: {last:,} routes ÷ {first}", known[last].median / known[first].median, 1.25),
        Target(
            f"unknown type (404): {last:,} routes ÷ {first}",
            unknown[last].median / unknown[first].median,
            1.25,
        ),
    ]


def main() -> None:
    args = bench_args(__doc__ or "")
    print(environment())
    targets = asyncio.run(run(args.smoke, args.rounds))
    print_targets(targets, smoke=args.smoke)


if __name__ == "__main__":
    main()
