"""Profile the hot path with pyinstrument: many requests of one kind, one profile.

    python -m bench.hotpath sync              # ChatKitPlugin, whole request in-process
    python -m bench.hotpath stream
    python -m bench.hotpath sync --core       # Dispatcher.dispatch alone
    python -m bench.hotpath unknown --routes 1000   # a 404 with 1,000 exact types registered
    python -m bench.hotpath pattern --routes 1000   # a hit among 1,000 wildcard routes
    python -m bench.hotpath stream --html out.html
    python -m bench.hotpath sync --smoke      # a few requests; proves it runs

pyinstrument samples the call stack every ``--interval`` seconds; with
thousands of identical requests the output shows where each one's time goes.
(py-spy works as well: ``py-spy record -o out.svg -- python -m bench.hotpath sync``.)
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench._apps import ObjectStore, body, build_app, make_dispatcher, seed_ours
from bench._harness import asgi_request
from chatkit_handlers.dispatch import Dispatcher
from chatkit_handlers.stores import MemoryStore


async def _core(dispatcher: Dispatcher, payload: bytes, status: int) -> None:
    result = await dispatcher.dispatch(payload)
    if result.status_code != status:
        raise RuntimeError(result)
    if result.stream is not None:
        async for _chunk in result.stream:
            pass


async def _requests(args: argparse.Namespace) -> Callable[[], Awaitable[None]]:
    """One request of the kind asked for, ready to be repeated."""
    if args.mode in ("unknown", "pattern"):
        from bench.growth import build_pattern_router, build_router

        objects = ObjectStore()
        await seed_ours(objects)
        if args.mode == "unknown":
            router, _ = build_router(args.routes)
            miss, status = body(False, "bench.zzz"), 404
        else:
            router, _ = build_pattern_router(args.routes)
            miss, status = body(False, f"bench.p{args.routes - 1:05d}.go"), 200
        dispatcher = Dispatcher(router, objects)
        return lambda: _core(dispatcher, miss, status)
    store = MemoryStore()
    await seed_ours(store)
    payload = body(streaming=args.mode == "stream")
    if args.core:
        dispatcher = make_dispatcher(store)
        return lambda: _core(dispatcher, payload, 200)
    app: Any = build_app(store, peers=False)

    async def once() -> None:
        call = await asgi_request(app, "/chatkit", payload)
        if call.status != 200:
            raise RuntimeError(call.body)

    return once


async def _drive(args: argparse.Namespace, n: int) -> Any:
    from pyinstrument import Profiler

    once = await _requests(args)
    for _ in range(50):
        await once()
    profiler = Profiler(interval=args.interval, async_mode="disabled")
    profiler.start()
    start = time.perf_counter()
    for _ in range(n):
        await once()
    elapsed = time.perf_counter() - start
    profiler.stop()
    print(f"{n} requests, {elapsed / n * 1e6:.1f} µs each (under the profiler)")
    return profiler


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["sync", "stream", "unknown", "pattern"])
    parser.add_argument("--core", action="store_true", help="profile Dispatcher.dispatch without Litestar")
    parser.add_argument("--routes", type=int, default=1000, help="table size for unknown/pattern")
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("--interval", type=float, default=0.0001)
    parser.add_argument("--html", help="write an HTML profile here instead of text")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.routes = min(args.routes, 50)
    profiler = asyncio.run(_drive(args, 200 if args.smoke else args.n))
    if args.html:
        with open(args.html, "w") as f:
            f.write(profiler.output_html())
    else:
        print(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()
