"""Profile the hot path with pyinstrument: many requests of one kind, one profile.

    python -m bench.hotpath sync              # ChatKitPlugin, whole request in-process
    python -m bench.hotpath stream
    python -m bench.hotpath sync --core       # Dispatcher.dispatch alone
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
from typing import Any

from bench._apps import body, build_app, make_dispatcher, seed_ours
from bench._harness import asgi_request
from chatkit_handlers.stores import MemoryStore


async def _drive(mode: str, core: bool, n: int) -> None:
    store = MemoryStore()
    await seed_ours(store)
    payload = body(streaming=mode == "stream")
    if core:
        dispatcher = make_dispatcher(store)

        async def once() -> None:
            result = await dispatcher.dispatch(payload)
            if result.stream is not None:
                async for _chunk in result.stream:
                    pass
            elif result.status_code != 200:
                raise RuntimeError(result)
    else:
        app: Any = build_app(store, peers=False)

        async def once() -> None:
            call = await asgi_request(app, "/chatkit", payload)
            if call.status != 200:
                raise RuntimeError(call.body)

    for _ in range(50):
        await once()
    from pyinstrument import Profiler

    profiler = _PROFILER.get("p") or Profiler(interval=_PROFILER["interval"], async_mode="disabled")
    _PROFILER["p"] = profiler
    profiler.start()
    start = time.perf_counter()
    for _ in range(n):
        await once()
    elapsed = time.perf_counter() - start
    profiler.stop()
    print(f"{n} requests, {elapsed / n * 1e6:.1f} µs each (under the profiler)")


_PROFILER: dict[str, Any] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["sync", "stream"])
    parser.add_argument("--core", action="store_true", help="profile Dispatcher.dispatch without Litestar")
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("--interval", type=float, default=0.0001)
    parser.add_argument("--html", help="write an HTML profile here instead of text")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    _PROFILER["interval"] = args.interval
    asyncio.run(_drive(args.mode, args.core, 200 if args.smoke else args.n))
    profiler = _PROFILER["p"]
    if args.html:
        with open(args.html, "w") as f:
            f.write(profiler.output_html())
    else:
        print(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()
