"""Handlers may return or yield openai-chatkit's pydantic objects; the chatkit store adapter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import pytest
from chatkit import types as ck
from chatkit.widgets import DynamicWidgetRoot

from chatkit_handlers import ActionContext
from chatkit_handlers._wire.coerce import to_event, to_item, to_updated_item
from chatkit_handlers.errors import NotFoundError
from chatkit_handlers.stores.chatkit import ChatKitStoreAdapter
from chatkit_handlers.types import (
    ClientToolCallItem,
    ProgressUpdateEvent,
    ThreadItemDoneEvent,
    ThreadMetadata,
    UserMessageItem,
    WidgetItem,
)
from examples.bridge.store import MemoryChatKitStore

CARD = {"type": "Card", "children": [{"type": "Text", "id": "t", "value": "1", "custom": {"kept": True}}]}
SENDER = WidgetItem(id="wid_1", thread_id="thr_1", widget={"type": "Card", "children": []})


def chatkit_widget_item() -> ck.WidgetItem:
    return ck.WidgetItem(
        id="wid_1",
        thread_id="thr_1",
        created_at=datetime.now(),
        widget=DynamicWidgetRoot.model_validate(CARD),
    )


def test_chatkit_events_become_structs() -> None:
    assert to_event(ck.ProgressUpdateEvent(text="hi", icon="bolt")) == ProgressUpdateEvent(
        text="hi", icon="bolt"
    )
    event = to_event(ck.ThreadItemDoneEvent(item=chatkit_widget_item()))
    assert isinstance(event, ThreadItemDoneEvent)
    assert isinstance(event.item, WidgetItem)
    assert event.item.widget == CARD  # nothing lost on the way


def test_yielding_a_widget_says_how_to_add_it() -> None:
    with pytest.raises(TypeError, match=r"yield ctx\.add_widget\(root\)"):
        to_event(DynamicWidgetRoot.model_validate(CARD))
    with pytest.raises(TypeError, match="invalid event 'progress_update'"):
        to_event({"type": "progress_update"})


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (None, None),
        ({}, None),
        (ck.SyncCustomActionResponse(), None),
        (DynamicWidgetRoot.model_validate(CARD), CARD),
        ({"updated_item": {"type": "widget", "id": "wid_1", "thread_id": "thr_1", "widget": CARD}}, CARD),
    ],
    ids=["None", "{}", "empty chatkit response", "chatkit widget", "response dict"],
)
def test_sync_results(result: Any, expected: Any) -> None:
    item = to_updated_item(result, SENDER, "x")
    assert (item.widget if isinstance(item, WidgetItem) else item) == expected


def test_sync_result_chatkit_response_with_item() -> None:
    item = to_updated_item(ck.SyncCustomActionResponse(updated_item=chatkit_widget_item()), SENDER, "x")
    assert isinstance(item, WidgetItem)
    assert item.widget == CARD


def test_replace_item_takes_a_chatkit_item() -> None:
    ctx: ActionContext[Any] = ActionContext(thread=ThreadMetadata(id="thr_1"))
    event = ctx.replace_item(chatkit_widget_item())
    assert isinstance(event.item, WidgetItem)
    assert event.item.widget == CARD


def test_every_chatkit_item_type_converts() -> None:
    now = datetime.now()
    user = ck.UserMessageItem(
        id="m",
        thread_id="t",
        created_at=now,
        content=[ck.UserMessageTextContent(text="hi")],
        inference_options=ck.InferenceOptions(),
    )
    converted = to_item(user)
    assert isinstance(converted, UserMessageItem)
    assert ck.UserMessageItem.model_validate_json(msgspec.json.encode(converted)) == user
    call = ck.ClientToolCallItem(id="c", thread_id="t", created_at=now, call_id="1", name="f", arguments={})
    assert isinstance(to_item(call), ClientToolCallItem)


@pytest.mark.anyio
async def test_chatkit_store_adapter_round_trip() -> None:
    chatkit_store = MemoryChatKitStore()
    store = ChatKitStoreAdapter(chatkit_store)
    await store.save_thread(ThreadMetadata(id="thr_1", title="T", metadata={"owner": "me"}), context=None)
    await store.add_thread_item("thr_1", WidgetItem(id="wid_1", thread_id="thr_1", widget=CARD), context=None)

    assert chatkit_store.threads["thr_1"].metadata == {"owner": "me"}
    assert chatkit_store.items["thr_1"][0].widget.model_dump(exclude_none=True) == CARD
    thread = await store.load_thread("thr_1", context=None)
    assert (thread.title, thread.metadata) == ("T", {"owner": "me"})
    item = await store.load_item("thr_1", "wid_1", context=None)
    assert isinstance(item, WidgetItem)
    assert item.widget == CARD
    page = await store.load_thread_items("thr_1", None, 10, "asc", context=None)
    assert [i.id for i in page.data] == ["wid_1"]
    await store.delete_thread_item("thr_1", "wid_1", context=None)
    with pytest.raises(NotFoundError):
        await store.load_item("thr_1", "wid_1", context=None)
    with pytest.raises(NotFoundError):
        await store.load_thread("thr_missing", context=None)


@pytest.mark.anyio
async def test_items_holding_chatkit_widgets_are_sent_and_stored_as_plain_json() -> None:
    """``replace_item`` and a sync answer given our WidgetItem with a chatkit widget inside."""
    import msgspec
    from chatkit.widgets import Card, Text
    from litestar import Litestar
    from litestar.testing import AsyncTestClient

    from chatkit_handlers import ActionRouter
    from chatkit_handlers.litestar import ChatKitPlugin
    from chatkit_handlers.stores import MemoryStore
    from chatkit_handlers.types import ThreadMetadata, WidgetItem

    router = ActionRouter()

    @router.on_action("card.replace")
    async def replace(ctx: ActionContext[Any], sender: WidgetItem) -> Any:
        card = Card(children=[Text(id="t", value="replaced")])
        yield ctx.replace_item(msgspec.structs.replace(sender, widget=card))

    @router.on_action("card.sync", streaming=False)
    async def sync(sender: WidgetItem) -> WidgetItem:
        return msgspec.structs.replace(sender, widget=Card(children=[Text(id="t", value="synced")]))

    store = MemoryStore()
    await store.save_thread(ThreadMetadata(id="thr_1"), context=None)
    await store.add_thread_item(
        "thr_1", WidgetItem(id="wid_1", thread_id="thr_1", widget={"type": "Card"}), context=None
    )
    app = Litestar(plugins=[ChatKitPlugin(router, store=store)])

    def body(kind: str, action_type: str) -> bytes:
        params = {"thread_id": "thr_1", "item_id": "wid_1", "action": {"type": action_type}}
        return msgspec.json.encode({"type": kind, "params": params})

    async with AsyncTestClient(app) as client:
        streamed = await client.post("/chatkit", content=body("threads.custom_action", "card.replace"))
        assert b'"error"' not in streamed.content
        assert b'"value":"replaced"' in streamed.content
        stored = await store.load_item("thr_1", "wid_1", context=None)
        assert isinstance(stored, WidgetItem)
        assert stored.widget["children"][0]["value"] == "replaced"
        answered = await client.post("/chatkit", content=body("threads.sync_custom_action", "card.sync"))
        assert answered.status_code == 200, answered.text
        assert answered.json()["updated_item"]["widget"]["children"][0]["value"] == "synced"
