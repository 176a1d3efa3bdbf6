"""``allow_cancel``: what a stream's ``stream_options`` say, per handler, per router, per server.

(That a stream the user may not stop finishes after its client left is shown against real
server processes in tests/stores/test_e2e.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import anyio
import pytest
from _stores_support import action, events
from chatkit import types as ck
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from litestar import Litestar
from litestar.testing import AsyncTestClient

from chatkit_handlers import ActionContext, ActionRouter, on_action
from chatkit_handlers.bridge import RoutedActions
from chatkit_handlers.errors import RegistrationError
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore
from chatkit_handlers.types import ThreadMetadata, ThreadStreamEvent
from examples.bridge.store import MemoryChatKitStore

pytestmark = pytest.mark.anyio


async def _stream(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
    yield ctx.progress("working")


def streaming(action_type: str, **options: Any) -> Any:
    """A fresh streaming handler for ``action_type``, with ``on_action`` ``options``."""

    async def handler(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
        async for event in _stream(ctx):
            yield event

    return on_action(action_type, **options)(handler)


async def opening(app: Litestar, action_type: str, thread: str = "thr_1") -> dict[str, Any]:
    async with AsyncTestClient(app) as client:
        response = await client.post(
            "/chatkit", content=action("stream", action_type, thread=thread, item=None)
        )
    assert response.status_code == 200, response.text
    sent = events(response.content)
    assert [e["type"] for e in sent] == ["stream_options", "progress_update"]
    first: dict[str, Any] = sent[0]
    return first


async def app_for(router: ActionRouter) -> Litestar:
    store = MemoryStore()
    await store.save_thread(ThreadMetadata(id="thr_1"), context=None)
    return Litestar(plugins=[ChatKitPlugin(router, store=store)])


async def test_a_stream_may_be_stopped_unless_its_handler_says_otherwise() -> None:
    router = ActionRouter()
    router.add(streaming("free"))
    router.add(streaming("fixed", allow_cancel=False))
    router.add(streaming("explicit", allow_cancel=True))
    app = await app_for(router)
    assert await opening(app, "free") == {"type": "stream_options", "stream_options": {"allow_cancel": True}}
    assert (await opening(app, "fixed"))["stream_options"] == {"allow_cancel": False}
    assert (await opening(app, "explicit"))["stream_options"] == {"allow_cancel": True}


async def test_a_router_sets_the_default_and_the_nearest_setting_wins() -> None:
    outer = ActionRouter(allow_cancel=False)
    outer.add(streaming("outer.plain"))
    outer.add(streaming("outer.own", allow_cancel=True))
    silent = ActionRouter()  # says nothing: inherits the outer router's default
    silent.add(streaming("silent.plain"))
    inner = ActionRouter(allow_cancel=True)
    inner.add(streaming("inner.plain"))
    inner.add(streaming("inner.own", allow_cancel=False))
    outer.include(silent)
    outer.include(inner)
    app = await app_for(outer)
    expected = {
        "outer.plain": False,
        "outer.own": True,
        "silent.plain": False,
        "inner.plain": True,
        "inner.own": False,
    }
    for action_type, allow_cancel in expected.items():
        assert (await opening(app, action_type))["stream_options"] == {"allow_cancel": allow_cancel}, (
            action_type
        )
    assert {route.type: route.allow_cancel for route in outer.routes()} == expected


def test_allow_cancel_is_refused_where_it_means_nothing() -> None:
    with pytest.raises(RegistrationError, match="streaming actions only"):
        on_action("sync.thing", streaming=False, allow_cancel=False)
    with pytest.raises(RegistrationError, match="allow_cancel must be True, False or None"):
        on_action("a.b", allow_cancel="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="allow_cancel"):
        ActionRouter(allow_cancel=0)  # type: ignore[arg-type]


class NoStopServer(ChatKitServer[Any]):
    """A ChatKitServer whose streams may not be stopped, except in threads marked otherwise."""

    def get_stream_options(self, thread: ck.ThreadMetadata, context: Any) -> ck.StreamOptions:
        return ck.StreamOptions(allow_cancel=thread.metadata.get("stoppable") is True)

    async def respond(self, thread: Any, input_user_message: Any, context: Any) -> AsyncIterator[Any]:
        raise NotImplementedError
        yield  # pragma: no cover


async def test_the_one_endpoint_mode_asks_the_server_unless_the_route_says() -> None:
    store = MemoryChatKitStore()
    for thread, metadata in (("thr_1", {}), ("thr_stoppable", {"stoppable": True})):
        meta = ck.ThreadMetadata(id=thread, created_at=datetime.now(), metadata=metadata)
        await store.save_thread(meta, context=None)
    router = ActionRouter()
    router.add(streaming("asks.server"))
    router.add(streaming("says.itself", allow_cancel=True))
    app = Litestar(plugins=[ChatKitPlugin(router, server=NoStopServer(store))])
    assert (await opening(app, "asks.server"))["stream_options"] == {"allow_cancel": False}
    assert (await opening(app, "asks.server", "thr_stoppable"))["stream_options"] == {"allow_cancel": True}
    assert (await opening(app, "says.itself"))["stream_options"] == {"allow_cancel": True}


class BridgedServer(RoutedActions, NoStopServer):
    """The routed handlers under a ChatKitServer whose own streams may not be stopped."""

    actions = ActionRouter()


BridgedServer.actions.add(streaming("bridge.asks_server"))
BridgedServer.actions.add(streaming("bridge.stoppable", allow_cancel=True))
BridgedServer.actions.add(streaming("bridge.unstoppable", allow_cancel=False))


async def test_the_bridge_sends_the_route_s_setting_else_the_server_s() -> None:
    store = MemoryChatKitStore()
    for thread, metadata in (("thr_1", {}), ("thr_stoppable", {"stoppable": True})):
        meta = ck.ThreadMetadata(id=thread, created_at=datetime.now(), metadata=metadata)
        await store.save_thread(meta, context=None)
    server = BridgedServer(store)

    async def first_two(action_type: str, thread: str = "thr_1") -> list[dict[str, Any]]:
        result = await server.process(action("stream", action_type, thread=thread, item=None), None)
        assert isinstance(result, StreamingResult)
        sent = events(b"".join([chunk async for chunk in result]))
        assert [e["type"] for e in sent] == ["stream_options", "progress_update"]
        return sent

    assert (await first_two("bridge.asks_server"))[0]["stream_options"] == {"allow_cancel": False}
    assert (await first_two("bridge.asks_server", "thr_stoppable"))[0]["stream_options"] == {
        "allow_cancel": True
    }
    assert (await first_two("bridge.stoppable"))[0]["stream_options"] == {"allow_cancel": True}
    assert (await first_two("bridge.unstoppable", "thr_stoppable"))[0]["stream_options"] == {
        "allow_cancel": False
    }
    # Other request types pass untouched.
    listed = await server.process(b'{"type": "threads.list", "params": {}}', None)
    assert isinstance(listed, NonStreamingResult)


async def test_over_asgi_a_stream_the_user_may_not_stop_outlives_its_client() -> None:
    """The client leaves mid-stream (its sends fail, a disconnect is waiting): the handler finishes and commits."""
    from chatkit_handlers.asgi import ChatKitApp

    left = anyio.Event()
    finished: list[bool] = []
    router = ActionRouter()

    @router.on_action("job.commit", allow_cancel=False)
    async def commit(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
        yield ctx.progress("committing")
        await left.wait()  # the client is gone by now
        ctx.thread.title = "Committed"
        yield ctx.message("done, though nobody saw it")
        finished.append(True)

    store = MemoryStore()
    await store.save_thread(ThreadMetadata(id="thr_1"), context=None)
    requests = [{"type": "http.request", "body": action("stream", "job.commit", thread="thr_1", item=None)}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        return {"type": "http.disconnect"}  # asked at once: the client is already leaving

    async def send(message: dict[str, Any]) -> None:
        if left.is_set():
            raise OSError("the connection is closed")
        sent.append(message)
        if b"progress_update" in message.get("body", b""):
            left.set()

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}
    with anyio.fail_after(10):  # a hang guard, not a timing assertion
        await ChatKitApp(router, store=store)(scope, receive, send)
    assert finished == [True]
    assert sent[0]["status"] == 200
    assert (await store.load_thread("thr_1", context=None)).title == "Committed"
    items = (await store.load_thread_items("thr_1", None, 10, "asc", context=None)).data
    assert [type(item).__name__ for item in items] == ["AssistantMessageItem"]
