"""What the benches run: the same counter action served every way we compare.

- ours: ``@on_action`` handlers behind ``ChatKitPlugin`` (or ``Dispatcher`` alone);
- the peer: openai-chatkit's ``ChatKitServer.process()`` with equivalent
  handlers, as shipped (it builds a pydantic ``TypeAdapter`` for the whole
  request union on every call) and "fair" (that adapter built once; the rest
  of ``process()`` unchanged);
- baselines: a bare Litestar ``@post`` handler and a bare ``@asgi`` route that
  only decode the body with msgspec and encode it back, and a bare ``Stream``
  handler that decodes the body and streams two pre-framed events.

Both stores keep JSON bytes and decode on every load (as a database would), so
ours and the peer pay for the same persistence work.
"""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, post
from litestar.handlers import asgi
from litestar.response import Stream

from chatkit_handlers import ActionContext, ActionRouter, on_action
from chatkit_handlers.asgi import ChatKitApp
from chatkit_handlers.dispatch import Dispatcher
from chatkit_handlers.errors import NotFoundError
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import LocalLocks, MemoryStore
from chatkit_handlers.types import (
    CustomActionRequest,
    StreamOptions,
    StreamOptionsEvent,
    SyncCustomActionRequest,
    SyncCustomActionResponse,
    ThreadItem,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    WidgetItem,
    WidgetRootUpdated,
)

__all__ = [
    "ITEM",
    "SSE",
    "THREAD",
    "Increment",
    "ObjectStore",
    "Tick",
    "body",
    "build_app",
    "counter_card",
    "make_dispatcher",
    "make_router",
    "peer_servers",
    "seed_ours",
]

THREAD = "thr_bench"
ITEM = "wid_bench"
JSON = "application/json"
SSE = "text/event-stream"


def counter_card(n: int) -> dict[str, Any]:
    """A small but realistic widget: a count and three buttons (like examples/counter)."""
    return {
        "type": "Card",
        "children": [
            {"type": "Text", "id": "count", "value": str(n)},
            {
                "type": "Row",
                "children": [
                    {
                        "type": "Button",
                        "label": label,
                        "onClickAction": {"type": kind, "payload": payload, "streaming": False},
                    }
                    for label, kind, payload in (
                        ("+1", "counter.increment", {"by": 1}),
                        ("+5", "counter.increment", {"by": 5}),
                        ("Reset", "counter.reset", None),
                    )
                ],
            },
        ],
    }


def body(streaming: bool, action_type: str | None = None, payload: Any = None) -> bytes:
    """The request body a browser sends for the counter's action (``{"by": 1}`` unless given)."""
    kind = "threads.custom_action" if streaming else "threads.sync_custom_action"
    default = "counter.refresh" if streaming else "counter.increment"
    return msgspec.json.encode(
        {
            "type": kind,
            "params": {
                "thread_id": THREAD,
                "item_id": ITEM,
                "action": {
                    "type": action_type or default,
                    "payload": {"by": 1} if payload is None else payload,
                },
            },
            "metadata": {},
        }
    )


# --------------------------------------------------------------------------- ours


class Increment(msgspec.Struct, forbid_unknown_fields=True):
    """The counter's payload."""

    by: int = 1


async def increment(payload: Increment, ctx: ActionContext[Any]) -> dict[str, Any]:
    """Sync action: the sender's count plus ``payload.by``."""
    assert ctx.sender is not None
    count = int(ctx.sender.widget["children"][0]["value"])
    return counter_card((count + payload.by) % 1000)


async def refresh(payload: Increment, ctx: ActionContext[Any]) -> AsyncIterator[ThreadItemUpdatedEvent]:
    """Streaming action with one widget update."""
    assert ctx.sender is not None
    count = int(ctx.sender.widget["children"][0]["value"])
    yield ctx.update_widget(counter_card((count + payload.by) % 1000))


class Tick(msgspec.Struct):
    """The slow stream's payload: ``events`` widget updates, one every ``interval`` seconds."""

    events: int = 5
    interval: float = 0.5


def ticker_card(due: float) -> dict[str, Any]:
    """A widget carrying the moment its update was due, so the receiver can tell the latency."""
    return {"type": "Card", "children": [{"type": "Text", "id": "due", "value": repr(due)}]}


async def ticks(events: int, interval: float) -> AsyncIterator[float]:
    """Sleep until each tick is due, then give its due time (the clock is ``time.perf_counter``)."""
    due = time.perf_counter()
    for _ in range(events):
        due += interval
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        yield due


async def tick(payload: Tick, ctx: ActionContext[Any]) -> AsyncIterator[ThreadItemUpdatedEvent]:
    """A slow stream: one widget update every ``payload.interval`` seconds."""
    async for due in ticks(payload.events, payload.interval):
        yield ctx.update_widget(ticker_card(due))


def make_router(**options: Any) -> ActionRouter:
    """A router with the counter actions; ``options`` (``guards=``, ``timeout=``) go to every route."""
    router = ActionRouter()
    for fn, action_type, streaming in (
        (increment, "counter.increment", False),
        (refresh, "counter.refresh", True),
        (tick, "counter.tick", True),
    ):
        # A copy per router: @on_action records itself on the function it decorates.
        copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
        copy.__annotations__ = fn.__annotations__
        router.add(on_action(action_type, streaming=streaming, **options)(copy))
    return router


class ObjectStore(LocalLocks):
    """A store that keeps the objects themselves: no copy, no JSON (the cheapest possible store).

    Only for measuring what the dispatcher itself costs; a real store copies.
    Like every store here it reads a thread and its widget in one call
    (``load_thread_and_item``). Per-process locks as any store has; ``transaction()`` writes straight
    through (nothing to roll back in a bench). Like ``MemoryStore`` it never
    suspends, and says so (``never_suspends``).
    """

    loads_thread_and_item = True
    never_suspends = True

    def __init__(self) -> None:
        LocalLocks.__init__(self)
        self.threads: dict[str, ThreadMetadata] = {}
        self.items: dict[str, dict[str, ThreadItem]] = {}

    @asynccontextmanager
    async def transaction(self, *, context: Any = None) -> AsyncIterator[ObjectStore]:
        yield self

    async def load_thread(self, thread_id: str, *, context: Any) -> ThreadMetadata:
        try:
            return self.threads[thread_id]
        except KeyError:
            raise NotFoundError(thread_id) from None

    async def save_thread(self, thread: ThreadMetadata, *, context: Any) -> None:
        self.threads[thread.id] = thread
        self.items.setdefault(thread.id, {})

    async def load_thread_items(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def load_item(self, thread_id: str, item_id: str, *, context: Any) -> ThreadItem:
        try:
            return self.items[thread_id][item_id]
        except KeyError:
            raise NotFoundError(item_id) from None

    async def load_thread_and_item(
        self, thread_id: str, item_id: str, *, context: Any
    ) -> tuple[ThreadMetadata, ThreadItem | None]:
        """Both in one call, as every store here offers (``MemoryStore`` too)."""
        try:
            return self.threads[thread_id], self.items[thread_id].get(item_id)
        except KeyError:
            raise NotFoundError(thread_id) from None

    async def add_thread_item(self, thread_id: str, item: ThreadItem, *, context: Any) -> None:
        self.items[thread_id][item.id] = item

    async def save_item(self, thread_id: str, item: ThreadItem, *, context: Any) -> None:
        self.items[thread_id][item.id] = item

    async def delete_thread_item(self, thread_id: str, item_id: str, *, context: Any) -> None:
        self.items[thread_id].pop(item_id, None)


async def seed_ours(store: Any) -> None:
    """The thread and its counter widget."""
    await store.save_thread(ThreadMetadata(id=THREAD), context=None)
    await store.add_thread_item(
        THREAD, WidgetItem(id=ITEM, thread_id=THREAD, widget=counter_card(0)), context=None
    )


# --------------------------------------------------------------------------- peer


def peer_servers(*, copying: bool = True) -> tuple[Any, Any]:
    """openai-chatkit servers with our handlers' twins: ``(as_shipped, fair)``, one shared store.

    ``copying=True``: the store keeps JSON and validates on load (like ``MemoryStore``);
    ``False``: it keeps the objects themselves (like ``ObjectStore``).
    """
    from datetime import datetime

    from chatkit import types as ck
    from chatkit.widgets import DynamicWidgetRoot
    from pydantic import TypeAdapter

    from bench._peer import CounterServer, CounterStore, FairProcess

    item_adapter: TypeAdapter[Any] = TypeAdapter(ck.ThreadItem)

    def keep(model: Any) -> Any:
        return model.model_dump_json().encode() if copying else model

    class PeerStore(CounterStore):
        """Models kept as JSON and validated on load (``copying``), or kept as they are."""

        def __init__(self) -> None:
            self.threads: dict[str, Any] = {}
            self.items: dict[str, dict[str, Any]] = {}

        async def load_thread(self, thread_id: str, context: Any) -> Any:
            kept = self.threads[thread_id]
            return ck.ThreadMetadata.model_validate_json(kept) if copying else kept

        async def save_thread(self, thread: Any, context: Any) -> None:
            self.threads[thread.id] = keep(thread)
            self.items.setdefault(thread.id, {})

        async def load_item(self, thread_id: str, item_id: str, context: Any) -> Any:
            kept = self.items[thread_id][item_id]
            return item_adapter.validate_json(kept) if copying else kept

        async def add_thread_item(self, thread_id: str, item: Any, context: Any) -> None:
            self.items[thread_id][item.id] = keep(item)

        async def save_item(self, thread_id: str, item: Any, context: Any) -> None:
            self.items[thread_id][item.id] = keep(item)

        async def delete_thread_item(self, thread_id: str, item_id: str, context: Any) -> None:
            self.items[thread_id].pop(item_id, None)

    class PeerServer(CounterServer):
        """The counter's handlers written the chatkit way."""

        async def sync_action(self, thread: Any, action: Any, sender: Any, context: Any) -> Any:
            count = int(sender.widget.children[0].value)
            widget = DynamicWidgetRoot.model_validate(counter_card((count + action.payload["by"]) % 1000))
            return ck.SyncCustomActionResponse(updated_item=sender.model_copy(update={"widget": widget}))

        async def action(self, thread: Any, action: Any, sender: Any, context: Any) -> AsyncIterator[Any]:
            if action.type == "counter.tick":
                async for due in ticks(action.payload["events"], action.payload["interval"]):
                    widget = DynamicWidgetRoot.model_validate(ticker_card(due))
                    yield ck.ThreadItemUpdatedEvent(
                        item_id=sender.id, update=ck.WidgetRootUpdated(widget=widget)
                    )
                return
            count = int(sender.widget.children[0].value)
            widget = DynamicWidgetRoot.model_validate(counter_card((count + action.payload["by"]) % 1000))
            yield ck.ThreadItemUpdatedEvent(item_id=sender.id, update=ck.WidgetRootUpdated(widget=widget))

    class FairPeerServer(FairProcess, PeerServer):
        """``process()`` exactly as shipped, except that the request adapter is built once."""

    store = PeerStore()
    store.threads[THREAD] = keep(ck.ThreadMetadata(id=THREAD, created_at=datetime.now()))
    item = ck.WidgetItem(
        id=ITEM,
        thread_id=THREAD,
        created_at=datetime.now(),
        widget=DynamicWidgetRoot.model_validate(counter_card(0)),
    )
    store.items[THREAD] = {ITEM: keep(item)}
    return PeerServer(store), FairPeerServer(store)


# --------------------------------------------------------------------------- the Litestar app

_ActionRequest = CustomActionRequest | SyncCustomActionRequest
_decode_request = msgspec.json.Decoder(_ActionRequest).decode
_encode = msgspec.json.Encoder().encode
_STREAM_OPTIONS = (
    b"data: " + _encode(StreamOptionsEvent(stream_options=StreamOptions(allow_cancel=True))) + b"\n\n"
)


@post("/bare/post", status_code=200)
async def bare_post(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The hand-written endpoint: msgspec decode of the body, encode it back."""
    decoded = _decode_request(await request.body())
    return Response(_encode(decoded), media_type=JSON)


@post("/bare/post-data", status_code=200)
async def bare_post_data(data: dict[str, Any]) -> dict[str, Any]:
    """The same with Litestar's own body parsing and response encoding."""
    return data


@asgi("/bare/asgi", copy_scope=False)
async def bare_asgi(scope: Any, receive: Any, send: Any) -> None:
    """The same work in an ASGI route: no Request, signature or Response pipeline."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    out = _encode(_decode_request(b"".join(chunks)))
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": out, "more_body": False})


@post("/bare/stream", status_code=200)
async def bare_stream(request: Request[Any, Any, Any]) -> Stream:
    """A hand-written SSE endpoint: decode, then stream two pre-framed events."""
    decoded = _decode_request(await request.body())
    update = ThreadItemUpdatedEvent(
        item_id=decoded.params.item_id or "", update=WidgetRootUpdated(widget=counter_card(1))
    )

    async def events() -> AsyncIterator[bytes]:
        yield _STREAM_OPTIONS
        yield b"data: " + _encode(update) + b"\n\n"

    return Stream(events(), media_type=SSE)


@post("/bare/stream-slow", status_code=200)
async def bare_stream_slow(request: Request[Any, Any, Any]) -> Stream:
    """A hand-written slow SSE endpoint: what ``counter.tick`` does, without a framework."""
    decoded = _decode_request(await request.body())
    item_id = decoded.params.item_id or ""
    payload = msgspec.json.decode(decoded.params.action.payload, type=Tick)

    async def events() -> AsyncIterator[bytes]:
        yield _STREAM_OPTIONS
        async for due in ticks(payload.events, payload.interval):
            update = ThreadItemUpdatedEvent(
                item_id=item_id, update=WidgetRootUpdated(widget=ticker_card(due))
            )
            yield b"data: " + _encode(update) + b"\n\n"

    return Stream(events(), media_type=SSE)


def _hand_written(store: MemoryStore) -> Any:
    """The counter's action written by hand in a Litestar ``@post`` route, over the same store.

    What issue 7's bare ``@post`` leaves out: loading the thread and the widget, the handler's
    work, saving the widget. No lock (concurrent clicks could lose an update), no validation
    error handling beyond msgspec's, no sender check: the least a hand-written endpoint does.
    """

    @post("/bare/post-store", status_code=200)
    async def hand_written(request: Request[Any, Any, Any]) -> Response[bytes]:
        params = _decode_request(await request.body()).params
        assert params.item_id is not None
        payload = msgspec.json.decode(params.action.payload, type=Increment)
        thread, sender = await store.load_thread_and_item(params.thread_id, params.item_id, context=None)
        assert isinstance(sender, WidgetItem)
        count = int(sender.widget["children"][0]["value"])
        item = msgspec.structs.replace(sender, widget=counter_card((count + payload.by) % 1000))
        await store.save_item(thread.id, item, context=None)
        return Response(_encode(SyncCustomActionResponse(updated_item=item)), media_type=JSON)

    return hand_written


def peer_handler(server: Any, path: str) -> Any:
    from chatkit.server import StreamingResult

    @post(path, status_code=200, name=path)
    async def handler(request: Request[Any, Any, Any]) -> Response[bytes] | Stream:
        result = await server.process(await request.body(), None)
        if isinstance(result, StreamingResult):
            return Stream(result, media_type=SSE)
        return Response(result.json, media_type=JSON)

    return handler


def build_app(
    store: MemoryStore,
    *,
    peers: bool = True,
    seed: bool = False,
    objects: ObjectStore | None = None,
    **plugin_kwargs: Any,
) -> Litestar:
    """One app with every variant: ours on ``/chatkit``, the rest under ``/bare`` and ``/peer``.

    ``seed=True`` seeds ``store`` on startup (for a server process); ``objects``
    mounts a second ``ChatKitPlugin`` over that store on ``/chatkit-objects``.
    """
    handlers: list[Any] = [
        bare_post,
        bare_post_data,
        bare_asgi,
        bare_stream,
        bare_stream_slow,
        _hand_written(store),
    ]
    if peers:
        shipped, fair = peer_servers()
        handlers += [peer_handler(shipped, "/peer/shipped"), peer_handler(fair, "/peer/fair")]
    plugins = [ChatKitPlugin(make_router(), store=store, path="/chatkit", **plugin_kwargs)]
    # The plain ASGI app over the same store, in an @asgi route of the same app (as the plugin is).
    handlers.append(asgi("/chatkit-asgi", copy_scope=False)(ChatKitApp(make_router(), store=store).__call__))
    if objects is not None:
        plugins.append(ChatKitPlugin(make_router(), store=objects, path="/chatkit-objects", **plugin_kwargs))

    async def seed_store() -> None:
        await seed_ours(store)

    return Litestar(
        route_handlers=handlers,
        plugins=plugins,
        on_startup=[seed_store] if seed else [],
        debug=False,
        logging_config=None,
    )


def make_dispatcher(store: Any, **options: Any) -> Dispatcher:
    """The framework-free core over the same router (``options`` as for ``make_router``)."""
    return Dispatcher(make_router(**options), store)
