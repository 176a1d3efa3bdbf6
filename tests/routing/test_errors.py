"""Error handlers (router.on_error) and handler timeouts."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import pytest
from routing_support import THREAD, body, call, event_types, parse_sse, seeded_store

from chatkit_handlers import ActionContext, ActionError, ActionRouter
from chatkit_handlers.dispatch import Dispatcher
from chatkit_handlers.errors import ActionTimeoutError, RegistrationError
from chatkit_handlers.types import ErrorEvent, NoticeEvent


class ShopError(Exception):
    pass


class OutOfStock(ShopError):
    def __init__(self, sku: str) -> None:
        super().__init__(sku)
        self.sku = sku


def raising(router: ActionRouter, exc: BaseException) -> None:
    @router.on_action("sync", streaming=False)
    async def sync_handler(ctx: ActionContext[Any]) -> None:
        ctx.thread.title = "changed"  # never persisted: the handler fails
        raise exc

    @router.on_action("stream")
    async def stream_handler(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        yield ctx.progress("working")
        raise exc


@pytest.mark.anyio
async def test_most_specific_type_wins_in_both_modes() -> None:
    router = ActionRouter()

    @router.on_error(ShopError)
    def shop_error(exc: ShopError) -> ErrorEvent:
        return ErrorEvent(code="shop", message="shop trouble")

    @router.on_error(OutOfStock, status_code=409)
    async def out_of_stock(exc: OutOfStock, ctx: ActionContext[Any]) -> NoticeEvent:
        return ctx.notice(f"{exc.sku} is sold out ({ctx.action_type})", level="warning")

    raising(router, OutOfStock("tea"))
    store = await seeded_store()
    status, answer = await call(router, "sync", store=store)
    assert status == 409
    assert answer == {
        "type": "error",
        "code": "notice",
        "message": "tea is sold out (sync)",
        "allow_retry": False,
    }
    assert (await store.load_thread(THREAD, context=None)).title == "routing"
    status, events = await call(router, "stream")
    assert event_types(events) == ["stream_options", "progress_update", "notice"]
    assert events[-1] == {"type": "notice", "level": "warning", "message": "tea is sold out (stream)"}


@pytest.mark.anyio
async def test_error_event_and_action_error_answers() -> None:
    router = ActionRouter()
    router.on_error(
        KeyError, lambda exc: ErrorEvent(code="missing", message=f"no {exc.args[0]}", allow_retry=True)
    )
    router.on_error(LookupError, lambda exc: ActionError("Not found", status_code=404))
    raising(router, KeyError("sku"))
    assert await call(router, "sync") == (
        400,
        {"type": "error", "code": "missing", "message": "no sku", "allow_retry": True},
    )
    _, events = await call(router, "stream")
    assert events[-1] == {"type": "error", "code": "custom", "message": "no sku", "allow_retry": True}

    other = ActionRouter()
    other.on_error(LookupError, lambda exc: ActionError("Not found", status_code=404))
    raising(other, IndexError(3))
    assert await call(other, "sync") == (
        404,
        {"type": "error", "code": "custom", "message": "Not found", "allow_retry": False},
    )


@pytest.mark.anyio
async def test_inner_router_handler_wins_and_none_means_default() -> None:
    root = ActionRouter()
    inner = ActionRouter(prefix="in.")
    root.on_error(ValueError, lambda exc: ErrorEvent(code="root", message="root"))
    inner.on_error(ValueError, lambda exc: ErrorEvent(code="inner", message="inner"))
    handled: list[str] = []

    def log_only(exc: Exception) -> None:
        handled.append(type(exc).__name__)

    root.on_error(RuntimeError, log_only)
    raising(inner, ValueError("x"))
    root.include(inner)
    status, answer = await call(root, "in.sync")
    assert (status, answer["code"]) == (400, "inner")

    fallback = ActionRouter()
    fallback.on_error(RuntimeError, log_only)
    raising(fallback, RuntimeError("x"))
    status, answer = await call(fallback, "sync")
    assert (status, answer["code"]) == (500, "handler.error")
    _, events = await call(fallback, "stream")
    assert events[-1]["code"] == "stream.error"
    assert handled == ["RuntimeError", "RuntimeError"]


@pytest.mark.anyio
async def test_a_catch_all_does_not_swallow_action_errors() -> None:
    router = ActionRouter()
    router.on_error(Exception, lambda exc: ErrorEvent(code="oops", message="oops"))
    raising(router, ActionError("Your cart is empty"))
    status, answer = await call(router, "sync")
    assert (status, answer["code"], answer["message"]) == (400, "custom", "Your cart is empty")

    translating = ActionRouter()
    translating.on_error(ActionError, lambda exc: ActionError(f"[fr] {exc.message}"))
    raising(translating, ActionError("Your cart is empty"))
    _, events = await call(translating, "stream")
    assert events[-1]["message"] == "[fr] Your cart is empty"


@pytest.mark.anyio
async def test_a_broken_error_handler_is_a_500() -> None:
    router = ActionRouter()
    router.on_error(ValueError, lambda exc: "not an answer")
    raising(router, ValueError("x"))
    status, answer = await call(router, "sync")
    assert (status, answer["code"]) == (500, "handler.error")


def test_error_handler_registration_is_checked() -> None:
    with pytest.raises(TypeError, match="takes an exception class"):
        ActionRouter().on_error("ValueError", lambda exc: None)  # type: ignore[arg-type]
    with pytest.raises(RegistrationError, match=r"must take \(exc\) or \(exc, ctx\)"):
        ActionRouter().on_error(ValueError, lambda: None)
    with pytest.raises(RegistrationError, match="status_code must be 4xx or 5xx"):
        ActionRouter().on_error(ValueError, lambda exc: None, status_code=200)


# ------------------------------------------------------------------ timeouts


@pytest.mark.anyio
async def test_sync_timeout_is_504_and_stream_timeout_an_error_event() -> None:
    router = ActionRouter()

    @router.on_action("slow.sync", streaming=False, timeout=0.01)
    async def slow_sync() -> None:
        await anyio.sleep_forever()

    @router.on_action("slow.stream", timeout=0.01, description="Streams, then stalls")
    async def slow_stream(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        yield ctx.progress("started")
        await anyio.sleep_forever()
        yield ctx.progress("never")

    @router.on_action("quick", streaming=False, timeout=30)
    async def quick() -> None:
        return None

    status, answer = await call(router, "slow.sync")
    assert status == 504
    assert answer["code"] == "action.timeout"
    assert answer["allow_retry"] is True
    assert "'slow.sync' did not finish within 0.01 s" in answer["message"]
    _, events = await call(router, "slow.stream")
    assert event_types(events) == ["stream_options", "progress_update", "error"]
    assert events[-1]["code"] == "custom"  # a stream carries chatkit's codes only
    assert (await call(router, "quick"))[0] == 200
    route = router.lookup("slow.stream")
    assert route is not None
    assert (route.timeout, route.description) == (0.01, "Streams, then stalls")


@pytest.mark.anyio
async def test_a_plain_def_handler_past_its_timeout_is_abandoned() -> None:
    release = threading.Event()
    router = ActionRouter()

    @router.on_action("blocking", streaming=False, timeout=0.01)
    def blocking() -> None:
        release.wait(5)

    try:
        status, answer = await call(router, "blocking")
    finally:
        release.set()
    assert (status, answer["code"]) == (504, "action.timeout")


@pytest.mark.anyio
async def test_timeouts_can_be_mapped_by_an_error_handler() -> None:
    router = ActionRouter()

    @router.on_error(TimeoutError, status_code=503)
    def busy(exc: ActionTimeoutError) -> NoticeEvent:
        return NoticeEvent(level="info", message=f"Still busy after {exc.timeout:g}s, try again")

    @router.on_action("slow", streaming=False, timeout=0.01)
    async def slow() -> None:
        await anyio.sleep_forever()

    status, answer = await call(router, "slow")
    assert (status, answer["code"], answer["message"]) == (503, "notice", "Still busy after 0.01s, try again")


def test_timeout_must_be_positive() -> None:
    router = ActionRouter()
    for bad in (0, -1, float("inf"), "5", True):
        with pytest.raises(TypeError, match="timeout must be a positive number"):
            router.on_action("x", timeout=bad)  # type: ignore[arg-type]


class Slow:
    """A provided type whose provider never finishes."""


@pytest.mark.anyio
async def test_a_provider_runs_within_the_timeout() -> None:
    ran: list[str] = []
    router = ActionRouter()

    @router.provide(Slow)
    async def slow() -> Slow:
        await anyio.sleep_forever()
        return Slow()

    @router.on_action("sync", streaming=False, timeout=0.01)
    async def sync_handler(slow: Slow) -> None:
        ran.append("sync")

    @router.on_action("stream", timeout=0.01)
    async def stream_handler(ctx: ActionContext[Any], slow: Slow) -> AsyncIterator[Any]:
        ran.append("stream")
        yield ctx.progress("never")

    status, answer = await call(router, "sync")
    assert (status, answer["code"]) == (504, "action.timeout")
    _, events = await call(router, "stream")
    assert event_types(events) == ["stream_options", "error"]
    assert ran == []


def recording(seen: list[str]) -> Callable[..., Awaitable[Any]]:
    """A middleware noting the name of every exception that comes out of the chain."""

    async def watch(call_next: Callable[[], Awaitable[Any]], ctx: ActionContext[Any]) -> Any:
        try:
            return await call_next()
        except Exception as exc:
            seen.append(type(exc).__name__)
            raise

    return watch


@pytest.mark.parametrize("middleware", [False, True])
@pytest.mark.anyio
async def test_a_stream_timeout_bounds_each_step_of_the_handler_not_the_client(middleware: bool) -> None:
    seen: list[str] = []
    watch = recording(seen)

    router = ActionRouter(middleware=[watch] if middleware else [])

    @router.on_action("chatty", timeout=0.05)
    async def chatty(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        for n in range(3):
            yield ctx.progress(f"step {n}")

    @router.on_action("stalls", timeout=0.05)
    async def stalls(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        yield ctx.progress("last")
        await anyio.sleep_forever()  # after its last event: still the handler's own work

    result = await Dispatcher(router, await seeded_store()).dispatch(body("chatty", item_id=None))
    assert result.stream is not None
    chunks: list[bytes] = []
    async for chunk in result.stream:
        chunks.append(chunk)
        await anyio.sleep(0.08)  # a client slower than the timeout between events
    assert event_types(parse_sse(b"".join(chunks))) == ["stream_options"] + ["progress_update"] * 3
    _, events = await call(router, "stalls")
    assert event_types(events) == ["stream_options", "progress_update", "error"]
    assert seen == (["ActionTimeoutError"] if middleware else [])


@pytest.mark.anyio
async def test_middleware_sees_a_sync_timeout() -> None:
    seen: list[str] = []
    watch = recording(seen)

    router = ActionRouter(middleware=[watch])

    @router.on_action("slow", streaming=False, timeout=0.01)
    async def slow() -> None:
        await anyio.sleep_forever()

    status, answer = await call(router, "slow")
    assert (status, answer["code"]) == (504, "action.timeout")
    assert seen == ["ActionTimeoutError"]


class Row:
    """A provided type whose provider reads past the end of an async iterator."""


@pytest.mark.parametrize("limit", [None, 30.0])
@pytest.mark.anyio
async def test_a_provider_raising_stop_async_iteration_fails_the_stream(limit: float | None) -> None:
    router = ActionRouter()

    async def nothing() -> AsyncIterator[Row]:
        return
        yield

    @router.provide(Row)
    async def first_row() -> Row:
        return await nothing().__anext__()  # exhausted: raises StopAsyncIteration

    @router.on_action("rows", timeout=limit)
    async def rows(ctx: ActionContext[Any], row: Row) -> AsyncIterator[Any]:
        yield ctx.progress("never")

    _, events = await call(router, "rows")
    assert event_types(events) == ["stream_options", "error"]  # not taken for the end of the stream
    assert events[-1]["code"] == "stream.error"
