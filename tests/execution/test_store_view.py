"""The store an action's handler sees: a view holding the action's keys.

A handler asking for the store gets a view holding the action's keys (so
taking them again does not wait for itself), the same view every time; every
key is given back however the action ends, and a view kept past its action
claims nothing any more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from _stores_support import action, events

from chatkit_handlers import ActionContext, ActionRouter
from chatkit_handlers.dispatch import Dispatcher
from chatkit_handlers.errors import LockTimeoutError
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


def make_router(seen: list[Any], held: list[tuple[Any, ...]] | None = None) -> ActionRouter:
    held = [] if held is None else held
    router = ActionRouter()

    @router.on_action("plain.sync", streaming=False)
    async def plain_sync(ctx: ActionContext[Any]) -> dict[str, Any]:
        return CARD

    @router.on_action("store.sync", streaming=False)
    async def store_sync(ctx: ActionContext[Any], store: Store) -> dict[str, Any]:
        seen.append(store)
        held.append(store.held_keys())  # type: ignore[attr-defined]
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
        held.append(store.held_keys())  # type: ignore[attr-defined]
        async with store.lock(THREAD_KEY, ITEM_KEY, timeout=0):  # held already: no wait for itself
            yield ctx.update_widget(CARD)

    return router


async def answer(dispatcher: Dispatcher, kind: str, action_type: str) -> list[dict[str, Any]]:
    result = await dispatcher.dispatch(action(kind, action_type, thread="thr_1", item="wid_1"))
    assert result.status_code == 200, result.body
    if result.stream is None:
        return [msgspec.json.decode(result.body or b"")]
    return events(b"".join([chunk async for chunk in result.stream]))


@pytest.mark.parametrize(
    ("kind", "action_type", "keys"),
    [("sync", "store.sync", (ITEM_KEY,)), ("stream", "store.stream", (THREAD_KEY, ITEM_KEY))],
)
async def test_a_handler_asking_for_the_store_gets_a_view_holding_the_actions_keys(
    kind: str, action_type: str, keys: tuple[Any, ...]
) -> None:
    store = await seeded()
    seen: list[Any] = []
    held: list[tuple[Any, ...]] = []
    dispatcher = Dispatcher(make_router(seen, held), store, lock_timeout=0)
    answered = await answer(dispatcher, kind, action_type)
    assert all(e.get("type") != "error" for e in answered), answered
    view = seen[0]
    assert type(view) is CountingStore
    assert view is not store
    assert held == [frozenset(keys)]
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
    assert store._locks.held() == 0
    for ctx in kept:  # e.g. a background task using ctx.store once the action has ended
        lease = store.try_lock((ITEM_KEY, THREAD_KEY))  # another action holds the keys by now
        assert lease is not None
        assert ctx.store is not None
        with pytest.raises(LockTimeoutError):  # the kept view claims nothing: it waits like anyone
            async with ctx.store.lock(ITEM_KEY, timeout=0):
                pass
        lease.release()
    assert store._locks.held() == 0


def test_the_lock_and_write_buffer_reprs_leave_out_the_request_context() -> None:
    from chatkit_handlers._execution.locks import ActionLocks
    from chatkit_handlers._execution.persist import WriteBuffer

    secret = {"user": "ada", "token": "s3cr3t"}
    locks = ActionLocks(MemoryStore(), (THREAD_KEY,), 1.0, secret, in_process=True)
    assert "s3cr3t" not in repr(locks)
    assert repr(locks) == "ActionLocks(keys=(('thread', 'thr_1'),), held=False)"
    writes = WriteBuffer("thr_1", WidgetItem(id="wid_1", thread_id="thr_1", widget={"token": "s3cr3t"}))
    assert "s3cr3t" not in repr(writes)
    assert "s3cr3t" not in repr(writes.__rich_repr__())
