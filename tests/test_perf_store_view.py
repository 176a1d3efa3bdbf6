"""The store view an action's handler sees is made only when it asks for it.

With ``LocalLocks``' own ``lock()``, the dispatcher takes an action's keys on the
store itself (``take_keys_now``) and ``ctx.store`` makes the view that remembers
them on first use (bench/README.md, change 36). What must not change: a
handler asking for the store gets a view holding the action's keys (so taking
them again does not wait for itself), the same view every time, and every key
is given back however the action ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from _stores_support import action, events

from chatkit_handlers import ActionContext, ActionRouter
from chatkit_handlers.dispatch import Dispatcher
from chatkit_handlers.stores import MemoryStore, Store, item_lock, thread_lock
from chatkit_handlers.types import ThreadItemUpdatedEvent, ThreadMetadata, WidgetItem

pytestmark = pytest.mark.anyio

CARD = {"type": "Card", "children": [{"type": "Text", "id": "n", "value": "0"}]}
ITEM_KEY = item_lock("thr_1", "wid_1")
THREAD_KEY = thread_lock("thr_1")


class CountingStore(MemoryStore):
    """A MemoryStore that counts the copies made of it (lock views, transaction views)."""

    def __init__(self) -> None:
        super().__init__()
        self.copies = 0

    def __copy__(self) -> CountingStore:
        self.copies += 1
        return super().__copy__()


async def seeded() -> CountingStore:
    store = CountingStore()
    await store.save_thread(ThreadMetadata(id="thr_1"), context=None)
    await store.add_thread_item("thr_1", WidgetItem(id="wid_1", thread_id="thr_1", widget=CARD), context=None)
    store.copies = 0
    return store


def make_router(seen: list[Any]) -> ActionRouter:
    router = ActionRouter()

    @router.on_action("plain.sync", streaming=False)
    async def plain_sync(ctx: ActionContext[Any]) -> dict[str, Any]:
        return CARD

    @router.on_action("store.sync", streaming=False)
    async def store_sync(ctx: ActionContext[Any], store: Store) -> dict[str, Any]:
        seen.append(store)
        assert ctx.store is store  # the same view every time
        async with store.lock(ITEM_KEY, timeout=0) as again:  # held already: no wait for itself
            seen.append(again)
        return CARD

    @router.on_action("plain.stream")
    async def plain_stream(ctx: ActionContext[Any]) -> AsyncIterator[ThreadItemUpdatedEvent]:
        yield ctx.update_widget(CARD)

    @router.on_action("store.stream")
    async def store_stream(ctx: ActionContext[Any]) -> AsyncIterator[ThreadItemUpdatedEvent]:
        store = ctx.store
        assert store is not None
        seen.append(store)
        async with store.lock(THREAD_KEY, ITEM_KEY, timeout=0):  # held already: no wait for itself
            yield ctx.update_widget(CARD)

    return router


async def answer(dispatcher: Dispatcher, kind: str, action_type: str) -> list[dict[str, Any]]:
    result = await dispatcher.dispatch(action(kind, action_type, thread="thr_1", item="wid_1"))
    assert result.status_code == 200, result.body
    if result.stream is None:
        return [msgspec.json.decode(result.body or b"")]
    return events(b"".join([chunk async for chunk in result.stream]))


async def test_a_handler_that_never_asks_for_the_store_costs_no_view() -> None:
    store = await seeded()
    dispatcher = Dispatcher(make_router([]), store, lock_timeout=0)
    (sync,) = await answer(dispatcher, "sync", "plain.sync")
    assert sync["updated_item"]["id"] == "wid_1"
    streamed = await answer(dispatcher, "stream", "plain.stream")
    assert [e["type"] for e in streamed] == ["stream_options", "thread.item.updated"]
    assert store.copies == 0  # neither action made a view of the store
    assert store._locks.held() == 0


class OldStyleDispatcher(Dispatcher):
    """A subclass overriding load_context with its documented signature (instrumentation, say)."""

    loads = 0

    async def load_context(
        self, request: Any, route: Any, context: Any, store: Store | None = None
    ) -> ActionContext[Any]:
        type(self).loads += 1
        return await super().load_context(request, route, context, store)


@pytest.mark.parametrize("cls", [Dispatcher, OldStyleDispatcher])
@pytest.mark.parametrize(
    ("kind", "action_type", "keys"),
    [("sync", "store.sync", (ITEM_KEY,)), ("stream", "store.stream", (THREAD_KEY, ITEM_KEY))],
)
async def test_a_handler_asking_for_the_store_gets_a_view_holding_the_actions_keys(
    cls: type[Dispatcher], kind: str, action_type: str, keys: tuple[Any, ...]
) -> None:
    """Also through a subclass overriding load_context with its documented signature."""
    store = await seeded()
    seen: list[Any] = []
    OldStyleDispatcher.loads = 0
    dispatcher = cls(make_router(seen), store, lock_timeout=0)
    answered = await answer(dispatcher, kind, action_type)
    assert all(e.get("type") != "error" for e in answered), answered
    assert OldStyleDispatcher.loads == (cls is OldStyleDispatcher)
    view = seen[0]
    assert type(view) is CountingStore
    assert view is not store
    assert view._held == keys
    assert store._locks.held() == 0  # every key given back
    # The next action on the same widget is not refused as busy: nothing leaked.
    assert (await answer(dispatcher, kind, action_type))[0].get("type") != "error"
    assert store._locks.held() == 0


async def test_a_context_built_by_hand_hands_out_its_store_as_given() -> None:
    store = MemoryStore()
    ctx: ActionContext[Any] = ActionContext(thread=ThreadMetadata(id="thr_1"), store=store)
    assert ctx.store is store
    other = MemoryStore()
    ctx.store = other
    assert ctx.store is other


async def test_a_context_kept_past_its_action_hands_out_the_store_holding_nothing() -> None:
    store = await seeded()
    kept: list[ActionContext[Any]] = []
    router = ActionRouter()

    @router.on_action("keep.sync", streaming=False)
    async def keep_sync(ctx: ActionContext[Any]) -> None:
        kept.append(ctx)

    @router.on_action("keep.stream")
    async def keep_stream(ctx: ActionContext[Any]) -> AsyncIterator[ThreadItemUpdatedEvent]:
        kept.append(ctx)
        yield ctx.update_widget(CARD)

    dispatcher = Dispatcher(router, store, lock_timeout=0)
    await answer(dispatcher, "sync", "keep.sync")
    await answer(dispatcher, "stream", "keep.stream")
    for ctx in kept:  # e.g. a background task reading ctx.store once the action has ended
        assert ctx.store is store  # not a view claiming keys another action may hold by now
    assert store._locks.held() == 0


def test_the_lock_and_write_buffer_reprs_leave_out_the_request_context() -> None:
    from chatkit_handlers._execution.locks import StreamLock
    from chatkit_handlers._execution.persist import WriteBuffer

    secret = {"user": "ada", "token": "s3cr3t"}
    store = MemoryStore()
    lock = StreamLock(store, (THREAD_KEY,), 1.0, secret, None, None, None)  # type: ignore[arg-type]
    assert "s3cr3t" not in repr(lock)
    assert "s3cr3t" not in repr(lock.__rich_repr__())  # what rich and structlog show
    assert repr(lock) == "StreamLock(keys=(('thread', 'thr_1'),), held=False)"
    writes = WriteBuffer("thr_1", WidgetItem(id="wid_1", thread_id="thr_1", widget={"token": "s3cr3t"}))
    assert "s3cr3t" not in repr(writes)
    assert "s3cr3t" not in repr(writes.__rich_repr__())
    assert lock != StreamLock(store, (THREAD_KEY,), 1.0, secret, None, None, None)  # type: ignore[arg-type]
    assert len({lock, writes}) == 2  # hashable, by identity
