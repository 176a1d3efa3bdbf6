"""Bench 4: 1,000 concurrent open streaming actions in one process, each yielding slowly.

    python -m bench.streams                          # 1,000 streams, 6 updates 0.5 s apart (~40 s)
    python -m bench.streams --streams 2000 --events 10 --interval 1
    python -m bench.streams --smoke                  # 20 streams; proves it works

Each stream is a whole request through the Litestar app, in-process (the ASGI
driver of bench/_harness.py, no sockets), whose handler sends a widget update
every ``--interval`` seconds. Every variant runs in a fresh child process, twice:
once to read the process's resident memory (RSS) and the event latency, once
under ``tracemalloc`` for the Python heap (tracemalloc slows everything, so its
run is not used for latency).

- memory per open stream: (memory with every stream open, after each has had
  its first update) minus (memory before), divided by the number of streams.
  It includes what the driver keeps per request (scope, task, buffers), which
  the "raw ASGI floor" row shows on its own.
- event latency: when the driver received an update minus when the handler's
  timer was due (so it is the event loop's lag under the load of all streams
  plus the framework's work per event).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import anyio
import msgspec

from bench._apps import ITEM, THREAD, build_app, seed_ours, ticker_card, ticks
from bench._apps import body as request_body
from bench._harness import Target, environment, print_targets
from chatkit_handlers.stores import MemoryStore
from chatkit_handlers.testing._asgi import post_scope
from chatkit_handlers.types import ThreadMetadata, WidgetItem

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "ours": ("ours: ChatKitPlugin", "/chatkit"),
    "bare": ("bare Litestar Stream", "/bare/stream-slow"),
    "peer": ("peer fair", "/peer/fair"),
    "floor": ("raw ASGI floor (no Litestar)", "/"),
}
_VALUE = b'"value":"'


def rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc``; else the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Tally:
    """What every stream's driver reports: opened streams, first updates, latencies."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.opened = 0
        self.first = 0
        self.latencies: list[float] = []
        self.errors: list[bytes] = []
        self.all_open = asyncio.Event()
        self.all_first = asyncio.Event()


class SlowCall:
    """The ASGI driver for one long stream: keeps no body, only timings."""

    __slots__ = ("_body", "_done", "_sent", "events", "tally")

    def __init__(self, body: bytes, tally: Tally) -> None:
        self._body = body
        self._sent = False
        self._done = asyncio.Event()
        self.tally = tally
        self.events = 0

    async def receive(self) -> dict[str, Any]:
        if not self._sent:
            self._sent = True
            return {"type": "http.request", "body": self._body, "more_body": False}
        await self._done.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] != "http.response.body":
            return
        chunk = message.get("body", b"")
        if chunk.startswith(b'data: {"type":"stream_options"'):
            self._count_open()
            chunk = chunk.split(b"\n\n", 1)[1]
        if b'"type":"error"' in chunk:
            self.tally.errors.append(chunk)
        at = chunk.find(_VALUE)
        if at >= 0:
            received = time.perf_counter()
            start = at + len(_VALUE)
            self.tally.latencies.append(received - float(chunk[start : chunk.index(b'"', start)]))
            self.events += 1
            if self.events == 1:
                self.tally.first += 1
                if self.tally.first == self.tally.n:
                    self.tally.all_first.set()
        if not message.get("more_body", False):
            self._done.set()

    def _count_open(self) -> None:
        self.tally.opened += 1
        if self.tally.opened == self.tally.n:
            self.tally.all_open.set()


def floor_app(events: int, interval: float) -> Any:
    """The least an ASGI app can do for a slow stream: no framework, no persistence."""
    options = b'data: {"type":"stream_options","stream_options":{"allow_cancel":true}}\n\n'

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await send({"type": "http.response.body", "body": options, "more_body": True})
        async for due in ticks(events, interval):
            frame = b'data: {"type":"thread.item.updated","update":{"widget":{"children":[{"value":"'
            await send(
                {
                    "type": "http.response.body",
                    "body": frame + repr(due).encode() + b'"}]}}}\n\n',
                    "more_body": True,
                }
            )
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


async def child(variant: str, heap: bool, n: int, events: int, interval: float) -> dict[str, Any]:
    """Run ``n`` slow streams of ``variant`` at once; measure memory and latency."""
    store = MemoryStore()
    await seed_ours(store)
    # One thread and widget per stream, as 1,000 users would have: the dispatcher runs one
    # stream per thread at a time (its thread lock), so streams on one thread would queue.
    for i in range(n):
        await store.save_thread(ThreadMetadata(id=f"thr_s{i}"), context=None)
        await store.add_thread_item(
            f"thr_s{i}",
            WidgetItem(id=f"wid_s{i}", thread_id=f"thr_s{i}", widget=ticker_card(0.0)),
            context=None,
        )
    path = VARIANTS[variant][1]
    app = floor_app(events, interval) if variant == "floor" else build_app(store, peers=variant == "peer")
    warm = request_body(True, "counter.tick", {"events": 1, "interval": 0.0})
    for _ in range(5):
        tally = Tally(1)
        call = SlowCall(warm, tally)
        await app(post_scope(path, warm), call.receive, call.send)
    tick = {"type": "counter.tick", "payload": {"events": events, "interval": interval}}
    # The peer (no locks) and the baselines (no store) all use the bench thread.
    bodies = [
        msgspec.json.encode(
            {
                "type": "threads.custom_action",
                "params": {"thread_id": f"thr_s{i}", "item_id": f"wid_s{i}", "action": tick}
                if variant == "ours"
                else {"thread_id": THREAD, "item_id": ITEM, "action": tick},
            }
        )
        for i in range(n)
    ]
    gc.collect()
    if heap:
        tracemalloc.start()
    measure = (lambda: tracemalloc.get_traced_memory()[0]) if heap else rss_bytes
    before = measure()
    tally = Tally(n)
    started = time.perf_counter()
    tasks = []
    for data in bodies:
        call = SlowCall(data, tally)
        tasks.append(asyncio.create_task(app(post_scope(path, data), call.receive, call.send)))
    await tally.all_open.wait()
    opened_in = time.perf_counter() - started
    # A full collection can stall the loop for 100 ms with pydantic loaded: only in the heap run,
    # whose latencies are not reported.
    if heap:
        gc.collect()
    at_open = measure() - before
    try:
        with anyio.fail_after(30 + 4 * events * interval):  # a hang guard, not a timing
            await tally.all_first.wait()
    except TimeoutError:
        raise SystemExit(
            f"{variant}: {tally.first} of {n} streams had an update; errors: {tally.errors[:3]}"
        ) from None
    if tally.errors:
        raise SystemExit(f"{variant}: {len(tally.errors)} error events, e.g. {tally.errors[0][:300]!r}")
    if heap:
        gc.collect()
    after_first = measure() - before
    await asyncio.gather(*tasks)
    if tally.errors:
        raise SystemExit(f"{variant}: {len(tally.errors)} error events, e.g. {tally.errors[0][:300]!r}")
    if heap:
        tracemalloc.stop()
    lat = sorted(tally.latencies)
    return {
        "variant": variant,
        "heap": heap,
        "streams": n,
        "opened_in_s": opened_in,
        "per_stream_open": at_open / n,
        "per_stream_first": after_first / n,
        "events": len(lat),
        "p50_ms": statistics.median(lat) * 1e3,
        "p99_ms": lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1e3,
        "max_ms": lat[-1] * 1e3,
    }


def run_child(variant: str, heap: bool, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.streams", "--child", variant, "--streams", str(args.streams)]
    cmd += ["--events", str(args.events), "--interval", str(args.interval)] + (["--heap"] if heap else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT, timeout=600).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--events", type=int, default=6)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--variants", default="ours,bare,peer,floor")
    parser.add_argument("--child", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--heap", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(
            msgspec.json.encode(
                asyncio.run(child(args.child, args.heap, args.streams, args.events, args.interval))
            ).decode()
        )
        return
    if args.smoke:
        args.streams, args.events, args.interval = 20, 2, 0.05
    print(environment())
    print(f"\n{args.streams} concurrent streams, {args.events} widget updates each, {args.interval} s apart")
    head = (
        f"{'variant':<30}  {'RSS KiB/stream':>14}  {'heap KiB/stream':>15}  {'heap at open':>12}"
        f"  {'p50 ms':>7}  {'p99 ms':>7}  {'max ms':>7}  {'all open in':>11}"
    )
    print(head)
    print("-" * len(head))
    ours: dict[str, Any] = {}
    for variant in args.variants.split(","):
        rss = run_child(variant, False, args)
        heap = (
            run_child(variant, True, args)
            if not args.smoke
            else {"per_stream_first": float("nan"), "per_stream_open": float("nan")}
        )
        print(
            f"{VARIANTS[variant][0]:<30}  {rss['per_stream_first'] / 1024:>14.1f}  {heap['per_stream_first'] / 1024:>15.1f}"
            f"  {heap['per_stream_open'] / 1024:>12.1f}  {rss['p50_ms']:>7.2f}  {rss['p99_ms']:>7.2f}  {rss['max_ms']:>7.1f}"
            f"  {rss['opened_in_s']:>10.2f}s"
        )
        sys.stdout.flush()
        if variant == "ours":
            ours = {"rss": rss, "heap": heap}
    if ours:
        worst = max(ours["rss"]["per_stream_first"], ours["heap"]["per_stream_first"]) / 1024
        print_targets(
            [Target("ours: KiB per open stream (worse of RSS and heap)", worst, 50)], smoke=args.smoke
        )


if __name__ == "__main__":
    main()
