"""A stream's final write (``WriteBuffer.flush``): all or nothing, locked, shielded where it can be cut.

The write is shielded from cancellation and takes the locks of the widgets it
rewrites in place. On a store declaring ``never_suspends`` (``MemoryStore``)
nothing could cancel it halfway, so no shield is needed; keys the stream
already holds (its thread's, its sender's) are never taken twice. A widget
other than the sender is still locked before it is rewritten, on every store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import anyio.lowlevel
import msgspec
import pytest
from _stores_support import action, count_of, events

from chatkit_handlers import ActionContext, ActionRouter
from chatkit_handlers._execution import persist
from chatkit_handlers.dispatch import Dispatcher
from chatkit_handlers.stores import LockKey, MemoryStore, Store, item_lock
from chatkit_handlers.types import (
    ThreadItem,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    WidgetComponentUpdated,
    WidgetItem,
    WidgetRootUpdated,
)

pytestmark = pytest.mark.anyio


def card(n: int) -> dict[str, Any]:
    return {"type": "Card", "children": [{"type": "Text", "id": "count", "value": str(n)}]}


class LockCounting(MemoryStore):
    """A MemoryStore noting the keys of every ``lock()`` call (its views share the list)."""

    __slots__ = ("locked",)
    never_suspends = True  # overriding lock() only counts; it still never suspends

    def __init__(self) -> None:
        super().__init__()
        self.locked: list[tuple[LockKey, ...]] = []

    def lock(self, *keys: LockKey, timeout: float | None, context: Any = None) -> Any:
        self.locked.append(keys)
        return super().lock(*keys, timeout=timeout, context=context)


class Suspending(LockCounting):
    """The same store, but saying its writes may suspend (as a database's do)."""

    __slots__ = ()
    never_suspends = False


async def seeded(store: MemoryStore) -> MemoryStore:
    await store.save_thread(ThreadMetadata(id="thr_1"), context=None)
    for item_id in ("wid_1", "wid_2"):
        await store.add_thread_item(
            "thr_1", WidgetItem(id=item_id, thread_id="thr_1", widget=card(0)), context=None
        )
    return store


def router() -> ActionRouter:
    router = ActionRouter()

    @router.on_action("update.sender")
    async def update_sender(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
        yield ctx.update_widget(card(5))

    @router.on_action("update.other")
    async def update_other(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
        yield ctx.update_widget(card(9), item_id="wid_1")

    return router


async def stream(store: Store, action_type: str, sender: str = "wid_2") -> list[dict[str, Any]]:
    result = await Dispatcher(router(), store).dispatch(
        action("stream", action_type, thread="thr_1", item=sender)
    )
    assert result.stream is not None, result.body
    return events(b"".join([chunk async for chunk in result.stream]))


async def count(store: Store, item_id: str) -> int:
    item: ThreadItem = await store.load_item("thr_1", item_id, context=None)
    return count_of(msgspec.to_builtins(item))


@pytest.fixture
def shields(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The ``shield`` of every cancel scope the final write enters."""
    entered: list[bool] = []
    real = anyio.CancelScope

    def counting(*, deadline: float = float("inf"), shield: bool = False) -> anyio.CancelScope:
        entered.append(shield)
        return real(deadline=deadline, shield=shield)

    monkeypatch.setattr(persist, "CancelScope", counting)
    return entered


def test_memory_store_never_suspends_while_every_store_method_is_its_own() -> None:
    class Plain(MemoryStore):
        pass

    class OverridesAWrite(MemoryStore):
        async def save_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
            await anyio.lowlevel.checkpoint()  # e.g. a network round trip: a cancellation can land here
            await super().save_item(thread_id, item, context=context)

    class OverridesATransaction(MemoryStore):
        def transaction(self, *, context: Any = None) -> AbstractAsyncContextManager[Any]:
            return super().transaction(context=context)

    class Audit:
        async def save_thread(self, thread: ThreadMetadata, *, context: Any = None) -> None:
            await anyio.lowlevel.checkpoint()
            await super().save_thread(thread, context=context)  # type: ignore[misc]

    class Mixed(Audit, MemoryStore):  # the override comes from a mixin
        pass

    assert MemoryStore().never_suspends
    assert Plain().never_suspends  # nothing overridden: still MemoryStore's own methods
    assert not OverridesAWrite().never_suspends
    assert not OverridesATransaction().never_suspends
    assert not Mixed().never_suspends
    assert LockCounting().never_suspends  # said explicitly by the class
    assert not Suspending().never_suspends

    class Remote(LockCounting):  # below a class that said True, overriding a write again
        async def save_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
            await anyio.lowlevel.checkpoint()
            await super().save_item(thread_id, item, context=context)

    assert not Remote().never_suspends


async def test_the_senders_update_is_written_unshielded_and_without_taking_its_lock_again(
    shields: list[bool],
) -> None:
    store = await seeded(LockCounting())
    got = await stream(store, "update.sender")
    assert [e["type"] for e in got] == ["stream_options", "thread.item.updated"]
    assert await count(store, "wid_2") == 5
    assert store.locked == [(("thread", "thr_1"), item_lock("thr_1", "wid_2"))]  # the stream's own, once
    assert shields == []


async def test_a_store_that_may_suspend_keeps_the_shield(shields: list[bool]) -> None:
    store = await seeded(Suspending())
    await stream(store, "update.sender")
    assert await count(store, "wid_2") == 5
    assert store.locked == [(("thread", "thr_1"), item_lock("thr_1", "wid_2"))]  # held keys: not again
    assert shields == [True]


@pytest.mark.parametrize("cls", [LockCounting, Suspending])
async def test_another_widget_rewritten_in_place_is_locked_first_on_every_store(
    cls: type[LockCounting], shields: list[bool]
) -> None:
    """The write of wid_1 (not the sender) waits while someone else holds wid_1's lock."""
    store = await seeded(cls())
    holding, release = anyio.Event(), anyio.Event()
    done: list[list[dict[str, Any]]] = []

    async def other_action() -> None:
        async with store.lock(item_lock("thr_1", "wid_1"), timeout=None) as locked:
            holding.set()
            await release.wait()
            await locked.save_item(
                "thr_1", WidgetItem(id="wid_1", thread_id="thr_1", widget=card(3)), context=None
            )

    async def the_stream() -> None:
        done.append(await stream(store, "update.other"))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(other_action)
            await holding.wait()
            tg.start_soon(the_stream)
            await anyio.sleep(0.05)
            assert done == []  # its events are out; its write waits for wid_1
            release.set()
    assert [e["type"] for e in done[0]] == ["stream_options", "thread.item.updated"]
    assert await count(store, "wid_1") == 9  # written after the other action's 3, not lost under it
    wid_1, stream_keys = (item_lock("thr_1", "wid_1"),), (("thread", "thr_1"), item_lock("thr_1", "wid_2"))
    assert store.locked == [wid_1, stream_keys, wid_1]  # the other action's, the stream's, its write's
    assert shields == [True]  # a lock that may be waited for: shielded on every store


async def test_a_new_root_drops_the_updates_before_it() -> None:
    """A long stream of root updates keeps one per widget; updates after a root apply on top of it."""
    store = await seeded(MemoryStore())
    sender = await store.load_item("thr_1", "wid_2", context=None)
    assert isinstance(sender, WidgetItem)
    writes = persist.WriteBuffer("thr_1", sender)
    for n in range(1000):
        writes.record(ThreadItemUpdatedEvent(item_id="wid_2", update=WidgetRootUpdated(widget=card(n))))
    writes.record(
        ThreadItemUpdatedEvent(
            item_id="wid_2",
            update=WidgetComponentUpdated(
                component_id="count", component={"type": "Text", "id": "count", "value": "1000!"}
            ),
        )
    )
    writes.record(ThreadItemUpdatedEvent(item_id="wid_1", update=WidgetRootUpdated(widget=card(7))))
    assert {item_id: len(updates) for item_id, updates in writes._updates.items()} == {"wid_2": 2, "wid_1": 1}
    await writes.flush(store, None, held=(("thread", "thr_1"), item_lock("thr_1", "wid_2")))
    wid_2 = await store.load_item("thr_1", "wid_2", context=None)
    assert isinstance(wid_2, WidgetItem)
    assert wid_2.widget == {"type": "Card", "children": [{"type": "Text", "id": "count", "value": "1000!"}]}
    assert await count(store, "wid_1") == 7


class Counting(MemoryStore):
    """A MemoryStore counting its writes and transactions (it still never suspends)."""

    __slots__ = ("calls",)
    never_suspends = True

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def save_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
        self.calls.append("save_item")
        await super().save_item(thread_id, item, context=context)

    def transaction(self, *, context: Any = None) -> Any:
        self.calls.append("transaction")
        return super().transaction(context=context)


def text(value: str) -> dict[str, Any]:
    return {"type": "Text", "id": "count", "value": value}


async def test_the_senders_updates_are_applied_in_order_in_one_write() -> None:
    store = await seeded(Counting())
    store.calls.clear()
    sender = await store.load_item("thr_1", "wid_2", context=None)
    assert isinstance(sender, WidgetItem)
    writes = persist.WriteBuffer("thr_1", sender)
    writes.record(ThreadItemUpdatedEvent(item_id="wid_2", update=WidgetRootUpdated(widget=card(3))))
    update = WidgetComponentUpdated(component_id="count", component=text("3!"))
    writes.record(ThreadItemUpdatedEvent(item_id="wid_2", update=update))
    await writes.flush(store, None, held=(("thread", "thr_1"), item_lock("thr_1", "wid_2")))
    assert store.calls == ["save_item"]  # one write, atomic by itself: no transaction
    wid_2 = await store.load_item("thr_1", "wid_2", context=None)
    assert isinstance(wid_2, WidgetItem)
    assert wid_2.widget == {"type": "Card", "children": [text("3!")]}
    assert sender.widget == card(0)  # the sender as loaded is left untouched


async def test_a_sender_the_stream_does_not_hold_is_locked_before_its_write() -> None:
    store = await seeded(LockCounting())
    sender = await store.load_item("thr_1", "wid_2", context=None)
    assert isinstance(sender, WidgetItem)
    writes = persist.WriteBuffer("thr_1", sender)
    writes.record(ThreadItemUpdatedEvent(item_id="wid_2", update=WidgetRootUpdated(widget=card(4))))
    await writes.flush(store, None, held=(("thread", "thr_1"),))  # the thread's key only
    assert store.locked == [(item_lock("thr_1", "wid_2"),)]
    assert await count(store, "wid_2") == 4


async def test_an_update_after_the_sender_was_replaced_applies_to_the_replacement() -> None:
    """Under the bridge chatkit writes the replaced item; the update must build on it, not on the sender."""
    from chatkit_handlers.types import ThreadItemReplacedEvent

    store = await seeded(Counting())
    sender = await store.load_item("thr_1", "wid_2", context=None)
    assert isinstance(sender, WidgetItem)
    writes = persist.WriteBuffer("thr_1", sender, persist_items=False)
    extra = {"type": "Text", "id": "extra", "value": "only in the replacement"}
    replaced = WidgetItem(
        id="wid_2", thread_id="thr_1", widget={"type": "Card", "children": [text("r"), extra]}
    )
    writes.record(ThreadItemReplacedEvent(item=replaced))
    update = WidgetComponentUpdated(component_id="count", component=text("r+1"))
    writes.record(ThreadItemUpdatedEvent(item_id="wid_2", update=update))
    await writes.flush(store, None, held=(("thread", "thr_1"), item_lock("thr_1", "wid_2")))
    wid_2 = await store.load_item("thr_1", "wid_2", context=None)
    assert isinstance(wid_2, WidgetItem)
    assert wid_2.widget == {"type": "Card", "children": [text("r+1"), extra]}
