"""Refusals and failures: precise 4xx before a stream over HTTP, error events in a stream,
and what is (not) persisted when a handler raises, in both modes."""

from __future__ import annotations

from typing import Any

import pytest
from conformance_app import ITEM, THREAD, BridgeMode, action_request, card, check_stream

from chatkit_handlers import ActionError
from chatkit_handlers.errors import DispatchError
from examples.bridge.store import MemoryChatKitStore

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (action_request("conf.everything", thread_id="thr_missing"), 404, "thread.not_found"),
        (action_request("conf.everything", item_id="wid_missing"), 404, "item.not_found"),
        (action_request("conf.evrything"), 404, "action.unknown"),
        (action_request("conf.defaults", {"by": "two"}), 422, "payload.invalid"),
        (action_request("conf.bump", {"by": 1}), 400, "action.mode_mismatch"),
        (action_request("conf.everything", item_id=None), 400, "item.required"),
        (b'{"type": "threads.custom_action"', 400, "request.malformed"),
    ],
)
async def test_http_refuses_before_any_stream(client: Any, body: bytes, status: int, code: str) -> None:
    """chatkit-python raises (or cuts the stream); the one-endpoint mode answers a status."""
    response = await client.post("/chatkit", content=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()
    assert (error["type"], error["code"], error["allow_retry"]) == ("error", code, False)
    assert error["message"]


async def test_bridge_stream_refusal_is_an_error_event(server: Any) -> None:
    events = await BridgeMode(server).stream(action_request("conf.defaults", {"by": "two"}))
    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == "custom"
    assert "Expected `int`, got `str` - at `$.by`" in events[-1]["message"]


async def test_bridge_sync_refusal_raises_dispatch_error(server: Any) -> None:
    with pytest.raises(DispatchError) as caught:
        await server.process(action_request("conf.bump", {"by": "two"}, sync=True), None)
    assert (caught.value.status_code, caught.value.code) == (422, "payload.invalid")


async def test_sync_action_error(server: Any, client: Any) -> None:
    response = await client.post("/chatkit", content=action_request("conf.sync_fail", sync=True))
    assert response.status_code == 409
    assert response.json() == {"type": "error", "code": "custom", "message": "Not now", "allow_retry": False}
    with pytest.raises(ActionError, match="Not now"):
        await server.process(action_request("conf.sync_fail", sync=True), None)


async def test_http_persists_nothing_when_the_handler_raises(
    client: Any, chatkit_store: MemoryChatKitStore
) -> None:
    response = await client.post("/chatkit", content=action_request("conf.fail_after_writes"))
    events = check_stream(response.content)
    assert events[-1]["code"] == "custom"
    assert [i.id for i in chatkit_store.items[THREAD]] == [ITEM]
    assert chatkit_store.items[THREAD][0].widget.model_dump(exclude_none=True) == card(0)
    assert chatkit_store.threads[THREAD].title == "Conformance"


async def test_bridge_persists_what_chatkit_persists_when_the_handler_raises(
    server: Any, chatkit_store: MemoryChatKitStore
) -> None:
    """chatkit stores items and thread changes as events pass; our widget updates wait for
    a clean finish, so the sender keeps its widget."""
    events = await BridgeMode(server).stream(action_request("conf.fail_after_writes"))
    assert events[-1]["code"] == "custom"
    items = chatkit_store.items[THREAD]
    assert len(items) == 2  # chatkit stored the added widget as its thread.item.done passed
    assert items[0].widget.model_dump(exclude_none=True) == card(0)  # the update was not saved
