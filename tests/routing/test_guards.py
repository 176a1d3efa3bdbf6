"""Guards: authorize before the handler runs (and before anything is persisted)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import msgspec
import pytest
from routing_support import THREAD, call, event_types, seeded_store

from chatkit_handlers import ActionContext, ActionError, ActionRouter, on_action
from chatkit_handlers.errors import RegistrationError


class User(msgspec.Struct):
    name: str
    roles: list[str] = []


class Refund(msgspec.Struct):
    order: str
    amount: int


def require_role(role: str) -> Callable[..., bool]:
    def guard(user: User) -> bool:
        return role in user.roles

    guard.__name__ = f"require_role({role!r})"
    return guard


def make_router(ran: list[str]) -> ActionRouter:
    router = ActionRouter(context_type=User)

    @router.on_action("order.refund", streaming=False, guards=[require_role("admin")])
    async def refund(payload: Refund, ctx: ActionContext[Any]) -> None:
        ran.append("refund")
        ctx.thread.title = "refunded"  # would be persisted, if the handler ran

    @router.on_action("order.cancel", guards=[require_role("admin")])
    async def cancel(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        ran.append("cancel")
        yield ctx.progress("cancelling")

    return router


@pytest.mark.anyio
async def test_sync_refusal_is_403_before_the_handler_runs() -> None:
    ran: list[str] = []
    store = await seeded_store()
    status, answer = await call(
        make_router(ran), "order.refund", {"order": "o1", "amount": 5}, context=User("eve"), store=store
    )
    assert status == 403
    assert answer == {
        "type": "error",
        "code": "action.forbidden",
        "message": "action 'order.refund' was refused by guard require_role('admin')",
        "allow_retry": False,
    }
    assert ran == []
    assert (await store.load_thread(THREAD, context=None)).title == "routing"
    status, _ = await call(
        make_router(ran), "order.refund", {"order": "o1", "amount": 5}, context=User("ann", ["admin"])
    )
    assert status == 200
    assert ran == ["refund"]


@pytest.mark.anyio
async def test_stream_refusal_is_an_error_event_before_the_handler_runs() -> None:
    ran: list[str] = []
    status, events = await call(make_router(ran), "order.cancel", context=User("eve"))
    assert status == 200
    assert event_types(events) == ["stream_options", "error"]
    assert events[1]["code"] == "custom"  # chatkit's code for a message shown to the user
    assert ran == []


@pytest.mark.anyio
async def test_invalid_payload_is_refused_before_any_guard() -> None:
    seen: list[str] = []

    def spy(payload: Any) -> bool:
        seen.append("guard")
        return True

    router = ActionRouter()

    @router.on_action("order.refund", streaming=False, guards=[spy])
    async def refund(payload: Refund) -> None: ...

    status, answer = await call(router, "order.refund", {"order": "o1", "amount": "lots"})
    assert status == 422
    assert "$.amount" in answer["message"]
    assert seen == []


@pytest.mark.anyio
async def test_router_guards_run_first_and_see_context_and_validated_payload() -> None:
    order: list[Any] = []

    async def outer(ctx: ActionContext[Any], payload: Any) -> None:  # None lets the action through
        order.append(("outer", ctx.action_type, payload))

    def inner(payload: Refund) -> bool:  # a Struct annotation: still the payload, by name
        order.append(("inner", payload.amount))
        return True

    def own(context: User) -> bool:
        order.append(("own", context.name))
        return True

    root = ActionRouter(guards=[outer])
    shop = ActionRouter(prefix="shop.", context_type=User)
    shop.guard(inner)

    @shop.on_action("refund", streaming=False, guards=[own])
    async def refund(payload: Refund) -> None:
        order.append("handler")

    root.include(shop)
    route = root.lookup("shop.refund")
    assert route is not None
    assert route.guards == (outer, inner, own)
    status, _ = await call(root, "shop.refund", {"order": "o1", "amount": 3}, context=User("ann"))
    assert status == 200
    assert order == [
        ("outer", "shop.refund", Refund("o1", 3)),
        ("inner", 3),
        ("own", "ann"),
        "handler",
    ]


@pytest.mark.anyio
async def test_a_guard_may_refuse_with_its_own_message() -> None:
    def business_hours() -> None:
        raise ActionError("Refunds are processed 9–17", status_code=409)

    router = ActionRouter(guards=[business_hours])

    @router.on_action("order.refund", streaming=False)
    async def refund(payload: Refund) -> None: ...

    @router.on_action("order.cancel")
    async def cancel(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        yield ctx.progress("x")

    status, answer = await call(router, "order.refund", {"order": "o1", "amount": 3})
    assert (status, answer["code"], answer["message"]) == (409, "custom", "Refunds are processed 9–17")
    _, events = await call(router, "order.cancel")
    assert events[1] == {
        "type": "error",
        "code": "custom",
        "message": "Refunds are processed 9–17",
        "allow_retry": False,
    }


def test_guard_parameters_are_checked_at_registration() -> None:
    def bad(limit: int) -> bool:
        return True

    with pytest.raises(RegistrationError, match=r"guard .*bad: cannot inject parameter 'limit'"):
        ActionRouter().guard(bad)

    @on_action("x", streaming=False, guards=[bad])
    async def handler() -> None: ...

    with pytest.raises(RegistrationError, match=r"guard .*bad: cannot inject parameter 'limit'"):
        ActionRouter().add(handler)
    with pytest.raises(TypeError, match="guards must be a list of callables"):
        on_action("x", guards=["admin"])  # type: ignore[list-item]


@pytest.mark.anyio
async def test_guards_also_apply_through_the_chatkit_server_bridge() -> None:
    from chatkit import types as ck
    from chatkit.actions import Action
    from chatkit.server import ChatKitServer, StreamingResult

    from chatkit_handlers.bridge import RoutedActions
    from examples.bridge.store import MemoryChatKitStore

    ran: list[str] = []
    router = make_router(ran)

    class Server(RoutedActions, ChatKitServer[Any]):
        actions = router

        async def respond(self, thread: Any, input_user_message: Any, context: Any) -> AsyncIterator[Any]:
            return
            yield

    store = MemoryChatKitStore()
    thread = ck.ThreadMetadata(id="thr_b", created_at=datetime.now())
    await store.save_thread(thread, context=None)
    server = Server(store=store)
    params = ck.ThreadCustomActionParams(thread_id="thr_b", action=Action[str, Any](type="order.cancel"))
    result = await server.process(
        ck.ThreadsCustomActionReq(params=params).model_dump_json().encode(), User("eve")
    )
    assert isinstance(result, StreamingResult)
    chunks = [chunk async for chunk in result]
    events = [msgspec.json.decode(c.removeprefix(b"data: ")) for c in b"".join(chunks).split(b"\n\n") if c]
    assert events[-1]["type"] == "error"
    assert "refused by guard require_role('admin')" in events[-1]["message"]
    assert ran == []
