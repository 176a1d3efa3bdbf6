"""Action requests built from openai-chatkit's types, answered in both modes, every byte
validated with chatkit's pydantic models (see ``conformance_app.check_stream``)."""

from __future__ import annotations

from typing import Any

import pytest
from conformance_app import (
    ABSENT,
    ITEM,
    THREAD,
    BridgeMode,
    ConformanceServer,
    HTTPMode,
    action_request,
    count_of,
    make_app,
    seeded_store,
    shape,
)
from litestar.testing import AsyncTestClient

from examples.bridge.store import MemoryChatKitStore

pytestmark = pytest.mark.anyio

EVENT_TYPES = {
    "stream_options",
    "thread.updated",
    "thread.item.added",
    "thread.item.updated",
    "thread.item.done",
    "thread.item.removed",
    "thread.item.replaced",
    "progress_update",
    "client_effect",
    "notice",
}
"""Every ThreadStreamEvent an action can produce, but ``error`` (tested apart) and
``thread.created`` (only ``threads.create`` makes one)."""

UPDATE_TYPES = {
    "widget.root.updated",
    "widget.component.updated",
    "widget.streaming_text.value_delta",
    "assistant_message.content_part.added",
    "assistant_message.content_part.text_delta",
    "assistant_message.content_part.annotation_added",
    "assistant_message.content_part.done",
    "workflow.task.added",
    "workflow.task.updated",
    "generated_image.updated",
}


async def stored_items(store: MemoryChatKitStore) -> dict[str, Any]:
    return {item.id: item for item in store.items[THREAD]}


async def test_every_event_variant(mode: Any, chatkit_store: MemoryChatKitStore) -> None:
    # The handler also asserts it received the request context (an error event otherwise).
    events = await mode.stream(action_request("conf.everything"))

    assert events[0] == {"type": "stream_options", "stream_options": {"allow_cancel": True}}
    assert {e["type"] for e in events} == EVENT_TYPES
    assert {e["update"]["type"] for e in events if "update" in e} == UPDATE_TYPES
    assert all(e.get("item", {}).get("type") != "hidden_context_item" for e in events)
    deltas = [e["update"] for e in events if e["type"] == "thread.item.updated" and "delta" in e["update"]]
    assert [(d["delta"], d["done"]) for d in deltas if d["type"].startswith("widget")] == [
        ("lo", False),
        (", world", False),
    ]
    updated = [e for e in events if e["type"] == "thread.updated"]
    assert [e["thread"]["title"] for e in updated] == ["Everything"]

    # Persisted, in both modes: the sender's widget updates, every done/replaced item, the
    # hidden context, the thread; the removed message is gone.
    items = await stored_items(chatkit_store)
    assert items[ITEM].widget.model_dump(exclude_none=True)["children"][0]["value"] == "11"
    kinds = [item.type for item in items.values()]
    assert kinds.count("hidden_context_item") == 1
    assert kinds.count("assistant_message") == 1  # the chatkit-streamed one; "temporary" was removed
    assert {"workflow", "generated_image"} <= set(kinds)
    streamed = next(
        e["item"] for e in events if e["type"] == "thread.item.done" and e["item"].get("copy_text")
    )
    assert items[streamed["id"]].widget.model_dump(exclude_none=True) == streamed["widget"]
    assert chatkit_store.threads[THREAD].title == "Everything"


async def test_both_modes_send_the_same_events() -> None:
    """Handler code is identical in both modes, and so is what the client receives."""
    http_server, bridge_server = (
        ConformanceServer(await seeded_store()),
        ConformanceServer(await seeded_store()),
    )
    async with AsyncTestClient(make_app(http_server)) as client:
        http = await HTTPMode(client).stream(action_request("conf.everything"))
    bridge = await BridgeMode(bridge_server).stream(action_request("conf.everything"))
    assert shape(http) == shape(bridge)
    assert len(shape(http)) == 31


async def test_action_error_becomes_a_custom_error_event(mode: Any) -> None:
    events = await mode.stream(action_request("conf.fail"))
    assert shape(events) == ["stream_options", "progress_update", "error"]
    assert events[-1] == {"type": "error", "code": "custom", "message": "Out of stock", "allow_retry": True}


async def test_handler_crash_becomes_a_stream_error_event(
    mode: Any, caplog: pytest.LogCaptureFixture
) -> None:
    events = await mode.stream(action_request("conf.crash"))
    assert events[-1] == {"type": "error", "code": "stream.error", "allow_retry": True}
    assert "boom" in caplog.text  # logged on the server, never sent


async def test_hidden_context_is_stored_never_sent(mode: Any, chatkit_store: MemoryChatKitStore) -> None:
    events = await mode.stream(action_request("conf.hidden"))
    assert shape(events) == ["stream_options"]
    hidden = [i for i in chatkit_store.items[THREAD] if i.type == "hidden_context_item"]
    assert [h.content for h in hidden] == ["for the model only"]


async def test_item_id_absent(mode: Any, chatkit_store: MemoryChatKitStore) -> None:
    body = action_request("conf.announce", item_id=None)
    assert b"item_id" not in body
    events = await mode.stream(body)
    assert shape(events) == ["stream_options", "thread.item.done"]
    assert events[1]["item"]["copy_text"] == "0"
    assert len(chatkit_store.items[THREAD]) == 2


async def test_payload_absent(mode: Any) -> None:
    body = action_request("conf.defaults")
    assert b"payload" not in body
    events = await mode.stream(body)
    assert events[-1]["message"] == "by=1"  # the Struct's defaults
    events = await mode.stream(action_request("conf.no_payload"))
    assert events[-1]["message"] == "no payload"
    events = await mode.stream(action_request("conf.defaults", {"by": 4}))
    assert events[-1]["message"] == "by=4"


@pytest.mark.parametrize(
    ("action_type", "payload", "count"),
    [
        ("conf.bump", {"by": 2}, 2),  # returns a dict
        ("conf.bump_template", {"by": 2}, 2),  # returns WidgetTemplate(...).build(...)
        ("conf.bump_named", {"by": 2}, 2),  # returns chatkit.widgets.Card(...)
        ("conf.bump_response", ABSENT, 1),  # returns chatkit's SyncCustomActionResponse
    ],
)
async def test_sync_update_is_returned_and_persisted(
    mode: Any, chatkit_store: MemoryChatKitStore, action_type: str, payload: Any, count: int
) -> None:
    """chatkit-python does not save a sync action's updated_item; both our modes do."""
    response = await mode.sync(action_request(action_type, payload, sync=True))
    assert response["updated_item"]["id"] == ITEM
    assert count_of(response["updated_item"]["widget"]) == count
    stored = (await stored_items(chatkit_store))[ITEM]
    assert stored.widget.model_dump(mode="json", exclude_none=True) == response["updated_item"]["widget"]


async def test_sync_without_update_answers_empty_object(mode: Any) -> None:
    assert await mode.sync(action_request("conf.noop", sync=True)) == {}


async def test_sync_thread_change_is_persisted(mode: Any, chatkit_store: MemoryChatKitStore) -> None:
    assert await mode.sync(action_request("conf.rename", sync=True)) == {}
    assert chatkit_store.threads[THREAD].title == "Renamed"
