"""Middleware: around-style, ordered outer→inner, short-circuits, wraps whole streams."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from routing_support import CARD, body, call, event_types, parse_sse, seeded_store

from chatkit_handlers import ActionContext, ActionRouter
from chatkit_handlers.dispatch import Dispatcher
from chatkit_handlers.errors import RegistrationError

CallNext = Callable[[], Awaitable[Any]]


def recorder(name: str, log: list[str]) -> Callable[[CallNext, ActionContext[Any]], Awaitable[Any]]:
    async def mw(call_next: CallNext, ctx: ActionContext[Any]) -> Any:
        log.append(f"{name}>")
        try:
            return await call_next()
        finally:
            log.append(f"<{name}")

    mw.__name__ = name
    return mw


@pytest.mark.anyio
async def test_order_is_outer_to_inner_as_registered() -> None:
    log: list[str] = []
    root = ActionRouter(middleware=[recorder("a", log)])
    root.middleware(recorder("b", log))
    shop = ActionRouter(prefix="shop.", middleware=[recorder("c", log)])

    @shop.on_action("buy", streaming=False, middleware=[recorder("d", log)])
    async def buy() -> None:
        log.append("handler")

    root.include(shop)
    route = root.lookup("shop.buy")
    assert route is not None
    assert [mw.__name__ for mw in route.middleware] == ["a", "b", "c", "d"]
    assert (await call(root, "shop.buy"))[0] == 200
    assert log == ["a>", "b>", "c>", "d>", "handler", "<d", "<c", "<b", "<a"]


@pytest.mark.anyio
async def test_sync_middleware_sees_and_may_replace_the_result_or_short_circuit() -> None:
    ran: list[str] = []

    async def cached(call_next: CallNext, ctx: ActionContext[Any]) -> Any:
        if ctx.action_type == "card.cached":
            return {"type": "Card", "children": [{"type": "Text", "value": "from cache"}]}
        result = await call_next()
        result["children"].append({"type": "Text", "value": "stamped"})
        return result

    router = ActionRouter(middleware=[cached])

    @router.on_action("card.cached", streaming=False)
    async def cached_card() -> Any:
        ran.append("cached_card")
        return CARD

    @router.on_action("card.fresh", streaming=False)
    async def fresh_card() -> Any:
        ran.append("fresh_card")
        return {"type": "Card", "children": []}

    status, answer = await call(router, "card.cached")
    assert status == 200
    assert answer["updated_item"]["widget"]["children"] == [{"type": "Text", "value": "from cache"}]
    status, answer = await call(router, "card.fresh")
    assert answer["updated_item"]["widget"]["children"] == [{"type": "Text", "value": "stamped"}]
    assert ran == ["fresh_card"]


@pytest.mark.anyio
async def test_a_middleware_observes_the_whole_stream_as_it_flows() -> None:
    log: list[str] = []
    router = ActionRouter(middleware=[recorder("timing", log)])

    @router.on_action("work")
    async def work(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        for step in ("one", "two"):
            await anyio.lowlevel.checkpoint()  # a real await passes through the middleware chain
            log.append(f"yield {step}")
            yield ctx.progress(step)
            log.append(f"resumed after {step}")

    result = await Dispatcher(router, await seeded_store()).dispatch(body("work"))
    assert result.stream is not None
    received: list[tuple[str, list[str]]] = []
    async for chunk in result.stream:
        event = parse_sse(chunk)[0]
        received.append((event.get("text", event["type"]), list(log)))
    # Each event reaches the client while the handler waits at its yield (no buffering),
    # and the middleware's code after call_next() runs once the stream has ended.
    assert received == [
        ("stream_options", []),
        ("one", ["timing>", "yield one"]),
        ("two", ["timing>", "yield one", "resumed after one", "yield two"]),
    ]
    assert log[-2:] == ["resumed after two", "<timing"]


@pytest.mark.anyio
async def test_stream_middleware_may_short_circuit_with_events() -> None:
    ran: list[str] = []

    async def maintenance(call_next: CallNext, ctx: ActionContext[Any]) -> Any:
        return [ctx.notice("Down for maintenance", level="warning")]

    router = ActionRouter(middleware=[maintenance])

    @router.on_action("work")
    async def work(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        ran.append("work")
        yield ctx.progress("x")

    _, events = await call(router, "work")
    assert event_types(events) == ["stream_options", "notice"]
    assert events[1]["message"] == "Down for maintenance"
    assert ran == []


@pytest.mark.anyio
async def test_middleware_sees_handler_exceptions_and_refusals() -> None:
    seen: list[str] = []

    async def watch(call_next: CallNext, ctx: ActionContext[Any]) -> Any:
        try:
            return await call_next()
        except Exception as exc:
            seen.append(f"{ctx.action_type}: {type(exc).__name__}")
            raise

    router = ActionRouter(middleware=[watch])

    @router.on_action("boom")
    async def boom(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        yield ctx.progress("about to fail")
        raise ValueError("bad")

    @router.on_action("refused", streaming=False, guards=[lambda: False])
    async def refused() -> None: ...

    status, events = await call(router, "boom")
    assert event_types(events) == ["stream_options", "progress_update", "error"]
    assert events[-1]["code"] == "stream.error"
    status, answer = await call(router, "refused")
    assert (status, answer["code"]) == (403, "action.forbidden")
    assert seen == ["boom: ValueError", "refused: Reply"]


request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


@pytest.mark.anyio
async def test_context_variables_set_by_middleware_reach_the_handler() -> None:
    async def tag(call_next: CallNext, ctx: ActionContext[Any]) -> Any:
        token = request_id.set("req-42")
        try:
            return await call_next()
        finally:
            request_id.reset(token)

    router = ActionRouter(middleware=[tag])

    @router.on_action("work")
    async def work(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        yield ctx.progress(request_id.get())

    _, events = await call(router, "work")
    assert events[1]["text"] == "req-42"


@pytest.mark.anyio
async def test_closing_or_cancelling_the_stream_unwinds_middleware_and_handler() -> None:
    log: list[str] = []
    started = anyio.Event()
    router = ActionRouter(middleware=[recorder("mw", log)])

    @router.on_action("slow")
    async def slow(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        try:
            yield ctx.progress("first")
            started.set()
            await anyio.sleep_forever()
            yield ctx.progress("never")
        finally:
            log.append("handler closed")

    dispatcher = Dispatcher(router, await seeded_store())
    # A client that goes away after the first event: the stream is closed.
    result = await dispatcher.dispatch(body("slow", item_id=None))
    assert result.stream is not None
    stream: Any = result.stream
    assert b"stream_options" in await stream.__anext__()
    assert b"first" in await stream.__anext__()
    await stream.aclose()
    assert log == ["mw>", "handler closed", "<mw"]

    # A request cancelled while the handler awaits: cancellation reaches it through the chain.
    log.clear()
    started = anyio.Event()
    result = await dispatcher.dispatch(body("slow", item_id=None))
    chunks: list[bytes] = []

    async def consume() -> None:
        assert result.stream is not None
        async for chunk in result.stream:
            chunks.append(chunk)

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await started.wait()
        tg.cancel_scope.cancel()
    assert log == ["mw>", "handler closed", "<mw"]
    assert len(chunks) == 2


@pytest.mark.anyio
async def test_calling_next_twice_is_an_error() -> None:
    async def twice(call_next: CallNext, ctx: ActionContext[Any]) -> Any:
        await call_next()
        return await call_next()

    router = ActionRouter(middleware=[twice])

    @router.on_action("x", streaming=False)
    async def handler() -> None: ...

    status, answer = await call(router, "x")
    assert (status, answer["code"]) == (500, "handler.error")


def test_middleware_must_be_async_and_take_two_arguments() -> None:
    def sync_mw(call_next: CallNext, ctx: Any) -> Any:
        return call_next()

    async def one_arg(call_next: CallNext) -> Any:
        return await call_next()

    with pytest.raises(RegistrationError, match="must be an async function"):
        ActionRouter().middleware(sync_mw)
    with pytest.raises(RegistrationError, match=r"must take \(call_next, ctx\)"):
        ActionRouter(middleware=[one_arg])
