"""Consume-once widgets (``on_action(..., once=True)``) through a real Litestar app, on every store.

The first action of a ``once`` route from a widget that completes takes
effect; a replay or a concurrent double click runs no handler: a sync one
answers the stored widget as ``updated_item``, a streaming one sends only
``stream_options``. A handler that raises consumes nothing.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from _stores_support import BACKENDS, open_store
from litestar import Litestar
from litestar.testing import TestClient
from routing_support import parse_sse

from chatkit_handlers import ActionContext, ActionError, ActionRouter, on_action
from chatkit_handlers.errors import RegistrationError
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore, Store
from chatkit_handlers.types import ThreadMetadata, ThreadStreamEvent, WidgetItem

pytestmark = pytest.mark.anyio

CALLS: list[str] = []
FAIL_NEXT: list[bool] = []


def offer(state: str) -> dict[str, Any]:
    return {"type": "Card", "children": [{"type": "Text", "id": "state", "value": state}]}


def state_of(item: dict[str, Any]) -> str:
    return str(item["widget"]["children"][0]["value"])


@on_action("offer.accept", streaming=False, once=True)
async def accept(sender: WidgetItem, thread: ThreadMetadata) -> dict[str, Any]:
    """Books the offer: what customer-support's "booked_widget_ids" hand-rolls."""
    CALLS.append("accept")
    await anyio.sleep(0.05)  # long enough for a double click to arrive meanwhile
    if FAIL_NEXT and FAIL_NEXT.pop():
        raise ActionError("the booking service is down", status_code=503)
    thread.metadata["bookings"] = thread.metadata.get("bookings", 0) + 1
    return offer("accepted")


@on_action("offer.rename", once=True)
async def rename(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
    """A streaming once action, as cat-lounge's "already named" check hand-rolls."""
    CALLS.append("rename")
    yield ctx.progress("renaming")
    yield ctx.update_widget(offer("renamed"))


@on_action("coupon.*", streaming=False, once=True)
async def coupon(sender: WidgetItem, ctx: ActionContext[Any]) -> dict[str, Any]:
    """A pattern route: its actions share one record per widget (the key is the route)."""
    CALLS.append(ctx.action_type)
    return offer(ctx.action_type)


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    FAIL_NEXT.clear()


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(str(request.param), tmp_path) as opened:
        await opened.save_thread(ThreadMetadata(id="thr_1"), context=None)
        for item_id in ("wid_1", "wid_2"):
            await opened.add_thread_item(
                "thr_1", WidgetItem(id=item_id, thread_id="thr_1", widget=offer("open")), context=None
            )
        yield opened


def app_over(store: Store) -> Litestar:
    router = ActionRouter()
    router.include(sys.modules[__name__])
    return Litestar(plugins=[ChatKitPlugin(router, store=store)])


def sync(action_type: str, item: str | None = "wid_1") -> dict[str, Any]:
    params: dict[str, Any] = {"thread_id": "thr_1", "action": {"type": action_type}}
    if item is not None:
        params["item_id"] = item
    return {"type": "threads.sync_custom_action", "params": params}


def stream(action_type: str, item: str = "wid_1") -> dict[str, Any]:
    return {
        "type": "threads.custom_action",
        "params": {"thread_id": "thr_1", "item_id": item, "action": {"type": action_type}},
    }


async def test_a_sync_action_takes_effect_once_and_a_replay_gets_the_stored_widget(store: Store) -> None:
    with TestClient(app_over(store)) as client:
        first = client.post("/chatkit", json=sync("offer.accept"))
        replay = client.post("/chatkit", json=sync("offer.accept"))
        other_widget = client.post("/chatkit", json=sync("offer.accept", item="wid_2"))
    assert first.status_code == replay.status_code == other_widget.status_code == 200
    assert state_of(first.json()["updated_item"]) == "accepted"
    assert replay.json()["updated_item"] == first.json()["updated_item"]  # the client catches up
    assert CALLS == ["accept", "accept"]  # once for wid_1, once for wid_2
    assert (await store.load_thread("thr_1", context=None)).metadata["bookings"] == 2


async def test_concurrent_double_clicks_run_the_handler_once(store: Store) -> None:
    app = app_over(store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answers: list[httpx.Response] = []

        async def click() -> None:
            answers.append(await client.post("/chatkit", json=sync("offer.accept")))

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(click)
    assert [a.status_code for a in answers] == [200] * 5
    assert {state_of(a.json()["updated_item"]) for a in answers} == {"accepted"}
    assert CALLS == ["accept"]
    assert (await store.load_thread("thr_1", context=None)).metadata["bookings"] == 1


async def test_a_handler_that_raises_consumes_nothing(store: Store) -> None:
    FAIL_NEXT.append(True)
    with TestClient(app_over(store)) as client:
        failed = client.post("/chatkit", json=sync("offer.accept"))
        retried = client.post("/chatkit", json=sync("offer.accept"))
    assert failed.status_code == 503
    assert retried.status_code == 200
    assert state_of(retried.json()["updated_item"]) == "accepted"
    assert CALLS == ["accept", "accept"]


async def test_a_streaming_replay_sends_only_stream_options(store: Store) -> None:
    with TestClient(app_over(store)) as client:
        first = parse_sse(client.post("/chatkit", json=stream("offer.rename")).content)
        replay = parse_sse(client.post("/chatkit", json=stream("offer.rename")).content)
    assert [e["type"] for e in first] == ["stream_options", "progress_update", "thread.item.updated"]
    assert [e["type"] for e in replay] == ["stream_options"]
    assert CALLS == ["rename"]
    stored = await store.load_item("thr_1", "wid_1", context=None)
    assert isinstance(stored, WidgetItem)
    assert stored.widget["children"][0]["value"] == "renamed"


async def test_the_key_is_the_route_a_pattern_routes_actions_share_it(store: Store) -> None:
    with TestClient(app_over(store)) as client:
        applied = client.post("/chatkit", json=sync("coupon.apply"))
        removed = client.post("/chatkit", json=sync("coupon.remove"))  # same widget, same route
        elsewhere = client.post("/chatkit", json=sync("offer.accept"))  # same widget, another route
    assert state_of(applied.json()["updated_item"]) == "coupon.apply"
    assert state_of(removed.json()["updated_item"]) == "coupon.apply"  # a replay
    assert state_of(elsewhere.json()["updated_item"]) == "accepted"
    assert CALLS == ["coupon.apply", "accept"]


async def test_an_action_without_its_sender_widget_is_refused() -> None:
    store = MemoryStore()
    await store.save_thread(ThreadMetadata(id="thr_1"))
    with TestClient(app_over(store)) as client:
        refused = client.post("/chatkit", json=sync("offer.accept", item=None))
    assert refused.status_code == 400
    assert refused.json()["code"] == "item.required"
    assert CALLS == []


def test_a_store_that_cannot_record_consumption_is_refused_at_startup() -> None:
    class Forgetful(MemoryStore):
        records_consumed = False

    router = ActionRouter()
    router.include(accept)
    with pytest.raises(RegistrationError, match=r"once=True.*Forgetful does not record consumed"):
        ChatKitPlugin(router, store=Forgetful())
