"""Every ``error`` event a stream carries validates as chatkit's ``ErrorEvent``.

chatkit's ``ErrorEvent.code`` accepts only ``custom`` and ``stream.error``; our
precise codes (guard refusals, timeouts, busy threads, error-handler answers,
events handlers yield themselves) travel as ``custom`` with their message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from chatkit.types import ThreadStreamEvent as ChatKitEvent
from pydantic import TypeAdapter

from chatkit_handlers import ActionContext, ActionRouter
from chatkit_handlers.dispatch import Dispatcher
from chatkit_handlers.stores import MemoryStore, thread_lock
from chatkit_handlers.types import ErrorEvent

pytestmark = pytest.mark.anyio

chatkit_event: TypeAdapter[Any] = TypeAdapter(ChatKitEvent)


def _deny(ctx: ActionContext) -> bool:
    return False


class Refused(Exception):
    pass


def make_router() -> ActionRouter:
    router = ActionRouter()
    router.on_error(Refused, lambda exc: ErrorEvent(code="shop.refused", message="refused by the shop"))

    @router.on_action("own.code")
    async def own_code(ctx: ActionContext) -> AsyncIterator[Any]:
        yield ErrorEvent(code="my.code", message="handler's own code", allow_retry=True)

    @router.on_action("guarded", guards=[_deny])
    async def guarded(ctx: ActionContext) -> AsyncIterator[Any]:
        yield ctx.progress("never")

    @router.on_action("slow", timeout=0.01)
    async def slow(ctx: ActionContext) -> AsyncIterator[Any]:
        await anyio.sleep(1)
        yield ctx.progress("never")

    @router.on_action("mapped")
    async def mapped(ctx: ActionContext) -> AsyncIterator[Any]:
        raise Refused
        yield ctx.progress("never")

    return router


async def error_event(dispatcher: Dispatcher, body: bytes, sse_events: Any) -> dict[str, Any]:
    result = await dispatcher.dispatch(body)
    assert result.status_code == 200
    assert result.stream is not None
    events = sse_events(b"".join([chunk async for chunk in result.stream]))
    for event in events:
        chatkit_event.validate_python(event)  # every frame, including the error
    assert events[-1]["type"] == "error"
    return dict(events[-1])


@pytest.mark.parametrize(
    ("action_type", "message"),
    [
        ("own.code", "handler's own code"),
        ("guarded", "refused"),
        ("slow", "0.01"),
        ("mapped", "refused by the shop"),
    ],
)
async def test_error_events_use_chatkit_codes(
    store: MemoryStore, action_body: Any, sse_events: Any, action_type: str, message: str
) -> None:
    event = await error_event(Dispatcher(make_router(), store), action_body(action_type), sse_events)
    assert event["code"] == "custom"
    assert message in event["message"]


async def test_busy_thread_event_uses_a_chatkit_code(
    store: MemoryStore, ids: Any, action_body: Any, sse_events: Any
) -> None:
    dispatcher = Dispatcher(make_router(), store, lock_timeout=0)
    async with store.lock(thread_lock(ids.thread), timeout=None, context=None):
        event = await error_event(dispatcher, action_body("own.code"), sse_events)
    assert (event["code"], event["allow_retry"]) == ("custom", True)
    assert "streaming in thread" in event["message"]
