"""Helpers for the routing tests: a seeded store, request bodies, running a router through a Dispatcher."""

from __future__ import annotations

from typing import Any

import msgspec

from chatkit_handlers import ActionRouter
from chatkit_handlers._routing.providers import Extras
from chatkit_handlers.dispatch import Dispatcher
from chatkit_handlers.stores import MemoryStore
from chatkit_handlers.types import ThreadMetadata, WidgetItem

THREAD = "thr_routing"
ITEM = "wid_routing"
CARD: dict[str, Any] = {"type": "Card", "children": [{"type": "Text", "id": "t", "value": "0"}]}


async def seeded_store() -> MemoryStore:
    """A MemoryStore with thread ``THREAD`` holding the widget ``ITEM`` (``CARD``)."""
    store = MemoryStore()
    await store.save_thread(ThreadMetadata(id=THREAD, title="routing"), context=None)
    await store.add_thread_item(THREAD, WidgetItem(id=ITEM, thread_id=THREAD, widget=CARD), context=None)
    return store


def body(
    action_type: str, payload: Any = None, *, streaming: bool = True, item_id: str | None = ITEM
) -> bytes:
    """A ``threads.custom_action`` (or, with ``streaming=False``, sync) request body."""
    params: dict[str, Any] = {"thread_id": THREAD, "action": {"type": action_type, "payload": payload}}
    if item_id is not None:
        params["item_id"] = item_id
    kind = "threads.custom_action" if streaming else "threads.sync_custom_action"
    return msgspec.json.encode({"type": kind, "params": params})


def parse_sse(raw: bytes) -> list[dict[str, Any]]:
    """Split an SSE body into events, asserting chatkit's exact ``data: <json>\\n\\n`` framing."""
    assert raw.endswith(b"\n\n"), raw[-40:]
    events = []
    for block in raw[:-2].split(b"\n\n"):
        assert block.startswith(b"data: "), block[:40]
        assert b"\n" not in block, block
        events.append(msgspec.json.decode(block[6:]))
    return events


async def call(
    router: ActionRouter,
    action_type: str,
    payload: Any = None,
    *,
    streaming: bool | None = None,
    context: Any = None,
    extras: Extras | None = None,
    store: MemoryStore | None = None,
    item_id: str | None = ITEM,
) -> tuple[int, Any]:
    """Dispatch one action; return ``(status, JSON body)`` or ``(status, [events])`` for a stream."""
    route = router.lookup(action_type)
    if streaming is None:
        streaming = route.streaming if route is not None else True
    dispatcher = Dispatcher(router, store or await seeded_store())
    result = await dispatcher.dispatch(
        body(action_type, payload, streaming=streaming, item_id=item_id), context, extras=extras
    )
    if result.stream is None:
        assert result.body is not None
        return result.status_code, msgspec.json.decode(result.body)
    chunks = [chunk async for chunk in result.stream]
    return result.status_code, parse_sse(b"".join(chunks))


def event_types(events: list[dict[str, Any]]) -> list[str]:
    """The ``type`` of each event."""
    return [event["type"] for event in events]
