"""Concurrency and atomicity of actions, through the dispatcher, on every backend (in process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import msgspec
import pytest
from _stores_support import BACKENDS, Unlocked, action, count_of, events, open_store
from litestar import Litestar
from litestar.testing import AsyncTestClient

from chatkit_handlers import ActionContext, ActionError, ActionRouter
from chatkit_handlers._execution.answers import sync_answer
from chatkit_handlers.dispatch import Dispatcher
from chatkit_handlers.errors import LockTimeoutError, NotFoundError, RegistrationError
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import Features, LockKey, MemoryStore, SQLiteStore, Store, item_lock
from chatkit_handlers.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    HiddenContextItem,
    SyncCustomActionResponse,
    ThreadItem,
    ThreadMetadata,
    ThreadStreamEvent,
    WidgetItem,
)
from examples.counter import handlers as counter_handlers
from examples.counter.widgets import counter_card

pytestmark = pytest.mark.anyio


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(kind: str, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(kind, tmp_path) as opened:
        await seed(opened)
        yield opened


async def seed(store: Store, context: Any = None) -> None:
    await store.save_thread(ThreadMetadata(id="thr_1", title="Original"), context=context)
    for item_id in ("wid_1", "wid_2"):
        item = WidgetItem(id=item_id, thread_id="thr_1", widget=counter_card(0))
        await store.add_thread_item("thr_1", item, context=context)


class Gate:
    """Lets a test hold a streaming handler in the middle of its stream."""

    def __init__(self) -> None:
        self.inside = anyio.Event()
        self.proceed = anyio.Event()
        self.log: list[str] = []


def make_router(gate: Gate | None = None) -> ActionRouter:
    router = ActionRouter()
    router.include(counter_handlers)

    @router.on_action("test.slow_increment", streaming=False)
    async def slow_increment(ctx: ActionContext[Any]) -> dict[str, Any]:
        assert ctx.sender is not None
        n = int(ctx.sender.widget["children"][0]["value"])
        await anyio.lowlevel.checkpoint()  # every other click runs here, between our read and write
        return counter_card(n + 1)

    @router.on_action("test.rename_and_fail", streaming=False)
    async def rename_and_fail(ctx: ActionContext[Any]) -> dict[str, Any]:
        ctx.thread.title = "Renamed"
        raise ActionError("no")

    @router.on_action("test.rename_and_set", streaming=False)
    async def rename_and_set(ctx: ActionContext[Any]) -> dict[str, Any]:
        ctx.thread.title = "Renamed"
        return counter_card(41)

    @router.on_action("test.hold")
    async def hold(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
        assert gate is not None
        gate.log.append("start")
        yield ctx.progress("holding")
        gate.inside.set()
        await gate.proceed.wait()
        yield ctx.update_widget(counter_card(7), item_id="wid_1")
        gate.log.append("end")

    @router.on_action("test.everything_then_fail")
    async def everything_then_fail(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
        ctx.thread.title = "Half done"
        yield ctx.update_widget(counter_card(50), item_id="wid_1")
        yield ctx.update_component("count", {"type": "Text", "id": "count", "value": "60"}, item_id="wid_2")
        yield ctx.message("a message")
        yield ctx.hidden_context("context")
        yield ctx.remove_item("wid_2")
        if gate is not None:
            gate.inside.set()
            await gate.proceed.wait()
        raise RuntimeError("handler failed after yielding")

    @router.on_action("test.everything")
    async def everything(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
        ctx.thread.title = "Done"
        yield ctx.update_widget(counter_card(50), item_id="wid_1")
        yield ctx.message("a message")
        yield ctx.remove_item("wid_2")

    return router


async def snapshot(store: Store) -> tuple[bytes, list[bytes]]:
    """The thread and its items, encoded: equal snapshots mean an unchanged store."""
    thread = await store.load_thread("thr_1", context=None)
    page = await store.load_thread_items("thr_1", None, 100, "asc", context=None)
    return msgspec.json.encode(thread), sorted(msgspec.json.encode(i) for i in page.data)


async def count(store: Store, item_id: str = "wid_1") -> int:
    item = await store.load_item("thr_1", item_id, context=None)
    return count_of(msgspec.to_builtins(item))


async def run(dispatcher: Dispatcher, body: bytes) -> list[dict[str, Any]]:
    """Dispatch a streaming action and collect its events."""
    result = await dispatcher.dispatch(body)
    assert result.stream is not None, result.body
    chunks = [chunk async for chunk in result.stream]
    return events(b"".join(chunks))


async def cancel_midway(dispatcher: Dispatcher, body: bytes, gate: Gate) -> None:
    """Read a stream until its handler waits at ``gate``, then cancel the reader.

    That is what a client disconnect does in the Litestar adapter: the stream is closed
    inside a cancelled scope.
    """
    result = await dispatcher.dispatch(body)
    assert result.stream is not None
    chunks = result.stream

    async def consume() -> None:
        async with aclosing(chunks) as events:
            async for _ in events:
                pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await gate.inside.wait()
        tg.cancel_scope.cancel()


def click(action_type: str = "counter.increment", item: str = "wid_1", **payload: Any) -> bytes:
    return action("sync", action_type, thread="thr_1", item=item, payload=payload or None)


def stream(action_type: str, item: str | None = "wid_1") -> bytes:
    return action("stream", action_type, thread="thr_1", item=item)


# --------------------------------------------------------------------------- sync actions


async def test_concurrent_clicks_on_one_widget_all_count(store: Store) -> None:
    dispatcher = Dispatcher(make_router(), store, lock_timeout=60)
    statuses: list[int] = []

    async def one(body: bytes) -> None:
        statuses.append((await dispatcher.dispatch(body)).status_code)

    async with anyio.create_task_group() as tg:
        for n in range(100):
            tg.start_soon(one, click("test.slow_increment" if n % 2 else "counter.increment"))
    assert statuses == [200] * 100
    assert await count(store) == 100
    assert await count(store, "wid_2") == 0


async def test_without_locks_concurrent_clicks_are_lost(tmp_path: Path) -> None:
    async with open_store("memory", tmp_path) as inner:
        await seed(inner)
        dispatcher = Dispatcher(make_router(), Unlocked(inner))  # type: ignore[arg-type]
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(dispatcher.dispatch, click("test.slow_increment"))
        assert await count(inner) < 20


async def test_a_click_on_a_busy_widget_is_refused_with_409(store: Store) -> None:
    dispatcher = Dispatcher(make_router(), store, lock_timeout=0)
    async with store.lock(item_lock("thr_1", "wid_1"), timeout=None, context=None):
        result = await dispatcher.dispatch(click())
    assert result.status_code == 409
    assert msgspec.json.decode(result.body or b"") == {
        "type": "error",
        "code": "item.busy",
        "message": "another action on item 'wid_1' is still running (waited 0s); try again when it has finished",
        "allow_retry": True,
    }
    assert (await dispatcher.dispatch(click())).status_code == 200  # free again
    assert await count(store) == 1


async def test_a_sync_handler_that_fails_changes_nothing(store: Store) -> None:
    dispatcher = Dispatcher(make_router(), store)
    before = await snapshot(store)
    result = await dispatcher.dispatch(click("test.rename_and_fail"))
    assert result.status_code == 400
    assert await snapshot(store) == before


async def test_a_sync_handler_persists_thread_and_widget_together(store: Store) -> None:
    dispatcher = Dispatcher(make_router(), store)
    result = await dispatcher.dispatch(click("test.rename_and_set"))
    assert result.status_code == 200
    assert (await store.load_thread("thr_1", context=None)).title == "Renamed"
    assert await count(store) == 41


# --------------------------------------------------------------------------- streaming actions


async def test_a_second_stream_on_a_busy_thread_is_refused(store: Store) -> None:
    gate = Gate()
    dispatcher = Dispatcher(make_router(gate), store, lock_timeout=0)
    first = await dispatcher.dispatch(stream("test.hold"))
    assert first.stream is not None
    async with aclosing(first.stream) as held:
        await held.__anext__()  # stream_options
        await held.__anext__()  # the handler holds the thread now
        second = await run(dispatcher, stream("counter.reset", item="wid_2"))
        assert second[-1] == {  # chatkit's ErrorEvent accepts only custom/stream.error
            "type": "error",
            "code": "custom",
            "message": "another action is still streaming in thread 'thr_1' (waited 0s); "
            "try again when it has finished",
            "allow_retry": True,
        }
        gate.proceed.set()
        rest = events(b"".join([chunk async for chunk in held]))
    assert [e["type"] for e in rest] == ["thread.item.updated"]
    assert await count(store) == 7
    again = await run(dispatcher, stream("counter.reset"))
    assert all(e["type"] != "error" for e in again)
    assert await count(store) == 0


async def test_a_second_stream_waits_for_the_first(store: Store) -> None:
    gate = Gate()
    dispatcher = Dispatcher(make_router(gate), store, lock_timeout=None)
    second_events: list[dict[str, Any]] = []

    async def second() -> None:
        second_events.extend(await run(dispatcher, stream("counter.reset", item="wid_2")))
        gate.log.append("second done")

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, dispatcher, stream("test.hold"))
        await gate.inside.wait()
        tg.start_soon(second)
        await anyio.sleep(0.05)
        assert gate.log == ["start"]  # the second stream is still waiting
        gate.proceed.set()
    assert gate.log == ["start", "end", "second done"]
    assert [e["type"] for e in second_events] == ["stream_options", "progress_update", "thread.item.updated"]


async def test_a_waiting_stream_never_blocks_the_running_streams_write(store: Store) -> None:
    """Thread keys are taken before item keys: a stream waiting for the thread holds nothing.

    The running stream (sender wid_2) updates wid_1, so its final write takes wid_1's lock while
    it holds the thread; the waiting stream's sender is wid_1. Taking wid_1 before the thread
    (sorted order: "item" < "thread") made each wait for the other.
    """
    gate = Gate()
    dispatcher = Dispatcher(make_router(gate), store, lock_timeout=None)
    done: list[list[dict[str, Any]]] = []

    async def second() -> None:
        done.append(await run(dispatcher, stream("counter.reset", item="wid_1")))

    with anyio.fail_after(10):  # a hang guard: a deadlock would wait forever
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, dispatcher, stream("test.hold", item="wid_2"))
            await gate.inside.wait()
            tg.start_soon(second)
            await anyio.sleep(0.05)  # the second stream is waiting for the thread now
            gate.proceed.set()
    assert gate.log == ["start", "end"]
    assert all(e["type"] != "error" for e in done[0])
    assert await count(store) == 0  # the first stream wrote 7, then the second reset it


async def test_a_stream_whose_handler_raises_changes_nothing(store: Store) -> None:
    dispatcher = Dispatcher(make_router(), store)
    before = await snapshot(store)
    got = await run(dispatcher, stream("test.everything_then_fail"))
    assert got[-1] == {"type": "error", "code": "stream.error", "allow_retry": True}
    assert "thread.item.updated" in [e["type"] for e in got]  # events were streamed...
    assert await snapshot(store) == before  # ...but nothing was persisted


class FailingWrites:
    """Wraps a store; inside a transaction, ``delete_thread_item`` fails (after other writes)."""

    def __init__(self, inner: Store, *, in_tx: bool = False) -> None:
        self.inner = inner
        self.in_tx = in_tx

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def delete_thread_item(self, thread_id: str, item_id: str, *, context: Any) -> None:
        await self.inner.delete_thread_item(thread_id, item_id, context=context)
        if self.in_tx:
            raise OSError("disk full")

    @asynccontextmanager
    async def lock(self, *keys: LockKey, timeout: float | None, context: Any) -> AsyncIterator[Any]:  # noqa: ASYNC109
        async with self.inner.lock(*keys, timeout=timeout, context=context) as locked:
            yield FailingWrites(locked, in_tx=self.in_tx)

    @asynccontextmanager
    async def transaction(self, *, context: Any) -> AsyncIterator[Any]:
        async with self.inner.transaction(context=context) as tx:
            yield FailingWrites(tx, in_tx=True)


async def test_a_flush_that_fails_halfway_is_rolled_back(store: Store, kind: str) -> None:
    dispatcher = Dispatcher(make_router(), FailingWrites(store))  # type: ignore[arg-type]
    before = await snapshot(store)
    got = await run(dispatcher, stream("test.everything"))
    assert got[-1] == {"type": "error", "code": "stream.error", "allow_retry": True}
    assert await snapshot(store) == before
    # and without the failure, the same stream persists everything
    assert all(
        e["type"] != "error" for e in await run(Dispatcher(make_router(), store), stream("test.everything"))
    )
    assert (await store.load_thread("thr_1", context=None)).title == "Done"
    assert await count(store) == 50


async def test_a_cancelled_stream_releases_its_locks_and_changes_nothing(store: Store) -> None:
    gate = Gate()
    dispatcher = Dispatcher(make_router(gate), store, lock_timeout=0)
    before = await snapshot(store)
    await cancel_midway(dispatcher, stream("test.everything_then_fail"), gate)
    assert await snapshot(store) == before
    # nothing is left locked: both a click on the widget and a stream in the thread go through at once
    assert (await dispatcher.dispatch(click())).status_code == 200
    assert all(e["type"] != "error" for e in await run(dispatcher, stream("counter.reset")))


async def test_a_stream_holds_its_locks_from_dispatch_until_closed_even_if_never_read(store: Store) -> None:
    dispatcher = Dispatcher(make_router(), store, lock_timeout=0)
    result = await dispatcher.dispatch(stream("counter.reset"))
    assert result.stream is not None
    # the locks were free, so the dispatcher took them before answering: the widget is busy now
    assert (await dispatcher.dispatch(click())).status_code == 409
    await result.stream.aclose()  # closed without reading a single chunk
    assert (await dispatcher.dispatch(click())).status_code == 200
    assert all(e["type"] != "error" for e in await run(dispatcher, stream("counter.reset")))


async def test_a_stream_dropped_unread_releases_its_locks_when_collected(store: Store) -> None:
    import gc

    dispatcher = Dispatcher(make_router(), store, lock_timeout=0)
    result = await dispatcher.dispatch(stream("counter.reset"))
    assert result.stream is not None
    del result
    gc.collect()  # asyncio's async-generator finalizer closes it, which releases the locks
    for _ in range(500):  # the release is scheduled, then runs: give it up to ~5 s
        status = (await dispatcher.dispatch(click())).status_code
        if status != 409:
            break
        await anyio.sleep(0.01)
    assert status == 200


async def test_a_stream_on_a_missing_widget_is_a_json_404_and_holds_nothing(store: Store) -> None:
    dispatcher = Dispatcher(make_router(), store, lock_timeout=0)
    missing = await dispatcher.dispatch(stream("counter.reset", item="wid_gone"))
    assert (missing.status_code, missing.stream) == (404, None)
    assert msgspec.json.decode(missing.body or b"")["code"] == "item.not_found"
    assert all(e["type"] != "error" for e in await run(dispatcher, stream("counter.reset")))
    assert (await dispatcher.dispatch(click())).status_code == 200


class RemoteUnlock(MemoryStore):
    """Locks whose release is a round trip (as a lock server's would be), plain on a clean exit."""

    @asynccontextmanager
    async def lock(self, *keys: LockKey, timeout: float | None, context: Any = None) -> AsyncIterator[Any]:  # noqa: ASYNC109
        new = tuple(key for key in dict.fromkeys(keys) if key not in self._held)
        await self._locks.take(new, timeout)
        try:
            yield self.holding(new)
        except BaseException:
            self._locks.release(new)
            raise
        await anyio.sleep(0.001)  # a clean exit's unlock round trip: cut off if cancelled meanwhile
        self._locks.release(new)


async def test_a_cancelled_stream_releases_locks_whose_release_must_wait() -> None:
    store = RemoteUnlock()
    await seed(store)
    gate = Gate()
    dispatcher = Dispatcher(make_router(gate), store, lock_timeout=0)
    await cancel_midway(dispatcher, stream("test.hold"), gate)
    assert (await dispatcher.dispatch(click())).status_code == 200
    assert all(e["type"] != "error" for e in await run(dispatcher, stream("counter.reset")))


# --------------------------------------------------------------------------- per-user scoping over HTTP


async def test_another_users_thread_is_404_not_403(kind: str, tmp_path: Path) -> None:
    async with open_store(kind, tmp_path, owner=lambda user: user) as scoped:
        await seed(scoped, context="alice")
        plugin = ChatKitPlugin(
            make_router(), store=scoped, context=lambda request: request.headers.get("x-user")
        )
        async with AsyncTestClient(Litestar(plugins=[plugin])) as client:
            for body in (click(), stream("counter.reset")):
                refused = await client.post("/chatkit", content=body, headers={"x-user": "bob"})
                assert refused.status_code == 404
                assert refused.json()["code"] == "thread.not_found"
            allowed = await client.post("/chatkit", content=click(), headers={"x-user": "alice"})
            assert allowed.status_code == 200
            item: ThreadItem = msgspec.convert(allowed.json()["updated_item"], ThreadItem)
            assert count_of(msgspec.to_builtins(item)) == 1


class HidesArchived(MemoryStore):
    """Overrides ``load_thread`` only: the inherited ``load_thread_and_item`` must not bypass it."""

    __slots__ = ()

    async def load_thread(self, thread_id: str, *, context: Any = None) -> ThreadMetadata:
        thread = await super().load_thread(thread_id, context=context)
        if thread.metadata.get("archived"):
            raise NotFoundError(f"thread {thread_id!r} is archived")
        return thread


class HidesEverything(HidesArchived):
    """Overrides every load, and says its own combined load may be used again."""

    __slots__ = ()

    loads_thread_and_item = True

    async def load_item(self, thread_id: str, item_id: str, *, context: Any = None) -> ThreadItem:
        await self.load_thread(thread_id, context=context)
        return await super().load_item(thread_id, item_id, context=context)

    async def load_thread_and_item(
        self, thread_id: str, item_id: str, *, context: Any = None
    ) -> tuple[ThreadMetadata, ThreadItem | None]:
        thread = await self.load_thread(thread_id, context=context)
        item = await super().load_thread_and_item(thread_id, item_id, context=context)
        return thread, item[1]


class Forwarding:
    """A wrapper handing every attribute on to a store (``load_thread_and_item`` too)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_the_combined_load_is_used_only_where_it_cannot_bypass_a_load() -> None:
    assert Features.of(MemoryStore()).loads_thread_and_item
    assert Features.of(SQLiteStore(":memory:")).loads_thread_and_item
    assert not Features.of(HidesArchived()).loads_thread_and_item
    assert Features.of(HidesEverything()).loads_thread_and_item
    assert not Features.of(Forwarding(MemoryStore())).loads_thread_and_item


@pytest.mark.parametrize("cls", [HidesArchived, HidesEverything])
async def test_a_store_overriding_load_thread_is_heard_by_actions_from_widgets(
    cls: type[MemoryStore],
) -> None:
    store = cls()
    await seed(store)
    archived = await store.load_thread("thr_1", context=None)
    archived.metadata["archived"] = True
    await store.save_thread(archived, context=None)
    dispatcher = Dispatcher(make_router(), store)
    for body in (click(), stream("counter.reset")):
        refused = await dispatcher.dispatch(body)
        assert refused.status_code == 404
        assert refused.body is not None
        assert msgspec.json.decode(refused.body)["code"] == "thread.not_found"


def test_a_store_without_locks_or_transactions_is_refused_at_once() -> None:
    class Partial:
        async def load_thread(self, thread_id: str, *, context: Any) -> ThreadMetadata:
            raise NotImplementedError

    with pytest.raises(TypeError, match=r"Partial has no lock\(\) or transaction\(\), which"):
        Dispatcher(make_router(), Partial())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- one encoding of an updated item


class CountsJSONSaves(MemoryStore):
    """Notes every ``save_item_json`` (defined below ``save_item``: still trusted)."""

    __slots__ = ("json_saves",)

    def __init__(self) -> None:
        super().__init__()
        self.json_saves: list[bytes] = []

    async def save_item_json(
        self, thread_id: str, item: ThreadItem, data: bytes, *, context: Any = None
    ) -> None:
        self.json_saves.append(data)
        await super().save_item_json(thread_id, item, data, context=context)


class Audited(MemoryStore):
    """Overrides ``save_item`` only: the inherited ``save_item_json`` must not bypass it."""

    __slots__ = ("audit",)

    def __init__(self) -> None:
        super().__init__()
        self.audit: list[str] = []

    async def save_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
        self.audit.append(item.id)
        await super().save_item(thread_id, item, context=context)


class _Narrow:
    """A lock view of another class, without the store's optional methods."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in ("load_thread_and_item", "save_item_json"):
            raise AttributeError(name)
        return getattr(self.inner, name)


class NarrowViews(MemoryStore):
    """Its ``lock()`` yields views of another class (``_Narrow``)."""

    __slots__ = ()

    @asynccontextmanager
    async def lock(self, *keys: LockKey, timeout: float | None, context: Any = None) -> AsyncIterator[Any]:  # noqa: ASYNC109
        async with super().lock(*keys, timeout=timeout, context=context) as view:
            yield _Narrow(view)


async def test_an_updated_item_is_encoded_once_for_the_store_and_the_answer(store: Store) -> None:
    dispatcher = Dispatcher(make_router(), store)
    result = await dispatcher.dispatch(click())
    assert result.status_code == 200
    assert result.body is not None
    stored = await store.load_item("thr_1", "wid_1", context=None)
    assert count_of(msgspec.to_builtins(stored)) == 1
    # The spliced answer is what encoding the response Struct writes (a chatkit store may keep
    # the widget's keys in another order: compared decoded).
    answer = msgspec.json.decode(result.body)
    assert answer == msgspec.json.decode(msgspec.json.encode(SyncCustomActionResponse(updated_item=stored)))


async def test_the_store_keeps_the_json_the_answer_is_made_of() -> None:
    store = CountsJSONSaves()
    await seed(store)
    result = await Dispatcher(make_router(), store).dispatch(click())
    assert result.body is not None
    assert len(store.json_saves) == 1
    assert result.body == b'{"updated_item":' + store.json_saves[0] + b"}"


@pytest.mark.parametrize(
    "item",
    [
        WidgetItem(id="wid_1", thread_id="thr_1", widget=counter_card(3), copy_text="three"),
        AssistantMessageItem(id="msg_1", thread_id="thr_1", content=[AssistantMessageContent(text="hi")]),
        HiddenContextItem(id="hid_1", thread_id="thr_1", content="context"),
    ],
)
def test_a_spliced_answer_is_the_encoded_response(item: ThreadItem) -> None:
    expected = msgspec.json.encode(SyncCustomActionResponse(updated_item=item))
    assert sync_answer(item).body == expected
    assert sync_answer(item, msgspec.json.encode(item)).body == expected
    assert sync_answer(None).body == msgspec.json.encode(SyncCustomActionResponse())


def test_save_item_json_is_used_only_where_it_cannot_bypass_save_item() -> None:
    assert Features.of(MemoryStore()).saves_item_json
    assert Features.of(SQLiteStore(":memory:")).saves_item_json
    assert Features.of(CountsJSONSaves()).saves_item_json
    assert not Features.of(Audited()).saves_item_json
    assert not Features.of(Forwarding(MemoryStore())).saves_item_json


async def test_a_store_overriding_save_item_is_heard_by_sync_actions() -> None:
    store = Audited()
    await seed(store)
    store.audit.clear()
    result = await Dispatcher(make_router(), store).dispatch(click())
    assert result.status_code == 200
    assert store.audit == ["wid_1"]


async def test_a_patch_of_the_method_the_dispatcher_calls_is_heard(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's declarations are read once; a test patches the methods they name."""
    store = MemoryStore()
    await seed(store)
    dispatcher = Dispatcher(make_router(), store)
    saved: list[str] = []
    save_item_json, load_both = MemoryStore.save_item_json, MemoryStore.load_thread_and_item

    async def audited(
        self: MemoryStore, thread_id: str, item: ThreadItem, data: bytes, *, context: Any = None
    ) -> None:
        saved.append(item.id)
        await save_item_json(self, thread_id, item, data, context=context)

    monkeypatch.setattr(MemoryStore, "save_item_json", audited)
    assert (await dispatcher.dispatch(click())).status_code == 200
    assert saved == ["wid_1"]

    async def hidden(
        self: MemoryStore, thread_id: str, item_id: str, *, context: Any = None
    ) -> tuple[ThreadMetadata, ThreadItem | None]:
        thread, _ = await load_both(self, thread_id, item_id, context=context)
        raise NotFoundError(thread.id)

    monkeypatch.setattr(MemoryStore, "load_thread_and_item", hidden)
    refused = await dispatcher.dispatch(click())
    assert refused.status_code == 404
    assert saved == ["wid_1"]


class AuditedSQLite(SQLiteStore):
    """Audits both ways of saving an item, as the docs suggest for a store keeping the fast path."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.audit: list[str] = []

    async def save_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
        self.audit.append("save_item")
        await super().save_item(thread_id, item, context=context)

    async def save_item_json(
        self, thread_id: str, item: ThreadItem, data: bytes, *, context: Any = None
    ) -> None:
        self.audit.append("save_item_json")
        await super().save_item_json(thread_id, item, data, context=context)


async def test_each_way_of_saving_an_item_writes_once(tmp_path: Path) -> None:
    store = AuditedSQLite(tmp_path / "audited.sqlite3")
    try:
        await seed(store)
        assert store.audit == ["save_item", "save_item"]  # add_thread_item: one each, not two
        store.audit.clear()
        assert Features.of(store).saves_item_json
        assert (await Dispatcher(make_router(), store).dispatch(click())).status_code == 200
        assert store.audit == ["save_item_json"]
    finally:
        await store.close()


class OwnLocks(MemoryStore):
    """A store whose ``lock()`` is its own (not ``LocalLocks``' leases): counts the calls."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[LockKey, ...]] = []

    def lock(self, *keys: LockKey, timeout: float | None, context: Any = None) -> Any:
        self.calls.append(keys)
        return self._own_lock(keys, timeout, context)

    @asynccontextmanager
    async def _own_lock(
        self,
        keys: tuple[LockKey, ...],
        timeout: float | None,  # noqa: ASYNC109
        context: Any,
    ) -> AsyncIterator[Any]:
        async with super().lock(*keys, timeout=timeout, context=context) as view:
            yield view


async def test_a_stream_asks_a_store_with_its_own_locks_for_them_once() -> None:
    store = OwnLocks()
    await seed(store)
    body = await run(Dispatcher(make_router(), store), stream("counter.reset"))
    assert [e["type"] for e in body] == ["stream_options", "progress_update", "thread.item.updated"]
    assert store.calls == [(("thread", "thr_1"), item_lock("thr_1", "wid_1"))]  # not a second time
    assert count_of(msgspec.to_builtins(await store.load_item("thr_1", "wid_1", context=None))) == 0
    assert store._locks.held() == 0


async def test_a_stream_closed_midway_closes_its_handler_and_lets_go() -> None:
    closed: list[str] = []
    router = ActionRouter()

    @router.on_action("test.two_updates")
    async def two_updates(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        try:
            yield ctx.update_widget(counter_card(1))
            yield ctx.update_widget(counter_card(2))
        finally:
            closed.append("handler")

    store = MemoryStore()
    await seed(store)
    result = await Dispatcher(router, store).dispatch(stream("test.two_updates"))
    assert result.stream is not None
    chunks = aiter(result.stream)
    assert b"stream_options" in await anext(chunks)
    assert b"thread.item.updated" in await anext(chunks)
    await result.stream.aclose()  # type: ignore[attr-defined]
    assert closed == ["handler"]
    assert store._locks.held() == 0
    assert count_of(msgspec.to_builtins(await store.load_item("thr_1", "wid_1", context=None))) == 0


async def test_a_sync_action_asks_an_overridden_lock_and_a_patched_try_lock() -> None:
    """A store locking in-process is asked with try_lock(); one overriding lock() only is asked with lock()."""
    asked: list[tuple[LockKey, ...]] = []

    class CountsLocks(MemoryStore):
        __slots__ = ()

        def lock(self, *keys: LockKey, timeout: float | None, context: Any = None) -> Any:
            asked.append(keys)
            return super().lock(*keys, timeout=timeout, context=context)

    class CountsTries(MemoryStore):
        __slots__ = ()

        def try_lock(self, keys: tuple[LockKey, ...]) -> Any:
            asked.append(keys)
            return super().try_lock(keys)

    for cls in (CountsLocks, CountsTries):
        asked.clear()
        store = cls()
        await seed(store)
        assert (await Dispatcher(make_router(), store).dispatch(click())).status_code == 200
        assert asked == [(item_lock("thr_1", "wid_1"),)]
        assert count_of(msgspec.to_builtins(await store.load_item("thr_1", "wid_1", context=None))) == 1
        assert store._locks.held() == 0


async def test_a_load_that_times_out_on_a_lock_is_a_retryable_409() -> None:
    class LoadsUnderALock(MemoryStore):
        """A store whose load waits for a lock of its own, and gives up."""

        __slots__ = ()

        async def load_thread(self, thread_id: str, *, context: Any = None) -> ThreadMetadata:
            raise LockTimeoutError(("thread", thread_id), 0.1)

    store = LoadsUnderALock()
    await seed(store)
    result = await Dispatcher(make_router(), store).dispatch(click())
    assert result.status_code == 409
    assert result.body is not None
    answer = msgspec.json.decode(result.body)
    assert answer["code"] == "thread.busy"
    assert answer["allow_retry"] is True
    assert store._locks.held() == 0


async def test_a_request_of_a_subclass_of_the_sync_request_type_is_still_sync() -> None:
    from chatkit_handlers.types import SyncCustomActionRequest

    class Traced(SyncCustomActionRequest, tag="threads.sync_custom_action"):
        pass

    store = MemoryStore()
    await seed(store)
    dispatcher = Dispatcher(make_router(), store)
    request = msgspec.json.decode(click(), type=Traced)
    route, _payload = dispatcher.resolve(request)
    assert route.type == "counter.increment"


async def test_a_stream_closed_while_its_handlers_clean_up_fails_still_releases_its_locks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    await seed(store)
    router = ActionRouter()

    @router.on_action("test.messy")
    async def messy(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        try:
            yield ctx.progress("working")
            await anyio.sleep_forever()
        finally:
            raise RuntimeError("clean-up failed")  # what the test is about

    dispatcher = Dispatcher(router, store, lock_timeout=0)
    result = await dispatcher.dispatch(stream("test.messy"))
    assert result.stream is not None
    chunks = aiter(result.stream)
    await anext(chunks)  # stream_options
    await anext(chunks)  # progress: the handler now waits
    await result.stream.aclose()  # type: ignore[attr-defined]  # the client hangs up
    assert store._locks.held() == 0
    assert any("failed while it was stopped" in r.getMessage() for r in caplog.records)
    again = await dispatcher.dispatch(stream("test.messy"))  # the thread is free again
    assert again.status_code == 200
    assert again.stream is not None
    await again.stream.aclose()  # type: ignore[attr-defined]


def test_a_declaration_without_its_method_is_refused_when_the_dispatcher_is_made() -> None:
    class Claims(MemoryStore):
        loads_thread_and_item = True

    Claims.load_thread_and_item = None  # type: ignore[assignment,method-assign]
    with pytest.raises(RegistrationError, match="declares loads_thread_and_item"):
        Dispatcher(make_router(), Claims())
