"""Injection: built-in sources, providers (sync, async, generators), the Litestar Request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.testing import TestClient
from routing_support import body, call, event_types, parse_sse, seeded_store

from chatkit_handlers import ActionContext, ActionRouter, RequestView, on_action
from chatkit_handlers.dispatch import Dispatcher
from chatkit_handlers.errors import RegistrationError
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore
from chatkit_handlers.types import ThreadMetadata, WidgetItem


class Db:
    """A stand-in for a resource the app manages."""

    def __init__(self, name: str = "db") -> None:
        self.name = name
        self.closed = False


class Clock:
    def __init__(self, db: Db) -> None:
        self.db = db


class User(msgspec.Struct):
    name: str
    roles: list[str] = []


class Qty(msgspec.Struct):
    n: int = 1


def test_builtin_annotations_are_refused_at_registration() -> None:
    router = ActionRouter()
    with pytest.raises(RegistrationError) as info:

        @router.on_action("x", streaming=False)
        async def handler(ctx: ActionContext[Any], limit: int) -> None: ...

    message = str(info.value)
    assert "cannot inject parameter 'limit'" in message
    assert "test_builtin_annotations_are_refused_at_registration.<locals>.handler" in message
    assert "router.provide(Type, factory)" in message
    with pytest.raises(RegistrationError, match=r"provide\(\): <class 'int'> cannot be provided"):
        router.provide(int, lambda: 1)


def test_unprovided_type_is_an_error_when_the_dispatcher_is_made() -> None:
    router = ActionRouter()

    @router.on_action("x", streaming=False)
    async def handler(db: Db) -> None: ...

    with pytest.raises(RegistrationError) as info:
        Dispatcher(router, MemoryStore())
    message = str(info.value)
    assert "handler test_injection." in message
    assert "cannot inject parameter 'db'" in message
    assert "nothing provides Db for action 'x'" in message
    assert "router.provide(Db, factory)" in message
    router.provide(Db, Db)
    assert Dispatcher(router, MemoryStore()).needs == frozenset()


def test_a_class_is_a_provider_and_defaults_are_kept() -> None:
    router = ActionRouter()
    router.provide(Db, Db)  # Db(name="db"): 'name' keeps its default
    router.provide(Clock, Clock)  # Clock(db): injected

    @router.on_action("x", streaming=False)
    async def handler(clock: Clock, page: int = 1) -> None: ...

    assert router.check() == frozenset()


def test_provider_cycle_is_an_error() -> None:
    router = ActionRouter()

    def make_db(clock: Clock) -> Db:
        return clock.db

    router.provide(Db, make_db)
    router.provide(Clock, Clock)

    @router.on_action("x", streaming=False)
    async def handler(db: Db) -> None: ...

    with pytest.raises(RegistrationError, match="providers form a cycle: Db -> Clock -> Db"):
        router.check()


@pytest.mark.anyio
async def test_providers_sync_async_chained_and_cached_per_request() -> None:
    calls: list[str] = []
    router = ActionRouter()

    @router.provide(Db)
    async def open_db(ctx: ActionContext[Any], payload: Any) -> Db:
        calls.append(f"db for {ctx.action_type} n={payload.n}")
        return Db()

    def make_clock(db: Db) -> Clock:
        calls.append("clock")
        return Clock(db)

    router.provide(Clock, make_clock)
    seen: list[tuple[Db, Clock]] = []

    @router.on_action("x", streaming=False)
    async def handler(payload: Qty, db: Db, clock: Clock) -> None:
        seen.append((db, clock))

    assert (await call(router, "x", {"n": 2}))[0] == 200
    assert (await call(router, "x", {"n": 3}))[0] == 200
    # Once per request (the clock's Db is the handler's Db), fresh for the next request.
    assert calls == ["db for x n=2", "clock", "db for x n=3", "clock"]
    assert seen[0][1].db is seen[0][0]
    assert seen[0][0] is not seen[1][0]


@pytest.mark.anyio
async def test_generator_provider_tears_down_after_the_stream() -> None:
    log: list[str] = []
    router = ActionRouter()

    @router.provide(Db)
    async def session() -> AsyncIterator[Db]:
        db = Db()
        log.append("open")
        try:
            yield db
        finally:
            log.append("close")

    @router.provide(Clock)
    def clock(db: Db) -> Iterator[Clock]:
        yield Clock(db)
        log.append("clock done")

    @router.on_action("x")
    async def handler(ctx: ActionContext[Any], clock: Clock) -> AsyncIterator[Any]:
        log.append("handler start")
        yield ctx.progress("working")
        log.append("handler end")

    status, events = await call(router, "x")
    assert status == 200
    assert event_types(events) == ["stream_options", "progress_update"]
    assert log == ["open", "handler start", "handler end", "clock done", "close"]


@pytest.mark.anyio
async def test_closing_a_stream_tears_down_the_handler_then_the_providers() -> None:
    log: list[str] = []
    router = ActionRouter()

    @router.provide(Db)
    async def session() -> AsyncIterator[Db]:
        try:
            yield Db()
        finally:
            log.append("db closed")

    @router.on_action("x")
    async def handler(ctx: ActionContext[Any], db: Db) -> AsyncIterator[Any]:
        try:
            yield ctx.progress("first")
            yield ctx.progress("second")
        finally:
            log.append("handler closed")

    # A client that goes away after the first event: the stream is closed.
    result = await Dispatcher(router, await seeded_store()).dispatch(body("x", item_id=None))
    assert result.stream is not None
    stream: Any = result.stream
    assert b"stream_options" in await stream.__anext__()
    assert b"first" in await stream.__anext__()
    await stream.aclose()
    assert log == ["handler closed", "db closed"]


class Account:
    """A request context type that is not a Struct."""

    def __init__(self, name: str) -> None:
        self.name = name


@pytest.mark.anyio
async def test_providers_and_context_type_of_including_routers() -> None:
    inner = ActionRouter(prefix="in.")
    root = ActionRouter(context_type=Account)
    root.provide(Db, lambda: Db("root"))
    inner.provide(Db, lambda: Db("inner"))  # the innermost router's provider wins
    root.provide(Clock, Clock)  # only the root provides a Clock
    got: list[Any] = []

    # Registered before the sub-router is included anywhere: resolved when the root compiles.
    @inner.on_action("x", streaming=False)
    async def handler(account: Account, db: Db, clock: Clock, payload: Qty) -> None:
        got.append((account.name, db.name, clock.db is db, payload))

    root.include(inner)
    status, _ = await call(root, "in.x", {"n": 5}, context=Account("ann"))
    assert status == 200
    assert got == [("ann", "inner", True, Qty(5))]


@pytest.mark.anyio
async def test_a_provided_struct_is_not_taken_for_the_payload() -> None:
    router = ActionRouter()
    router.provide(User, lambda context: context)
    got: list[Any] = []

    @router.on_action("x", streaming=False)
    async def handler(user: User, payload: Qty) -> None:
        got.append((user, payload))

    await call(router, "x", {"n": 1}, context=User("bob"))
    assert got == [(User("bob"), Qty(1))]


def _litestar_app(router: ActionRouter, store: MemoryStore, **plugin: Any) -> Litestar:
    return Litestar(
        plugins=[ChatKitPlugin(router, store=store, **plugin)], state=State({"greeting": "hello"})
    )


def _post(client: TestClient[Any], action: str, payload: Any = None, **kwargs: Any) -> Any:
    return client.post("/chatkit", content=body(action, payload, streaming=False), **kwargs)


@pytest.mark.anyio
async def test_litestar_request_reaches_providers_and_handlers() -> None:
    router = ActionRouter()

    @router.provide(User)
    async def current_user(request: Request[Any, Any, Any]) -> User:
        raw = await request.body()  # the endpoint already read it: replayed
        assert b"threads.sync_custom_action" in raw
        return User(request.headers.get("x-user", "anonymous"))

    @router.on_action("whoami", streaming=False)
    async def whoami(user: User, request: Request[Any, Any, Any], ctx: ActionContext[Any]) -> Any:
        assert request.app.state.greeting == "hello"
        assert ctx.context == "derived"
        return {"type": "Card", "children": [{"type": "Text", "value": user.name}]}

    store = await seeded_store()
    app = _litestar_app(router, store, context=lambda request: "derived")
    with TestClient(app) as client:
        response = _post(client, "whoami", headers={"x-user": "ann"})
        assert response.status_code == 200, response.text
        assert response.json()["updated_item"]["widget"]["children"][0]["value"] == "ann"


@pytest.mark.anyio
async def test_litestar_request_is_built_only_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    import chatkit_handlers.litestar.plugin as adapter

    built: list[object] = []
    original = adapter._LazyRequest.get

    def counting(self: Any) -> Any:
        built.append(self)
        return original(self)

    monkeypatch.setattr(adapter._LazyRequest, "get", counting)
    router = ActionRouter()

    @on_action("plain", streaming=False)
    async def plain() -> None: ...

    router.add(plain)

    @router.on_action("needs")
    async def needs(ctx: ActionContext[Any], request: Request[Any, Any, Any]) -> AsyncIterator[Any]:
        yield ctx.progress(request.url.path)

    plain_only = ActionRouter()
    plain_only.add(plain)
    with TestClient(_litestar_app(plain_only, await seeded_store())) as client:
        assert _post(client, "plain").status_code == 200
    assert built == []  # the router asks for no Request: none is built
    with TestClient(_litestar_app(router, await seeded_store())) as client:
        assert _post(client, "plain").status_code == 200
        assert built == []  # this handler asks for none
        response = client.post("/chatkit", content=body("needs"))
        assert [e.get("text") for e in parse_sse(response.content)] == [None, "/chatkit"]
        assert len(built) == 1


def test_request_outside_litestar_is_refused_at_dispatcher_creation() -> None:
    router = ActionRouter()

    @router.on_action("x", streaming=False)
    async def handler(request: Request[Any, Any, Any]) -> None: ...

    with pytest.raises(RegistrationError, match="nothing provides Request"):
        Dispatcher(router, MemoryStore())


def test_arguments_by_source_are_looked_up_once() -> None:
    router = ActionRouter()

    @router.on_action("x", streaming=False)
    async def handler(payload: Qty, ctx: ActionContext[Any]) -> None: ...

    route = router.lookup("x")
    assert route is not None
    assert route.plain  # nothing runs around it: the handler is called directly


# --------------------------------------------------------------------------- how arguments are read


@pytest.mark.anyio
async def test_arguments_reach_the_right_parameters_whatever_their_order() -> None:
    """Positional reading (a handler of several injected parameters) keeps each value in its place."""
    router = ActionRouter()
    seen: dict[str, Any] = {}

    @router.on_action("order.many", streaming=False)
    async def many(
        thread: ThreadMetadata, context: Any, sender: WidgetItem, payload: Qty, ctx: ActionContext[Any]
    ) -> None:
        seen.update(thread=thread.id, context=context, sender=sender.id, payload=payload.n, ctx=ctx)

    status, answer = await call(router, "order.many", {"n": 3}, context="ctx-value")
    assert (status, answer) == (200, {})
    assert seen["thread"] == "thr_routing"
    assert seen["context"] == "ctx-value"
    assert seen["sender"] == "wid_routing"
    assert seen["payload"] == 3
    assert isinstance(seen["ctx"], ActionContext)
    route = router.lookup("order.many")
    assert route is not None
    assert route.read is not None


@pytest.mark.anyio
async def test_keyword_only_and_defaulted_parameters_are_passed_by_name() -> None:
    router = ActionRouter()
    seen: list[Any] = []

    @router.on_action("order.kw", streaming=False)
    async def by_name(payload: Qty, limit: int = 5, *, ctx: ActionContext[Any]) -> None:
        seen.append((payload.n, limit, ctx.action_type))

    @router.on_action("order.stream")
    async def streamed(payload: Qty, *, ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        seen.append((payload.n, ctx.action_type))
        yield ctx.progress("working")

    assert (await call(router, "order.kw", {"n": 2}))[0] == 200
    status, events = await call(router, "order.stream", {"n": 4})
    assert status == 200
    assert event_types(events) == ["stream_options", "progress_update"]
    assert seen == [(2, 5, "order.kw"), (4, "order.stream")]
    for name in ("order.kw", "order.stream"):
        route = router.lookup(name)
        assert route is not None
        assert route.read is None


@pytest.mark.anyio
async def test_a_plain_def_sync_handler_gets_its_arguments_in_a_worker_thread() -> None:
    import threading

    router = ActionRouter()
    threads: list[str] = []

    @router.on_action("order.blocking", streaming=False)
    def blocking(payload: Qty, ctx: ActionContext[Any]) -> None:
        threads.append(threading.current_thread().name)
        assert payload.n == 7
        assert ctx.action_type == "order.blocking"

    assert (await call(router, "order.blocking", {"n": 7}))[0] == 200
    assert threads
    assert threads[0] != threading.main_thread().name


# --------------------------------------------------------------------------- the request view


@pytest.mark.anyio
async def test_handlers_guards_and_providers_get_the_framework_neutral_request_view() -> None:
    router = ActionRouter()
    seen: list[Any] = []

    def remember(request: RequestView) -> bool:
        seen.append(("guard", request.method, request.headers.get("x-trace")))
        return True

    @router.on_action("view.sync", streaming=False, guards=[remember])
    async def sync(request: RequestView) -> None:
        seen.append(("handler", request.path, request.user, request.client))

    app = Litestar(plugins=[ChatKitPlugin(router, store=await seeded_store())])
    with TestClient(app) as client:
        answer = client.post(
            "/chatkit", content=body("view.sync", streaming=False), headers={"x-trace": "t1"}
        )
    assert answer.status_code == 200, answer.text
    assert seen[0] == ("guard", "POST", "t1")
    kind, path, user, peer = seen[1]
    assert (kind, path, user) == ("handler", "/chatkit", None)
    assert peer is not None
    assert isinstance(peer[0], str)
    assert repr(RequestView({"method": "POST", "path": "/chatkit"})) == "RequestView(POST /chatkit)"


@pytest.mark.anyio
async def test_the_request_view_joins_repeated_headers_and_knows_no_client_when_there_is_none() -> None:
    view = RequestView({"headers": [(b"X-A", b"1"), (b"x-a", b"2"), (b"Host", b"h")], "user": "ann"})
    assert view.headers == {"x-a": "1, 2", "host": "h"}
    assert view.client is None
    assert view.user == "ann"
    assert view.method == ""
    assert view.path == ""
