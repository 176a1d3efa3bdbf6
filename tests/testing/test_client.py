"""ActionTestClient: the same answers as HTTP, typed; refusals as ActionFailed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler
from litestar.testing import AsyncTestClient

from chatkit_handlers import ActionContext, ActionError, ActionRouter, RequestView
from chatkit_handlers.dispatch import Dispatcher
from chatkit_handlers.errors import NotFoundError
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore
from chatkit_handlers.testing import (
    DEFAULT_THREAD_ID,
    ActionFailed,
    ActionTestClient,
    assert_error_event,
    assert_widget_updated,
    component,
    make_thread,
    make_widget_item,
)
from chatkit_handlers.types import (
    StreamOptionsEvent,
    SyncCustomActionResponse,
    ThreadStreamEvent,
    WidgetItem,
)
from examples.counter import handlers as counter
from examples.counter.widgets import counter_card

pytestmark = pytest.mark.anyio


def counter_router() -> ActionRouter:
    router = ActionRouter()
    router.include(counter)
    return router


@pytest.fixture(params=["router", "app"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[ActionTestClient]:
    """The same handlers reached through the dispatcher and through a Litestar app."""
    router = counter_router()
    if request.param == "router":
        yield ActionTestClient(router)
    else:
        app = Litestar(plugins=[ChatKitPlugin(router, store=MemoryStore())])
        async with ActionTestClient(app) as entered:
            yield entered


async def test_sync_answers_the_parsed_response_and_persists(client: ActionTestClient) -> None:
    item = make_widget_item(counter_card(0))
    response = await client.sync("counter.increment", {"by": 2}, sender=item)
    assert isinstance(response, SyncCustomActionResponse)
    assert_widget_updated(response, counter_card(2), item=item)
    # The stored item is used from now on: a second click counts on from 2.
    response = await client.sync("counter.increment", {"by": 2}, sender=item)
    assert component(response, "count")["value"] == "4"
    assert await client.widget(item) == counter_card(4)


async def test_stream_answers_every_event_in_order(client: ActionTestClient) -> None:
    item = await client.add_widget(counter_card(7))
    events = await client.stream("counter.reset", sender=item)
    assert isinstance(events[0], StreamOptionsEvent)
    assert events[0].stream_options.allow_cancel is True
    assert_widget_updated(events, counter_card(0))
    assert await client.hidden_context() == ["user reset the counter"]
    assert await client.widget(item) == counter_card(0)


@pytest.mark.parametrize(
    ("kind", "call", "status", "code"),
    [
        ("sync", {"action_type": "counter.nope"}, 404, "action.unknown"),
        ("stream", {"action_type": "counter.increment"}, 400, "action.mode_mismatch"),
        ("sync", {"action_type": "counter.reset"}, 400, "action.mode_mismatch"),
        ("sync", {"action_type": "counter.increment", "payload": {"by": "x"}}, 422, "payload.invalid"),
        ("sync", {"action_type": "counter.increment", "payload": {"step": 1}}, 422, "payload.invalid"),
        ("sync", {"action_type": "counter.increment", "sender": "wid_missing"}, 404, "item.not_found"),
        ("stream", {"action_type": "counter.reset", "thread": "thr_missing"}, 404, "thread.not_found"),
    ],
)
async def test_refusals_raise_action_failed(
    client: ActionTestClient, kind: str, call: dict[str, Any], status: int, code: str
) -> None:
    item = await client.add_widget(counter_card(0))
    call.setdefault("sender", item)
    if "thread" in call:
        call["sender"] = item.id
    send = client.sync if kind == "sync" else client.stream
    with pytest.raises(ActionFailed) as refused:
        await send(**call)
    assert (refused.value.status_code, refused.value.code) == (status, code)
    assert refused.value.error is not None
    assert refused.value.message
    assert str(refused.value).startswith(f"{status} {code}: ")


def failing_router() -> ActionRouter:
    router = ActionRouter()

    @router.on_action("boom.sync", streaming=False)
    async def boom_sync() -> None:
        raise ActionError("Out of stock", status_code=409)

    @router.on_action("boom.stream")
    async def boom_stream(ctx: ActionContext) -> AsyncIterator[ThreadStreamEvent]:
        yield ctx.progress("Working…")
        raise RuntimeError("bug")

    @router.on_action("whoami", streaming=False)
    async def whoami(context: str, sender: WidgetItem) -> dict[str, Any]:
        return {"type": "Card", "children": [{"type": "Text", "id": "user", "value": context}]}

    return router


async def test_handler_errors_surface_as_in_production() -> None:
    client = ActionTestClient(failing_router())
    with pytest.raises(ActionFailed) as refused:
        await client.sync("boom.sync")
    assert (refused.value.status_code, refused.value.code, refused.value.message) == (
        409,
        "custom",
        "Out of stock",
    )
    events = await client.stream("boom.stream")
    assert_error_event(events, "stream.error", allow_retry=True)


async def test_context_reaches_the_handler_and_dispatcher_targets_share_a_store() -> None:
    store = MemoryStore()
    dispatcher = Dispatcher(failing_router(), store)
    ada = ActionTestClient(dispatcher, context="ada")
    bob = ActionTestClient(dispatcher, context="bob")
    assert ada.store is bob.store is store
    item = await ada.add_widget({"type": "Card", "children": []})
    assert component(await ada.sync("whoami", sender=item), "user")["value"] == "ada"
    assert component(await bob.sync("whoami", sender=item), "user")["value"] == "bob"


async def test_request_body_is_what_a_browser_sends() -> None:
    """The dispatcher receives the exact ChatKit envelope."""
    seen: list[bytes] = []

    class Spy(Dispatcher):
        async def dispatch(self, body: bytes, context: Any = None) -> Any:
            seen.append(body)
            return await super().dispatch(body, context)

    client = ActionTestClient(Spy(counter_router(), MemoryStore()))
    thread = make_thread("thr_9")
    item = make_widget_item(counter_card(0), thread=thread, id="wid_9")
    await client.sync("counter.increment", {"by": 3}, sender=item, thread=thread, metadata={"locale": "en"})
    await client.stream("counter.reset", sender=item)
    assert [msgspec.json.decode(body) for body in seen] == [
        {
            "type": "threads.sync_custom_action",
            "params": {
                "thread_id": "thr_9",
                "action": {"type": "counter.increment", "payload": {"by": 3}},
                "item_id": "wid_9",
            },
            "metadata": {"locale": "en"},
        },
        {
            "type": "threads.custom_action",
            "params": {"thread_id": "thr_9", "action": {"type": "counter.reset"}, "item_id": "wid_9"},
        },
    ]


async def test_app_requests_go_through_guards_and_need_the_lifespan() -> None:
    def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.headers.get("authorization") != "Bearer ok":
            raise NotAuthorizedException("sign in first")

    app = Litestar(plugins=[ChatKitPlugin(counter_router(), store=MemoryStore(), guards=[signed_in])])
    client = ActionTestClient(app)
    with pytest.raises(RuntimeError, match="async with ActionTestClient"):
        await client.sync("counter.increment")
    async with client:
        item = await client.add_widget(counter_card(0))
        with pytest.raises(ActionFailed) as refused:
            await client.sync("counter.increment", sender=item)
        assert refused.value.status_code == 401
        assert refused.value.code is None  # Litestar answered, not the endpoint
        assert "sign in first" in refused.value.message
        response = await client.sync("counter.increment", sender=item, headers={"authorization": "Bearer ok"})
        assert component(response, "count")["value"] == "1"


async def test_app_answers_match_litestar_test_client() -> None:
    """Over real HTTP the app sends the very events the test client parsed."""
    store = MemoryStore()
    app = Litestar(plugins=[ChatKitPlugin(counter_router(), store=store)])
    async with ActionTestClient(app) as client:
        item = await client.add_widget(counter_card(5), id="wid_c")
        events = await client.stream("counter.reset", sender=item)
    await store.save_item(item.thread_id, item, context=None)
    body = {
        "type": "threads.custom_action",
        "params": {"thread_id": item.thread_id, "item_id": "wid_c", "action": {"type": "counter.reset"}},
    }
    async with AsyncTestClient(app) as http:
        response = await http.post("/chatkit", json=body)
    frames = [f for f in response.text.split("\n\n") if f]
    assert frames == ["data: " + msgspec.json.encode(event).decode() for event in events]


def test_bad_targets_and_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="ActionRouter, a Dispatcher or a Litestar app"):
        ActionTestClient(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="no ChatKitPlugin"):
        ActionTestClient(Litestar())
    with pytest.raises(ValueError, match="only for a router"):
        ActionTestClient(Dispatcher(counter_router(), MemoryStore()), store=MemoryStore())
    with pytest.raises(TypeError, match="only apply to a Litestar app"):
        ActionTestClient(counter_router(), headers={"x": "y"})


async def test_sender_from_another_thread_is_refused() -> None:
    client = ActionTestClient(counter_router())
    item = make_widget_item(counter_card(0), thread="thr_a")
    with pytest.raises(ValueError, match="belongs to thread 'thr_a'"):
        await client.sync("counter.increment", sender=item, thread="thr_b")


async def test_click_and_submit_follow_the_widget() -> None:
    router = ActionRouter()

    @router.on_action("todo.save", streaming=False)
    async def save(payload: dict[str, Any], sender: WidgetItem) -> dict[str, Any]:
        return {
            "type": "Card",
            "children": [{"type": "Text", "id": "saved", "value": msgspec.json.encode(payload).decode()}],
        }

    client = ActionTestClient(router)
    counter_client = ActionTestClient(counter_router(), store=client.store)
    item = await client.add_widget(counter_card(1))
    with pytest.raises(AssertionError, match="no onClickAction"):
        await counter_client.click(item, "count")

    form = {
        "type": "Card",
        "children": [
            {
                "type": "Form",
                "onSubmitAction": {"type": "todo.save", "payload": {"id": 7}, "streaming": False},
                "children": [
                    {"type": "Input", "name": "todo.title"},
                    {"type": "Button", "label": "Save", "submit": True},
                ],
            }
        ],
    }
    form_item = await client.add_widget(form)
    with pytest.raises(AssertionError, match="no input named 'title'"):
        await client.submit_form(form_item, {"title": "Buy tea"})
    response = await client.submit_form(form_item, {"todo.title": "Buy tea"})
    assert isinstance(response, SyncCustomActionResponse)
    saved = msgspec.json.decode(component(response, "saved")["value"])
    assert saved == {"id": 7, "todo": {"title": "Buy tea"}}  # the form's payload, values nested by name


async def test_click_sends_in_the_mode_the_widget_says() -> None:
    # A button that forgets `streaming: false` fails as it would in the browser.
    client = ActionTestClient(counter_router())
    widget = {
        "type": "Card",
        "children": [
            {"type": "Text", "id": "count", "value": "0"},
            {"type": "Button", "id": "plus", "onClickAction": {"type": "counter.increment"}},
            {"type": "Button", "id": "reset", "onClickAction": {"type": "counter.reset"}},
            {"type": "Button", "id": "local", "onClickAction": {"type": "x", "handler": "client"}},
        ],
    }
    item = await client.add_widget(widget)
    with pytest.raises(ActionFailed) as refused:
        await client.click(item, "plus")
    assert refused.value.code == "action.mode_mismatch"
    with pytest.raises(AssertionError, match="handled in the browser"):
        await client.click(item, "local")
    events = await client.click(item, "reset")
    assert isinstance(events, list)
    assert_widget_updated(events, counter_card(0))


async def test_a_router_under_the_test_client_gives_handlers_an_empty_request_view() -> None:
    from chatkit_handlers.testing import make_widget_item

    router = ActionRouter()
    seen: list[Any] = []

    @router.on_action("view.sync", streaming=False)
    async def sync_view(request: RequestView) -> None:
        seen.append((request.method, request.headers))

    async with ActionTestClient(router) as client:
        await client.sync("view.sync", sender=make_widget_item({"type": "Card", "children": []}))
    assert seen == [("", {})]


async def test_the_client_asserts_a_widgets_actions_reach_its_handlers() -> None:
    from examples.counter.handlers import increment, reset
    from examples.counter.widgets import counter_card

    router = ActionRouter()
    router.add(increment)
    router.add(reset)
    async with ActionTestClient(router) as client:
        client.assert_widget_routed(counter_card(3))
        broken = {
            "type": "Card",
            "children": [{"type": "Button", "onClickAction": {"type": "counter.reset", "streaming": False}}],
        }
        with pytest.raises(
            AssertionError, match=r"\$\.children\[0\]\.onClickAction: action 'counter\.reset' is streaming"
        ):
            client.assert_widget_routed(broken)


async def test_a_sender_s_thread_is_the_one_given_or_stored_never_an_invented_one() -> None:
    router = counter_router()
    seen: list[dict[str, Any]] = []

    @router.on_action("test.owner", streaming=False)
    async def owner(ctx: ActionContext[Any]) -> None:
        seen.append(dict(ctx.thread.metadata))

    client = ActionTestClient(router)
    thread = make_thread("thr_ann", metadata={"owner": "ann"})
    item = make_widget_item(counter_card(0), thread=thread)

    with pytest.raises(
        ValueError, match=r"thread 'thr_ann', which is not stored: pass thread=ThreadMetadata"
    ):
        await client.sync("test.owner", sender=item)
    with pytest.raises(NotFoundError):  # nothing stored on the way
        await client.load_thread("thr_ann")

    with pytest.raises(ValueError, match="belongs to thread 'thr_ann', not 'thr_bob'"):
        await client.sync("test.owner", sender=item, thread=make_thread("thr_bob"))

    await client.sync("test.owner", sender=item, thread=thread)
    await client.sync("test.owner", sender=item)  # stored now: used as stored
    assert seen == [{"owner": "ann"}, {"owner": "ann"}]

    # The client's own thread is created on first use, as documented.
    await client.sync("counter.increment", {"by": 1}, sender=make_widget_item(counter_card(0)))
    assert (await client.load_thread()).id == DEFAULT_THREAD_ID


async def test_clicking_a_missing_widget_fails_like_any_refused_action(client: ActionTestClient) -> None:
    for attempt in (client.click("wid_gone", "plus"), client.submit_form("wid_gone", {"name": "x"})):
        with pytest.raises(ActionFailed) as failed:
            await attempt
        assert (failed.value.status_code, failed.value.code) == (404, "item.not_found")
        assert failed.value.message == f"item 'wid_gone' not found in thread {DEFAULT_THREAD_ID!r}"
