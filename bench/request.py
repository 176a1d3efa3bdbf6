"""Bench 1: one whole request through a Litestar app, in-process (no sockets).

    python -m bench.request            # full run (~1 min)
    python -m bench.request --smoke    # a few seconds; proves every variant answers

Every variant is a route of the same Litestar app, called as an ASGI app with a
scope/receive/send of our own (bench/_harness.py): ``ChatKitPlugin`` against a
bare ``@post`` handler (msgspec decode + encode of the same body), a bare
``@asgi`` route, and openai-chatkit's ``process()`` in a ``@post`` route (as
shipped, and with its request ``TypeAdapter`` built once: the fair peer). The sync action is
also compared with the same action written by hand in a ``@post`` route over the same store
(load, the handler's work, save; no lock): what the bare ``@post`` leaves out. The
streaming action (one widget update) is compared with a bare ``Stream`` handler.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from bench._apps import ITEM, ObjectStore, body, build_app, seed_ours
from bench._harness import Target, asgi_request, bench_args, environment, measure, print_table, print_targets
from chatkit_handlers.stores import MemoryStore

HAND_WRITTEN = "hand-written @post (load, handler, save)"
SYNC = body(streaming=False)
STREAM = body(streaming=True)

# (variant, path in build_app's app)
SYNC_ROUTES = [
    ("ours: ChatKitPlugin", "/chatkit"),
    ("ours: ChatKitApp (plain ASGI)", "/chatkit-asgi"),
    ("ours, ObjectStore (no store cost)", "/chatkit-objects"),
    ("bare @post", "/bare/post"),
    ("bare @post (data: dict)", "/bare/post-data"),
    ("bare @asgi", "/bare/asgi"),
    (HAND_WRITTEN, "/bare/post-store"),
    ("peer fair (adapter cached)", "/peer/fair"),
    ("peer as shipped", "/peer/shipped"),
]
STREAM_ROUTES = [
    ("ours: ChatKitPlugin", "/chatkit"),
    ("ours: ChatKitApp (plain ASGI)", "/chatkit-asgi"),
    ("ours, ObjectStore (no store cost)", "/chatkit-objects"),
    ("bare Stream", "/bare/stream"),
    ("peer fair (adapter cached)", "/peer/fair"),
    ("peer as shipped", "/peer/shipped"),
]


def check_answer(name: str, status: int, data: bytes, streaming: bool) -> None:
    """Every variant must really answer before it is timed."""
    if status != 200:
        raise SystemExit(f"{name}: status {status}: {data[:300]!r}")
    if streaming:
        if not data.startswith(b'data: {"type":"stream_options"') or b"thread.item.updated" not in data:
            raise SystemExit(f"{name}: unexpected stream {data[:300]!r}")
    elif name.startswith(("ours", "peer", HAND_WRITTEN)):
        if msgspec.json.decode(data)["updated_item"]["id"] != ITEM:
            raise SystemExit(f"{name}: unexpected body {data[:300]!r}")
    elif b"counter.increment" not in data:
        raise SystemExit(f"{name}: unexpected body {data[:300]!r}")


async def run(smoke: bool, rounds: int) -> list[Target]:
    store, objects = MemoryStore(), ObjectStore()
    await seed_ours(store)
    await seed_ours(objects)
    app: Any = build_app(store, objects=objects)

    def variant(name: str, path: str, payload: bytes) -> tuple[str, Any]:
        async def once() -> None:
            call = await asgi_request(app, path, payload)
            if call.status != 200:
                raise RuntimeError(f"{name}: {call.status} {call.body[:200]!r}")

        return name, once

    for routes, payload, streaming in ((SYNC_ROUTES, SYNC, False), (STREAM_ROUTES, STREAM, True)):
        for name, path in routes:
            call = await asgi_request(app, path, payload)
            check_answer(name, call.status, call.body, streaming)
    sync = [variant(name, path, SYNC) for name, path in SYNC_ROUTES]
    stream = [variant(name, path, STREAM) for name, path in STREAM_ROUTES]

    batch = 0.002 if smoke else 0.05
    rounds = 1 if smoke else rounds
    s = await measure(sync, rounds=rounds, batch_seconds=batch)
    print_table(
        "sync action (threads.sync_custom_action), whole request in-process",
        s,
        ["bare @post", HAND_WRITTEN, "peer fair (adapter cached)"],
    )
    t = await measure(stream, rounds=rounds, batch_seconds=batch)
    print_table(
        "streaming action, one widget update (threads.custom_action), whole request in-process",
        t,
        ["bare Stream", "peer fair (adapter cached)"],
    )
    sm = {m.name: m for m in s}
    tm = {m.name: m for m in t}
    ours = "ours: ChatKitPlugin"
    fair = "peer fair (adapter cached)"
    return [
        Target("sync: ours ÷ bare @post", sm[ours].ratio(sm["bare @post"]), 0.5),
        # The same bound against the endpoint doing the same store work (not issue 7's baseline).
        Target("sync: ours ÷ hand-written @post, same work", sm[ours].ratio(sm[HAND_WRITTEN]), 0.5),
        Target("sync: ours ÷ peer fair", sm[ours].ratio(sm[fair]), 0.25),
        Target("stream: ours ÷ bare Stream", tm[ours].ratio(tm["bare Stream"]), 0.5),
        Target("stream: ours ÷ peer fair", tm[ours].ratio(tm[fair]), 0.25),
    ]


def main() -> None:
    args = bench_args(__doc__ or "")
    print(environment())
    targets = asyncio.run(run(args.smoke, args.rounds))
    print_targets(targets, smoke=args.smoke)


if __name__ == "__main__":
    main()
