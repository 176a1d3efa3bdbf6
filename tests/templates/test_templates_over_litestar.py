"""Handlers answer with rendered templates through a real Litestar app; chatkit's models accept the answers."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
from chatkit.types import SyncCustomActionResponse
from chatkit.types import ThreadStreamEvent as ChatKitThreadStreamEvent
from litestar import Litestar
from litestar.testing import TestClient
from pydantic import TypeAdapter

from chatkit_handlers import ActionContext, ActionRouter, on_action
from chatkit_handlers.errors import TemplateError
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore
from chatkit_handlers.templates import WidgetTemplate
from chatkit_handlers.types import ThreadMetadata, ThreadStreamEvent, WidgetItem, WidgetRoot

WIDGETS = Path(__file__).parent / "widgets"
FLIGHTS = WidgetTemplate.from_file(WIDGETS / "flights.widget")
ORDER = WidgetTemplate.from_file(WIDGETS / "order.widget")
THREAD, ITEM = "thr_tpl", "wid_order"
EVENTS: TypeAdapter[Any] = TypeAdapter(ChatKitThreadStreamEvent)


class OrderRef(msgspec.Struct):
    order_id: str


class Search(msgspec.Struct):
    origin: str
    destination: str


def order_data(status: str, note: str | None = None) -> dict[str, Any]:
    data = {
        "order_id": "ord_7",
        "status": status,
        "lines": [{"sku": "tea", "name": 'Tea "Earl Grey"', "qty": 2, "price": 4.25}],
    }
    return data if note is None else {**data, "note": note}


@on_action("order.confirm", streaming=False)
async def confirm(payload: OrderRef, sender: WidgetItem) -> WidgetRoot:
    return ORDER.render(order_data("confirmed", note=f"Confirmed {payload.order_id} </script>"))


@on_action("order.break", streaming=False)
async def broken(payload: OrderRef) -> WidgetRoot:
    return ORDER.render({"order_id": payload.order_id})  # no status, no lines: a bug in the handler


@on_action("flights.search")
async def search(payload: Search, ctx: ActionContext) -> AsyncIterator[ThreadStreamEvent]:
    yield ctx.progress("Searching flights…")
    data = json.loads(json.dumps(FLIGHTS.sample_data))
    data.update(origin=payload.origin, destination=payload.destination)
    yield ctx.add_widget(FLIGHTS.render(data))


def app_and_store() -> tuple[Litestar, MemoryStore]:
    router = ActionRouter()
    for handler in (confirm, broken, search):
        router.add(handler)
    store = MemoryStore()

    async def seed() -> None:
        await store.save_thread(ThreadMetadata(id=THREAD), context=None)
        item = WidgetItem(id=ITEM, thread_id=THREAD, widget=ORDER.render(order_data("pending")))
        await store.add_thread_item(THREAD, item, context=None)

    anyio.run(seed)
    return Litestar(plugins=[ChatKitPlugin(router, store=store, path="/chatkit")]), store


def action(kind: str, action_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    params = {"thread_id": THREAD, "item_id": ITEM, "action": {"type": action_type, "payload": payload}}
    return {"type": kind, "params": params}


def stored_widget(store: MemoryStore, item_id: str) -> Any:
    async def load() -> Any:
        return (await store.load_item(THREAD, item_id, context=None)).widget

    return anyio.run(load)


def test_a_sync_handler_returns_a_rendered_template_as_the_updated_widget() -> None:
    app, store = app_and_store()
    with TestClient(app) as client:
        response = client.post(
            "/chatkit", json=action("threads.sync_custom_action", "order.confirm", {"order_id": "ord_7"})
        )
    assert response.status_code == 200, response.text
    answer = SyncCustomActionResponse.model_validate_json(response.content)
    assert answer.updated_item is not None
    widget = response.json()["updated_item"]["widget"]
    assert widget == ORDER.render(order_data("confirmed", note="Confirmed ord_7 </script>"))
    assert widget["children"][0]["children"][2]["label"] == "confirmed"
    assert widget["children"][2]["children"][0]["value"] == '2 × Tea "Earl Grey"'
    assert stored_widget(store, ITEM) == widget


def test_a_streaming_handler_adds_a_rendered_widget() -> None:
    app, store = app_and_store()
    body = action("threads.custom_action", "flights.search", {"origin": "CDG", "destination": "Zürich"})
    with TestClient(app) as client:
        response = client.post("/chatkit", json=body)
    assert response.status_code == 200, response.text
    events = [
        EVENTS.validate_json(block[len(b"data: ") :]) for block in response.content.split(b"\n\n") if block
    ]
    assert [event.type for event in events] == ["stream_options", "progress_update", "thread.item.done"]
    added = response.content.split(b"\n\n")[2][len(b"data: ") :]
    item = json.loads(added)["item"]
    assert item["widget"]["status"] == {"text": "CDG → Zürich", "icon": "globe"}
    assert len(item["widget"]["children"]) == 3
    assert stored_widget(store, item["id"]) == item["widget"]


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_bad_data_in_a_handler_is_a_server_error_not_a_broken_widget() -> None:
    app, store = app_and_store()
    before = stored_widget(store, ITEM)
    collect = Collect()
    logger = logging.getLogger("chatkit_handlers")
    logger.addHandler(collect)
    try:
        with TestClient(app) as client:
            response = client.post(
                "/chatkit", json=action("threads.sync_custom_action", "order.break", {"order_id": "ord_7"})
            )
    finally:
        logger.removeHandler(collect)
    assert response.status_code == 500
    assert response.json()["code"] == "handler.error"
    assert "jsonSchema" not in response.text  # the details are for the log, not the client
    assert stored_widget(store, ITEM) == before
    [record] = collect.records
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], TemplateError)
    assert record.exc_info[1].errors == (
        "data: 'lines' is a required property",
        "data: 'status' is a required property",
    )
