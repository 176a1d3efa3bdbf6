"""Bench 2: the dispatch core without any web framework (bytes in, bytes out).

    python -m bench.core            # full run (~1 min)
    python -m bench.core --smoke    # a few seconds; proves every variant answers

``Dispatcher.dispatch(body)`` against openai-chatkit's ``ChatKitServer.process(body)``
(as shipped, and with its request ``TypeAdapter`` built once: the fair peer), and
against a floor: msgspec decode of the envelope and the payload, one call of an
equivalent handler, msgspec encode of the answer (for a stream: the two framed
events), with the sender widget held in a variable instead of a store.

Two rows show what routing features cost per request (no target): a route with
one guard (the guard pipeline instead of a direct call) and one with ``timeout=``.

Each side runs with two stores: one that keeps JSON and decodes on every load
(``MemoryStore`` / its pydantic twin: what a database costs at the least) and one
that hands back the very objects it holds (``ObjectStore``: no store cost at all,
so what is left is the dispatcher's own work, which is what the floor measures).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec

from bench._apps import (
    ITEM,
    THREAD,
    Increment,
    ObjectStore,
    body,
    counter_card,
    make_dispatcher,
    peer_servers,
    seed_ours,
)
from bench._harness import Target, bench_args, environment, measure, print_table, print_targets
from chatkit_handlers import ActionContext
from chatkit_handlers.stores import MemoryStore
from chatkit_handlers.types import (
    CustomActionRequest,
    StreamOptions,
    StreamOptionsEvent,
    SyncCustomActionRequest,
    SyncCustomActionResponse,
    ThreadItemUpdatedEvent,
    WidgetItem,
    WidgetRootUpdated,
)

SYNC = body(streaming=False)
STREAM = body(streaming=True)

# --------------------------------------------------------------------------- the floor

_decode_request = msgspec.json.Decoder(CustomActionRequest | SyncCustomActionRequest).decode
_decode_payload = msgspec.json.Decoder(Increment).decode
_encode = msgspec.json.Encoder().encode
_STREAM_OPTIONS = (
    b"data: " + _encode(StreamOptionsEvent(stream_options=StreamOptions(allow_cancel=True))) + b"\n\n"
)


class Floor:
    """The least a server can do for the counter action: decode, one call, encode."""

    def __init__(self) -> None:
        self.sender = WidgetItem(id=ITEM, thread_id=THREAD, widget=counter_card(0))

    @staticmethod
    async def increment(payload: Increment, sender: WidgetItem) -> dict[str, Any]:
        return counter_card((int(sender.widget["children"][0]["value"]) + payload.by) % 1000)

    @staticmethod
    async def refresh(payload: Increment, sender: WidgetItem) -> AsyncIterator[ThreadItemUpdatedEvent]:
        count = int(sender.widget["children"][0]["value"])
        yield ThreadItemUpdatedEvent(
            item_id=sender.id, update=WidgetRootUpdated(widget=counter_card((count + payload.by) % 1000))
        )

    async def sync(self, data: bytes) -> bytes:
        request = _decode_request(data)
        widget = await self.increment(_decode_payload(request.params.action.payload), self.sender)
        self.sender = msgspec.structs.replace(self.sender, widget=widget)
        return _encode(SyncCustomActionResponse(updated_item=self.sender))

    async def stream(self, data: bytes) -> AsyncIterator[bytes]:
        request = _decode_request(data)
        yield _STREAM_OPTIONS
        async for event in self.refresh(_decode_payload(request.params.action.payload), self.sender):
            yield b"data: " + _encode(event) + b"\n\n"


# --------------------------------------------------------------------------- variants


def allow(ctx: ActionContext[Any]) -> None:
    """A guard that lets everything through: what the guard pipeline costs by itself."""


def ours_call(dispatcher: Any, data: bytes) -> Callable[[], Awaitable[bytes]]:
    async def once() -> bytes:
        result = await dispatcher.dispatch(data)
        if result.status_code != 200:
            raise RuntimeError(result)
        if result.stream is None:
            return result.body  # type: ignore[no-any-return]
        return b"".join([chunk async for chunk in result.stream])

    return once


def _peer(server: Any, data: bytes) -> Callable[[], Awaitable[bytes]]:
    from chatkit.server import StreamingResult

    async def once() -> bytes:
        result = await server.process(data, None)
        if isinstance(result, StreamingResult):
            return b"".join([chunk async for chunk in result])
        return result.json  # type: ignore[no-any-return]

    return once


def floor_call(floor: Floor, data: bytes, streaming: bool) -> Callable[[], Awaitable[bytes]]:
    async def once() -> bytes:
        if streaming:
            return b"".join([chunk async for chunk in floor.stream(data)])
        return await floor.sync(data)

    return once


def check_answer(name: str, out: bytes, streaming: bool) -> None:
    if streaming:
        ok = out.startswith(b'data: {"type":"stream_options"') and b"thread.item.updated" in out
    else:
        ok = msgspec.json.decode(out).get("updated_item", {}).get("id") == ITEM
    if not ok:
        raise SystemExit(f"{name}: unexpected answer {out[:300]!r}")


async def run(smoke: bool, rounds: int) -> list[Target]:
    memory, objects = MemoryStore(), ObjectStore()
    await seed_ours(memory)
    await seed_ours(objects)
    ours_memory, ours_objects = make_dispatcher(memory), make_dispatcher(objects)
    guarded = make_dispatcher(objects, guards=[allow])
    timed = make_dispatcher(objects, timeout=60.0)
    shipped, fair = peer_servers(copying=True)
    _shipped_objects, fair_objects = peer_servers(copying=False)
    floor = Floor()

    targets: list[Target] = []
    for streaming, data in ((False, SYNC), (True, STREAM)):
        variants = [
            ("floor", floor_call(floor, data, streaming)),
            ("ours, ObjectStore", ours_call(ours_objects, data)),
            ("ours, MemoryStore", ours_call(ours_memory, data)),
            ("ours, ObjectStore, 1 guard", ours_call(guarded, data)),
            ("ours, ObjectStore, timeout=", ours_call(timed, data)),
            ("peer fair, object store", _peer(fair_objects, data)),
            ("peer fair, JSON store", _peer(fair, data)),
            ("peer as shipped, JSON store", _peer(shipped, data)),
        ]
        for name, fn in variants:
            check_answer(name, await fn(), streaming)
        results = await measure(
            variants, rounds=1 if smoke else rounds, batch_seconds=0.002 if smoke else 0.05
        )
        mode = "stream" if streaming else "sync"
        title = (
            "streaming action, one widget update: Dispatcher.dispatch + reading the stream"
            if streaming
            else "sync action: Dispatcher.dispatch"
        )
        print_table(title, results, ["floor", "peer fair, object store", "peer fair, JSON store"])
        m = {r.name: r for r in results}
        targets += [
            Target(
                f"{mode}: ours ÷ peer fair (object stores)",
                m["ours, ObjectStore"].ratio(m["peer fair, object store"]),
                0.25,
            ),
            Target(
                f"{mode}: ours ÷ peer fair (JSON stores)",
                m["ours, MemoryStore"].ratio(m["peer fair, JSON store"]),
                0.25,
            ),
            Target(f"{mode}: ours (ObjectStore) ÷ floor", m["ours, ObjectStore"].ratio(m["floor"]), 2.0),
        ]
    return targets


def main() -> None:
    args = bench_args(__doc__ or "")
    print(environment())
    targets = asyncio.run(run(args.smoke, args.rounds))
    print_targets(targets, smoke=args.smoke)


if __name__ == "__main__":
    main()
