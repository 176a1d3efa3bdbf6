"""Concurrency through the ChatKitServer bridge: ``server.process()`` takes the dispatcher's locks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import datetime
from typing import Any

import anyio
import anyio.lowlevel
import msgspec
import pytest
from _stores_support import Unlocked, action, count_of, events
from chatkit import types as ck
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.widgets import DynamicWidgetRoot

from chatkit_handlers import ActionContext, ActionError, ActionRouter, RequestView
from chatkit_handlers.bridge import RoutedActions
from chatkit_handlers.dispatch import Dispatcher, DispatchResult
from chatkit_handlers.errors import DispatchError
from chatkit_handlers.types import ThreadStreamEvent
from examples.bridge.store import MemoryChatKitStore
from examples.counter import handlers as counter_handlers
from examples.counter.widgets import counter_card

pytestmark = pytest.mark.anyio


class Gate:
    """Lets a test hold a streaming handler in the middle of its stream."""

    def __init__(self) -> None:
        self.inside = anyio.Event()
        self.proceed = anyio.Event()
        self.log: list[str] = []


def make_router(gate: Gate) -> ActionRouter:
    router = ActionRouter()
    router.include(counter_handlers)

    def shown(ctx: ActionContext[Any]) -> int:
        assert ctx.sender is not None
        return int(ctx.sender.widget["children"][0]["value"])

    @router.on_action("test.slow_increment", streaming=False)
    async def slow_increment(ctx: ActionContext[Any]) -> dict[str, Any]:
        n = shown(ctx)
        await anyio.lowlevel.checkpoint()  # every other click runs here, between our read and write
        return counter_card(n + 1)

    @router.on_action("test.fail_sync", streaming=False)
    async def fail_sync(ctx: ActionContext[Any]) -> dict[str, Any]:
        ctx.thread.title = "Renamed"
        await anyio.lowlevel.checkpoint()
        raise ActionError("no")

    @router.on_action("test.rename_sync", streaming=False)
    async def rename_sync(ctx: ActionContext[Any]) -> None:
        ctx.thread.title = "Renamed"

    @router.on_action("test.look_sync", streaming=False)
    async def look_sync(ctx: ActionContext[Any]) -> None:
        assert ctx.thread.title == "Original"

    @router.on_action("test.hold")
    async def hold(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
        gate.log.append("start")
        yield ctx.progress("holding")
        gate.inside.set()
        await gate.proceed.wait()
        yield ctx.update_widget(counter_card(7), item_id="wid_1")
        gate.log.append("end")

    @router.on_action("test.report")
    async def report(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
        gate.log.append("report")
        yield ctx.progress(f"saw {shown(ctx)}")

    @router.on_action("test.rename_late")
    async def rename_late(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
        yield ctx.progress("renaming")
        ctx.thread.title = "Late"  # after the last event

    @router.on_action("test.crash")
    async def crash(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
        yield ctx.update_widget(counter_card(99))
        raise RuntimeError("handler failed after yielding")

    return router


def make_server(router: ActionRouter, store: MemoryChatKitStore, lock_timeout: float | None) -> Any:
    class Server(RoutedActions, ChatKitServer[Any]):
        actions = router

        async def respond(
            self, thread: ck.ThreadMetadata, input_user_message: ck.UserMessageItem | None, context: Any
        ) -> AsyncIterator[ck.ThreadStreamEvent]:
            raise NotImplementedError
            yield  # pragma: no cover

    server = Server(store)
    server.lock_timeout = lock_timeout
    return server


@pytest.fixture
async def store() -> MemoryChatKitStore:
    """A chatkit store holding thread ``thr_1`` with two counter widgets at 0."""
    store = MemoryChatKitStore()
    await store.save_thread(ck.ThreadMetadata(id="thr_1", created_at=datetime.now(), title="Original"), None)
    for item_id in ("wid_1", "wid_2"):
        widget = DynamicWidgetRoot.model_validate(counter_card(0))
        item = ck.WidgetItem(id=item_id, thread_id="thr_1", created_at=datetime.now(), widget=widget)
        await store.add_thread_item("thr_1", item, None)
    return store


@pytest.fixture
def gate() -> Gate:
    return Gate()


async def count(store: MemoryChatKitStore, item_id: str = "wid_1") -> int:
    item = await store.load_item("thr_1", item_id, None)
    return count_of(item.model_dump(mode="json"))


def click(action_type: str = "counter.increment", item: str = "wid_1", **payload: Any) -> bytes:
    return action("sync", action_type, thread="thr_1", item=item, payload=payload or None)


def stream(action_type: str, item: str | None = "wid_1") -> bytes:
    return action("stream", action_type, thread="thr_1", item=item)


async def sync(server: Any, body: bytes) -> dict[str, Any]:
    result = await server.process(body, None)
    assert isinstance(result, NonStreamingResult)
    decoded: dict[str, Any] = msgspec.json.decode(result.json)
    return decoded


async def run(server: Any, body: bytes) -> list[dict[str, Any]]:
    result = await server.process(body, None)
    assert isinstance(result, StreamingResult)
    return events(b"".join([chunk async for chunk in result]))


BUSY_THREAD = {  # in a stream our codes travel as chatkit's "custom"
    "type": "error",
    "code": "custom",
    "message": "another action is still streaming in thread 'thr_1' (waited 0s); try again when it has finished",
    "allow_retry": True,
}


# --------------------------------------------------------------------------- sync actions


async def test_a_once_action_takes_effect_once_under_a_chatkit_server(
    store: MemoryChatKitStore, gate: Gate
) -> None:
    """Double clicks and replays through ChatKitServer.process: one booking, every answer the booked widget."""
    router = make_router(gate)

    def shown(ctx: ActionContext[Any]) -> int:
        assert ctx.sender is not None
        return int(ctx.sender.widget["children"][0]["value"])

    @router.on_action("test.book_once", streaming=False, once=True)
    async def book_once(ctx: ActionContext[Any]) -> dict[str, Any]:
        gate.log.append("booked")
        await anyio.lowlevel.checkpoint()  # a double click arrives here
        return counter_card(shown(ctx) + 100)

    @router.on_action("test.stream_once", once=True)
    async def stream_once(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
        gate.log.append("streamed")
        yield ctx.update_widget(counter_card(shown(ctx) + 10))

    server = make_server(router, store, lock_timeout=60)
    answers: list[dict[str, Any]] = []

    async def book() -> None:
        answers.append(await sync(server, click("test.book_once")))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(book)
    answers.append(await sync(server, click("test.book_once")))  # a later replay
    assert gate.log == ["booked"]
    assert [count_of(a["updated_item"]) for a in answers] == [100] * 4
    assert await count(store) == 100
    first = await run(server, stream("test.stream_once", item="wid_2"))
    replay = await run(server, stream("test.stream_once", item="wid_2"))
    assert [e["type"] for e in first][-1] == "thread.item.updated"
    assert [e["type"] for e in replay] == ["stream_options"]
    assert gate.log == ["booked", "streamed"]
    assert await count(store, "wid_2") == 10


async def test_concurrent_clicks_through_process_all_count(store: MemoryChatKitStore, gate: Gate) -> None:
    server = make_server(make_router(gate), store, lock_timeout=60)
    shown: list[int] = []

    async def one(body: bytes) -> None:
        shown.append(count_of((await sync(server, body))["updated_item"]))

    async with anyio.create_task_group() as tg:
        for n in range(100):
            tg.start_soon(one, click("test.slow_increment" if n % 2 else "counter.increment"))
    assert sorted(shown) == list(range(1, 101))  # each click saw the one before it
    assert await count(store) == 100
    assert await count(store, "wid_2") == 0


async def test_without_locks_concurrent_clicks_are_lost(store: MemoryChatKitStore, gate: Gate) -> None:
    server = make_server(make_router(gate), store, lock_timeout=60)
    bridge = server._routed_actions()
    bridge.dispatcher = Dispatcher(
        bridge.dispatcher.router, Unlocked(bridge.dispatcher.store), lock_timeout=60
    )
    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(sync, server, click("test.slow_increment"))
    assert await count(store) < 20


async def test_a_click_waits_for_the_stream_holding_its_widget_and_sees_its_update(
    store: MemoryChatKitStore, gate: Gate
) -> None:
    server = make_server(make_router(gate), store, lock_timeout=None)
    answers: list[dict[str, Any]] = []

    async def clicked() -> None:
        answers.append(await sync(server, click()))
        gate.log.append("clicked")

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, server, stream("test.hold"))
        await gate.inside.wait()
        tg.start_soon(clicked)  # chatkit loads the widget (0) before the bridge waits for its lock
        await anyio.wait_all_tasks_blocked()
        assert gate.log == ["start"]
        gate.proceed.set()
    assert gate.log == ["start", "end", "clicked"]
    assert count_of(answers[0]["updated_item"]) == 8  # reloaded under the lock: 7 + 1, not 0 + 1
    assert await count(store) == 8


async def test_a_click_on_a_busy_widget_is_refused_as_over_http(
    store: MemoryChatKitStore, gate: Gate
) -> None:
    server = make_server(make_router(gate), store, lock_timeout=0)
    first = await server.process(stream("test.hold"), None)
    async with aclosing(aiter(first)) as held:
        await anext(held)  # stream_options
        await anext(held)  # the handler holds the thread and the widget now
        with pytest.raises(DispatchError) as refused:
            await server.process(click(), None)
        gate.proceed.set()
        assert [e["type"] for e in events(b"".join([chunk async for chunk in held]))] == [
            "thread.item.updated"
        ]
    exc = refused.value
    assert (exc.status_code, exc.code, exc.allow_retry) == (409, "item.busy", True)
    # what the one-endpoint mode answers for it: the fast path's 409, byte for byte
    answer = DispatchResult.error(exc)
    assert msgspec.json.decode(answer.body or b"") == {
        "type": "error",
        "code": "item.busy",
        "message": "another action on item 'wid_1' is still running (waited 0s); try again when it has finished",
        "allow_retry": True,
    }
    assert count_of((await sync(server, click()))["updated_item"]) == 8  # free again


async def test_a_sync_handler_renaming_the_thread_renames_chatkits_thread_and_saves_it(
    store: MemoryChatKitStore, gate: Gate
) -> None:
    server = make_server(make_router(gate), store, lock_timeout=1)
    thread = await store.load_thread("thr_1", None)
    sender = await store.load_item("thr_1", "wid_1", None)
    for action_type, title in (("test.look_sync", "Original"), ("test.rename_sync", "Renamed")):
        await server.sync_action(thread, ck.Action(type=action_type, payload=None), sender, None)
        assert thread.title == title  # the object chatkit goes on with
        assert (await store.load_thread("thr_1", None)).title == title  # and the store


async def test_a_sync_handler_that_raises_releases_the_widget(store: MemoryChatKitStore, gate: Gate) -> None:
    server = make_server(make_router(gate), store, lock_timeout=0)
    with pytest.raises(ActionError):
        await server.process(click("test.fail_sync"), None)
    assert (await store.load_thread("thr_1", None)).title == "Original"  # nothing written
    assert count_of((await sync(server, click()))["updated_item"]) == 1  # lock_timeout=0: not held
    assert all(e["type"] != "error" for e in await run(server, stream("counter.reset")))


# --------------------------------------------------------------------------- streaming actions


async def test_a_second_stream_on_the_thread_waits_for_the_first(
    store: MemoryChatKitStore, gate: Gate
) -> None:
    server = make_server(make_router(gate), store, lock_timeout=None)
    second: list[dict[str, Any]] = []

    async def report() -> None:
        second.extend(await run(server, stream("test.report")))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, server, stream("test.hold"))
        await gate.inside.wait()
        tg.start_soon(report)
        await anyio.wait_all_tasks_blocked()
        assert gate.log == ["start"]  # the second stream is waiting for the thread
        gate.proceed.set()
    assert gate.log == ["start", "end", "report"]
    # its sender was reloaded once the first stream's update was saved: 7, not the 0 chatkit loaded
    assert [(e["type"], e.get("text")) for e in second] == [
        ("stream_options", None),
        ("progress_update", "saw 7"),
    ]


async def test_a_second_stream_on_a_busy_thread_is_refused(store: MemoryChatKitStore, gate: Gate) -> None:
    server = make_server(make_router(gate), store, lock_timeout=0)
    first = await server.process(stream("test.hold"), None)
    async with aclosing(aiter(first)) as held:
        await anext(held)
        await anext(held)
        # another widget of the same thread: the thread's lock refuses it
        refused = await run(server, stream("counter.reset", item="wid_2"))
        gate.proceed.set()
        rest = events(b"".join([chunk async for chunk in held]))
    assert [e["type"] for e in refused] == ["stream_options", "error"]
    assert refused[-1] == BUSY_THREAD
    assert [e["type"] for e in rest] == ["thread.item.updated"]
    assert gate.log == ["start", "end"]
    assert await count(store) == 7
    assert all(e["type"] != "error" for e in await run(server, stream("counter.reset", item="wid_2")))


async def test_a_thread_renamed_after_the_last_event_is_saved_and_sent_once(
    store: MemoryChatKitStore, gate: Gate
) -> None:
    server = make_server(make_router(gate), store, lock_timeout=0)
    got = await run(server, stream("test.rename_late"))
    assert [e["type"] for e in got] == ["stream_options", "progress_update", "thread.updated"]
    assert got[-1]["thread"]["title"] == "Late"
    assert (await store.load_thread("thr_1", None)).title == "Late"


async def test_a_stream_whose_handler_raises_releases_its_locks(
    store: MemoryChatKitStore, gate: Gate
) -> None:
    server = make_server(make_router(gate), store, lock_timeout=0)
    got = await run(server, stream("test.crash"))
    assert got[-1] == {"type": "error", "code": "stream.error", "allow_retry": True}
    assert await count(store) == 0  # the widget update is not saved
    assert all(e["type"] != "error" for e in await run(server, stream("counter.reset")))
    assert count_of((await sync(server, click()))["updated_item"]) == 1


async def test_an_abandoned_stream_releases_its_locks(store: MemoryChatKitStore, gate: Gate) -> None:
    server = make_server(make_router(gate), store, lock_timeout=0)
    first = await server.process(stream("test.hold"), None)
    async with aclosing(aiter(first)) as held:
        await anext(held)
        await anext(held)  # the handler holds the thread and the widget
    # The client went away: its server closes the response (the one-endpoint mode closes chatkit's
    # generator too). chatkit does not close the generators it iterates, so Python's async generator
    # finalizer closes ours a few loop turns later, and that releases the locks.
    await first.json_events.aclose()
    server.lock_timeout = 10  # time enough for that; a lock left behind would still be refused
    assert count_of((await sync(server, click()))["updated_item"]) == 1
    assert all(e["type"] != "error" for e in await run(server, stream("counter.reset", item="wid_2")))
    assert gate.log == ["start"]  # the handler never went on


async def test_handlers_asking_for_the_request_view_get_an_empty_one_under_a_chatkit_server(
    store: MemoryChatKitStore,
) -> None:
    """No HTTP request reaches a ChatKitServer's action(): the view has no headers, client or user."""

    router = ActionRouter()
    seen: list[RequestView] = []

    @router.on_action("view.sync", streaming=False)
    async def sync_view(request: RequestView) -> None:
        seen.append(request)

    @router.on_action("view.stream")
    async def stream_view(request: RequestView, ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
        seen.append(request)
        yield ctx.progress("seen")

    server = make_server(router, store, lock_timeout=1)
    assert await sync(server, click("view.sync")) == {}
    assert [e["type"] for e in await run(server, stream("view.stream"))] == [
        "stream_options",
        "progress_update",
    ]
    assert [(view.headers, view.client, view.user) for view in seen] == [({}, None, None)] * 2


async def test_an_error_handlers_notice_reaches_the_client_as_a_notice_under_a_chatkit_server(
    store: MemoryChatKitStore,
) -> None:
    class SoldOut(Exception):
        pass

    router = ActionRouter()
    router.on_error(SoldOut, lambda exc, ctx: ctx.notice("Sold out", level="warning"))

    @router.on_action("shop.buy")
    async def buy(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
        yield ctx.progress("buying")
        raise SoldOut

    server = make_server(router, store, lock_timeout=1)
    got = await run(server, stream("shop.buy"))
    assert [e["type"] for e in got][-1] == "notice"
    assert got[-1]["message"] == "Sold out"


async def test_a_store_outage_before_the_stream_is_a_retryable_error_event_under_a_chatkit_server(
    store: MemoryChatKitStore,
) -> None:
    from chatkit_handlers.errors import StoreUnavailableError

    router = make_router(Gate())
    server = make_server(router, store, lock_timeout=1)
    adapter = server._routed_actions().dispatcher.store

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailableError("the database is down")

    adapter.load_thread = down  # type: ignore[method-assign]
    adapter.load_item = down  # type: ignore[method-assign]
    got = await run(server, stream("counter.reset"))
    assert got[-1]["type"] == "error"
    assert got[-1]["allow_retry"] is True
