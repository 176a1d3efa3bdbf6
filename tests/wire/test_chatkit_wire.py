"""Wire compatibility with openai-chatkit 1.6.5, checked with chatkit's own pydantic types.

Requests are built with chatkit's request models and serialized by pydantic; every
response body and every SSE event is validated by chatkit's models and compared with
what chatkit itself would put on the wire for the same value (``model_dump_json`` with
aliases and without None fields, as ``ChatKitServer._serialize`` does).
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import msgspec
import pytest
from chatkit.actions import Action, ActionConfig
from chatkit.types import (
    SyncCustomActionResponse,
    ThreadCustomActionParams,
    ThreadsCustomActionReq,
    ThreadsSyncCustomActionReq,
)
from chatkit.types import ThreadItem as ChatKitThreadItem
from chatkit.types import ThreadMetadata as ChatKitThreadMetadata
from chatkit.types import ThreadStreamEvent as ChatKitThreadStreamEvent
from litestar import Litestar
from litestar.testing import TestClient
from pydantic import BaseModel, TypeAdapter

from chatkit_handlers import ActionContext, ActionError, ActionRouter, on_action
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore
from chatkit_handlers.types import (
    ClientEffectEvent,
    ErrorEvent,
    NoticeEvent,
    ProgressUpdateEvent,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    WidgetComponentUpdated,
    WidgetItem,
    WidgetRootUpdated,
    WidgetStreamingTextValueDelta,
)
from examples.counter import handlers as counter_handlers
from examples.counter.widgets import counter_card

# chatkit warns when validating widget JSON into its named widget classes (its own doing).
pytestmark = pytest.mark.filterwarnings("ignore:Direct usage of named widget classes:DeprecationWarning")

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Direct usage of named widget classes", DeprecationWarning)
    EVENTS: TypeAdapter[Any] = TypeAdapter(ChatKitThreadStreamEvent)
    ITEMS: TypeAdapter[Any] = TypeAdapter(ChatKitThreadItem)

TEXT = {"type": "Text", "id": "count", "value": "7"}
STREAMING_CARD = {
    "type": "Card",
    "children": [{"type": "Markdown", "id": "md", "value": "", "streaming": True}],
}


def chatkit_json(model: BaseModel) -> Any:
    """What chatkit would send for ``model`` (``ChatKitServer._serialize``), decoded."""
    return json.loads(
        model.model_dump_json(by_alias=True, exclude_none=True, context={"exclude_metadata": True})
    )


def without_widgets(data: Any) -> Any:
    """``data`` with widget trees blanked: chatkit re-serializes a widget with its model
    defaults filled in (an ActionConfig gains ``handler``, ``loadingBehavior``...), while we
    send the tree exactly as the handler built it. Trees are compared separately."""
    if isinstance(data, dict):
        return {k: "<tree>" if k in ("widget", "component") else without_widgets(v) for k, v in data.items()}
    if isinstance(data, list):
        return [without_widgets(v) for v in data]
    return data


def same_as_chatkit(raw: bytes, model: BaseModel) -> None:
    """Our JSON equals chatkit's serialization of the same value (widget trees aside)."""
    assert without_widgets(json.loads(raw)) == without_widgets(chatkit_json(model))


def check_event(raw: bytes) -> Any:
    """Validate one event with chatkit and compare it with chatkit's own serialization."""
    model = EVENTS.validate_json(raw)
    same_as_chatkit(raw, model)
    return model


# ------------------------------------------------------------------ handlers: one per event helper


class Emit(msgspec.Struct, forbid_unknown_fields=True):
    kind: str


@on_action("w.emit")
async def emit(payload: Emit, ctx: ActionContext[Any]) -> AsyncIterator[Any]:
    sender = ctx.sender
    assert sender is not None
    kind = payload.kind
    if kind == "progress":
        yield ctx.progress("Working")
        yield ctx.progress("Searching", icon="search")
    elif kind == "update_widget":
        yield ctx.update_widget(counter_card(3))
    elif kind == "update_component":
        yield ctx.update_component("count", TEXT)
    elif kind == "replace_item":
        yield ctx.replace_item(msgspec.structs.replace(sender, widget=counter_card(8), copy_text="8"))
    elif kind == "remove_item":
        yield ctx.remove_item(sender.id)
    elif kind == "add_widget":
        yield ctx.add_widget(counter_card(1), copy_text="1")
    elif kind == "message":
        yield ctx.message("Here you go")
    elif kind == "client_effect":
        yield ctx.client_effect("confetti")
        yield ctx.client_effect("goto", {"url": "/cart", "n": [1, 2]})
    elif kind == "notice":
        yield ctx.notice("Saved")
        yield ctx.notice("**Careful**", level="danger", title="Stop")
    elif kind == "hidden_context":
        yield ctx.hidden_context({"last_action": "reset"})
        yield ctx.progress("after hidden context")
    elif kind == "title":
        ctx.thread.title = "A new title"
        yield ctx.progress("renamed")
    elif kind == "structs":
        item = WidgetItem(id="wid_streamed", thread_id=ctx.thread.id, widget=STREAMING_CARD)
        yield ThreadItemAddedEvent(item=item)
        yield ThreadItemUpdatedEvent(
            item_id=item.id,
            update=WidgetStreamingTextValueDelta(component_id="md", delta="Hel", done=False),
        )
        yield ThreadItemUpdatedEvent(
            item_id=item.id,
            update=WidgetStreamingTextValueDelta(component_id="md", delta="lo", done=True),
        )
        yield ThreadItemDoneEvent(item=msgspec.structs.replace(item, widget=counter_card(0)))
        yield ThreadItemUpdatedEvent(item_id=sender.id, update=WidgetRootUpdated(widget=counter_card(4)))
        yield ThreadItemUpdatedEvent(item_id=sender.id, update=WidgetComponentUpdated("count", TEXT))
        yield ThreadItemReplacedEvent(item=sender)
        yield ProgressUpdateEvent(text="struct", icon="check")
        yield ClientEffectEvent(name="fx", data={"a": 1})
        yield NoticeEvent(level="info", message="struct notice")
        yield ThreadItemRemovedEvent(item_id="wid_streamed")
        yield ErrorEvent(code="custom", message="a handled problem", allow_retry=False)
    elif kind == "dicts":
        yield {"type": "progress_update", "text": "dict progress", "icon": "bolt"}
        yield {
            "type": "thread.item.done",
            "item": {
                "type": "widget",
                "id": "wid_dict",
                "thread_id": ctx.thread.id,
                "created_at": "2025-01-02T03:04:05Z",
                "widget": counter_card(2),
            },
        }
        yield {
            "type": "thread.item.updated",
            "item_id": sender.id,
            "update": {"type": "widget.root.updated", "widget": counter_card(6)},
        }
        yield {"type": "client_effect", "name": "dict-effect"}
        yield {"type": "notice", "level": "warning", "message": "dict notice"}
        yield {"type": "thread.item.removed", "item_id": "wid_dict"}
    elif kind == "chatkit_models":
        from chatkit.types import NoticeEvent as ChatKitNotice
        from chatkit.types import ProgressUpdateEvent as ChatKitProgress

        yield ChatKitProgress(text="from chatkit", icon="sparkle")
        yield ChatKitNotice(level="info", message="chatkit notice")
    elif kind == "raise":
        yield ctx.progress("about to fail")
        raise RuntimeError("boom")
    elif kind == "action_error":
        raise ActionError("Nope, not now", allow_retry=True)
    else:  # pragma: no cover - a typo in a test
        raise AssertionError(kind)


@on_action("w.sync", streaming=False)
async def sync(payload: Emit, ctx: ActionContext[Any]) -> Any:
    if payload.kind == "root":
        return counter_card(11)
    if payload.kind == "item":
        assert ctx.sender is not None
        return msgspec.structs.replace(ctx.sender, widget=counter_card(12), copy_text="12")
    if payload.kind == "dict_item":
        assert ctx.sender is not None
        return {
            "type": "widget",
            "id": ctx.sender.id,
            "thread_id": ctx.thread.id,
            "created_at": "2025-01-02T03:04:05+00:00",
            "widget": counter_card(13),
        }
    return None


@on_action("w.no_sender")
async def no_sender(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
    assert ctx.sender is None
    yield ctx.add_widget(counter_card(0))


# ------------------------------------------------------------------ fixtures and request builders


@pytest.fixture
def client(store: MemoryStore) -> Iterator[TestClient[Litestar]]:
    router = ActionRouter()
    router.include(counter_handlers)
    router.include(sys.modules[__name__])
    app = Litestar(plugins=[ChatKitPlugin(router, store=store)])
    with TestClient(app) as test_client:
        yield test_client


def request_body(
    action_type: str,
    payload: Any = None,
    *,
    streaming: bool = True,
    thread_id: str = "thr_test",
    item_id: str | None = "wid_counter",
) -> str:
    """A request as chatkit's own models build and serialize it."""
    params = ThreadCustomActionParams(
        thread_id=thread_id, item_id=item_id, action=Action(type=action_type, payload=payload)
    )
    request = (
        ThreadsCustomActionReq(params=params) if streaming else ThreadsSyncCustomActionReq(params=params)
    )
    return request.model_dump_json()


def stream(client: Any, body: str) -> list[Any]:
    """POST ``body``; validate every SSE event with chatkit; return chatkit's event models."""
    response = client.post("/chatkit", content=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/event-stream"
    raw = response.content
    assert raw.endswith(b"\n\n")
    events = []
    for block in raw[:-2].split(b"\n\n"):
        assert block.startswith(b"data: ")
        events.append(check_event(block[len(b"data: ") :]))
    assert events[0].type == "stream_options"
    assert events[0].stream_options.allow_cancel is True
    return events[1:]


def sync_response(client: Any, body: str) -> SyncCustomActionResponse:
    response = client.post("/chatkit", content=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    model = SyncCustomActionResponse.model_validate_json(response.content)
    same_as_chatkit(response.content, model)
    return model


def stored_items(store: MemoryStore, thread_id: str = "thr_test") -> list[Any]:
    """Every stored item of the thread, validated as a chatkit ThreadItem."""

    async def load() -> list[Any]:
        page = await store.load_thread_items(thread_id, None, 100, "asc", context=None)
        return [ITEMS.validate_json(msgspec.json.encode(item)) for item in page.data]

    return anyio.run(load)


def stored_thread(store: MemoryStore, thread_id: str = "thr_test") -> ChatKitThreadMetadata:
    async def load() -> bytes:
        return msgspec.json.encode(await store.load_thread(thread_id, context=None))

    return ChatKitThreadMetadata.model_validate_json(anyio.run(load))


# ------------------------------------------------------------------ requests built by chatkit


def test_chatkit_built_requests_are_understood(client: Any) -> None:
    body = request_body("counter.increment", {"by": 4}, streaming=False)
    assert '"metadata":{}' in body
    assert '"item_id":"wid_counter"' in body
    item = sync_response(client, body).updated_item
    assert item is not None
    assert item.type == "widget"
    assert item.widget.model_dump(exclude_none=True)["children"][0]["value"] == "4"

    events = stream(client, request_body("counter.reset"))
    assert [e.type for e in events] == ["progress_update", "thread.item.updated"]


def test_null_item_id_and_payload_from_chatkit(client: Any, store: MemoryStore) -> None:
    body = request_body("w.no_sender", item_id=None)
    assert '"item_id":null' in body
    assert '"payload":null' in body
    (done,) = stream(client, body)
    assert done.type == "thread.item.done"
    assert done.item.type == "widget"
    assert len(stored_items(store)) == 3


def test_action_config_as_the_client_sends_it(client: Any) -> None:
    # The browser sends the widget's ActionConfig as the action, extra keys included.
    config = ActionConfig(
        type="counter.increment", payload={"by": 2}, streaming=False, loadingBehavior="self"
    )
    body = json.loads(request_body("placeholder", streaming=False))
    body["params"]["action"] = config.model_dump(mode="json")
    assert set(body["params"]["action"]) == {"type", "payload", "handler", "loadingBehavior", "streaming"}
    item = sync_response(client, json.dumps(body)).updated_item
    assert item is not None
    assert item.widget.model_dump(exclude_none=True)["children"][0]["value"] == "2"


def test_counter_widget_actions_are_valid_chatkit_action_configs(client: Any) -> None:
    # Every onClickAction of the example widget is an ActionConfig chatkit accepts, and the
    # mode it asks for is the mode its handler is registered with.
    router = ActionRouter()
    router.include(counter_handlers)
    buttons = counter_card(0)["children"][1]["children"]
    for button in buttons:
        config = ActionConfig.model_validate(button["onClickAction"])
        route = router.lookup(config.type)
        assert route is not None
        assert route.streaming is config.streaming


# ------------------------------------------------------------------ every event helper, validated by chatkit


def test_progress(client: Any) -> None:
    first, second = stream(client, request_body("w.emit", {"kind": "progress"}))
    assert (first.type, first.text, first.icon) == ("progress_update", "Working", None)
    assert (second.text, second.icon) == ("Searching", "search")


def test_update_widget(client: Any, store: MemoryStore) -> None:
    (event,) = stream(client, request_body("w.emit", {"kind": "update_widget"}))
    assert event.type == "thread.item.updated"
    assert event.item_id == "wid_counter"
    assert event.update.type == "widget.root.updated"
    assert stored_items(store)[0].widget.model_dump(exclude_none=True)["children"][0]["value"] == "3"


def test_update_component(client: Any, store: MemoryStore) -> None:
    (event,) = stream(client, request_body("w.emit", {"kind": "update_component"}))
    assert event.update.type == "widget.component.updated"
    assert event.update.component_id == "count"
    assert stored_items(store)[0].widget.model_dump(exclude_none=True)["children"][0]["value"] == "7"


def test_replace_item(client: Any, store: MemoryStore) -> None:
    (event,) = stream(client, request_body("w.emit", {"kind": "replace_item"}))
    assert event.type == "thread.item.replaced"
    assert event.item.copy_text == "8"
    assert stored_items(store)[0].copy_text == "8"


def test_remove_item(client: Any, store: MemoryStore) -> None:
    (event,) = stream(client, request_body("w.emit", {"kind": "remove_item"}))
    assert event.type == "thread.item.removed"
    assert event.item_id == "wid_counter"
    assert [item.id for item in stored_items(store)] == ["msg_hello"]


def test_add_widget(client: Any, store: MemoryStore) -> None:
    (event,) = stream(client, request_body("w.emit", {"kind": "add_widget"}))
    assert event.type == "thread.item.done"
    assert event.item.type == "widget"
    assert event.item.thread_id == "thr_test"
    assert stored_items(store)[-1] == event.item


def test_message(client: Any, store: MemoryStore) -> None:
    (event,) = stream(client, request_body("w.emit", {"kind": "message"}))
    assert event.item.type == "assistant_message"
    assert event.item.content[0].text == "Here you go"
    assert event.item.content[0].annotations == []
    assert stored_items(store)[-1] == event.item


def test_client_effect(client: Any) -> None:
    bare, with_data = stream(client, request_body("w.emit", {"kind": "client_effect"}))
    assert (bare.type, bare.name, bare.data) == ("client_effect", "confetti", {})
    assert with_data.data == {"url": "/cart", "n": [1, 2]}


def test_notice(client: Any) -> None:
    info, danger = stream(client, request_body("w.emit", {"kind": "notice"}))
    assert (info.level, info.message, info.title) == ("info", "Saved", None)
    assert (danger.level, danger.message, danger.title) == ("danger", "**Careful**", "Stop")


def test_hidden_context_is_stored_as_a_chatkit_item_and_never_sent(client: Any, store: MemoryStore) -> None:
    events = stream(client, request_body("w.emit", {"kind": "hidden_context"}))
    assert [e.type for e in events] == ["progress_update"]
    hidden = stored_items(store)[-1]
    assert hidden.type == "hidden_context_item"
    assert hidden.content == {"last_action": "reset"}


def test_title_change_sends_a_chatkit_thread(client: Any, store: MemoryStore) -> None:
    progress, updated = stream(client, request_body("w.emit", {"kind": "title"}))
    assert progress.type == "progress_update"
    assert updated.type == "thread.updated"
    assert updated.thread.title == "A new title"
    assert updated.thread.items.data == []
    assert stored_thread(store).title == "A new title"


def test_structs_yielded_directly(client: Any, store: MemoryStore) -> None:
    events = stream(client, request_body("w.emit", {"kind": "structs"}))
    assert [e.type for e in events] == [
        "thread.item.added",
        "thread.item.updated",
        "thread.item.updated",
        "thread.item.done",
        "thread.item.updated",
        "thread.item.updated",
        "thread.item.replaced",
        "progress_update",
        "client_effect",
        "notice",
        "thread.item.removed",
        "error",
    ]
    assert events[1].update.type == "widget.streaming_text.value_delta"
    assert (events[2].update.delta, events[2].update.done) == ("lo", True)
    assert events[-1].code == "custom"
    assert [item.id for item in stored_items(store)] == ["wid_counter", "msg_hello"]


def test_plain_dicts_yielded(client: Any, store: MemoryStore) -> None:
    events = stream(client, request_body("w.emit", {"kind": "dicts"}))
    assert [e.type for e in events] == [
        "progress_update",
        "thread.item.done",
        "thread.item.updated",
        "client_effect",
        "notice",
        "thread.item.removed",
    ]
    assert events[3].data == {}
    items = stored_items(store)
    assert [item.id for item in items] == ["wid_counter", "msg_hello"]
    assert items[0].widget.model_dump(exclude_none=True)["children"][0]["value"] == "6"


def test_chatkit_models_yielded(client: Any) -> None:
    progress, notice = stream(client, request_body("w.emit", {"kind": "chatkit_models"}))
    assert (progress.text, progress.icon) == ("from chatkit", "sparkle")
    assert notice.message == "chatkit notice"


def test_error_events(client: Any) -> None:
    progress, error = stream(client, request_body("w.emit", {"kind": "raise"}))
    assert progress.type == "progress_update"
    assert (error.type, error.code, error.allow_retry, error.message) == ("error", "stream.error", True, None)
    (error,) = stream(client, request_body("w.emit", {"kind": "action_error"}))
    assert (error.code, error.message, error.allow_retry) == ("custom", "Nope, not now", True)


# ------------------------------------------------------------------ sync responses


def test_sync_responses(client: Any, store: MemoryStore) -> None:
    empty = sync_response(client, request_body("w.sync", {"kind": "none"}, streaming=False))
    assert empty.updated_item is None

    for kind, count in (("root", "11"), ("item", "12"), ("dict_item", "13")):
        item = sync_response(client, request_body("w.sync", {"kind": kind}, streaming=False)).updated_item
        assert item is not None
        assert item.id == "wid_counter"
        assert item.widget.model_dump(exclude_none=True)["children"][0]["value"] == count
        assert stored_items(store)[0] == item


def test_stored_items_and_thread_validate_after_everything(client: Any, store: MemoryStore) -> None:
    for kind in ("update_widget", "add_widget", "message", "hidden_context", "title", "dicts"):
        stream(client, request_body("w.emit", {"kind": kind}))
    types = [item.type for item in stored_items(store)]
    assert types == ["widget", "assistant_message", "widget", "assistant_message", "hidden_context_item"]
    assert stored_thread(store).title == "A new title"
