"""The shop example over HTTP: namespaces, discovery, providers, guards, middleware, error handlers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from litestar.testing import TestClient
from routing_support import event_types, parse_sse

from chatkit_handlers.__main__ import main
from chatkit_handlers.stores import MemoryStore
from examples.shop.app import DEMO_CART, DEMO_THREAD, create_app, router

ADMIN = {"x-user": "ann:admin"}
CUSTOMER = {"x-user": "bob"}


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def client(store: MemoryStore) -> Iterator[TestClient[Any]]:
    with TestClient(create_app({"tea": 5, "mug": 1}, store)) as client:
        yield client


def send(
    client: TestClient[Any], action: str, payload: Any = None, *, streaming: bool, headers: Any = None
) -> Any:
    envelope = {
        "type": "threads.custom_action" if streaming else "threads.sync_custom_action",
        "params": {
            "thread_id": DEMO_THREAD,
            "item_id": DEMO_CART,
            "action": {"type": action, "payload": payload},
        },
    }
    return client.post("/chatkit", content=msgspec.json.encode(envelope), headers=headers or {})


def texts(widget: dict[str, Any]) -> list[str]:
    return [c["children"][0]["value"] for c in widget["children"] if c["type"] == "Row"]


def test_cart_add_remove_and_out_of_stock(client: TestClient[Any], store: MemoryStore) -> None:
    response = send(client, "cart.add", {"sku": "tea", "qty": 2}, streaming=False)
    assert response.status_code == 200, response.text
    assert texts(response.json()["updated_item"]["widget"]) == ["tea × 2"]
    assert client.app.state.inventory.stock["tea"] == 3
    thread = anyio.run(lambda: store.load_thread(DEMO_THREAD, context=None))
    assert thread.metadata["cart"] == {"tea": 2}  # the thread change was persisted

    # Mapped by the app's error handler: a 409 notice, and nothing persisted.
    response = send(client, "cart.add", {"sku": "mug", "qty": 2}, streaming=False)
    assert response.status_code == 409
    assert response.json() == {
        "type": "error",
        "code": "notice",
        "message": "Sorry, mug is out of stock.",
        "allow_retry": False,
    }
    # Validation happens first: a bad sku never reaches the inventory.
    response = send(client, "cart.add", {"sku": "Tea!", "qty": 1}, streaming=False)
    assert response.status_code == 422
    assert "$.sku" in response.json()["message"]

    # The remove button's action type carries the sku (a pattern route).
    response = send(client, "cart.item.tea.remove", streaming=False)
    assert response.status_code == 200
    assert texts(response.json()["updated_item"]["widget"]) == []
    assert client.app.state.inventory.stock["tea"] == 5


def test_cart_clear_streams_and_is_logged_after_the_stream(
    client: TestClient[Any], caplog: pytest.LogCaptureFixture
) -> None:
    send(client, "cart.add", {"sku": "tea"}, streaming=False)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="examples.shop"):
        response = send(client, "cart.clear", streaming=True)
    events = parse_sse(response.content)
    assert event_types(events) == [
        "stream_options",
        "progress_update",
        "thread.item.updated",
        "thread.updated",
    ]
    assert client.app.state.inventory.stock["tea"] == 5
    logged = [r.getMessage() for r in caplog.records if r.name == "examples.shop"]
    assert len(logged) == 1
    assert logged[0].startswith("action cart.clear ok in ")


def test_order_guards_refuse_before_the_handler(client: TestClient[Any], store: MemoryStore) -> None:
    refund = {"order": "ord_1", "amount": 20}
    response = send(client, "order.refund", refund, streaming=False)
    assert response.status_code == 403
    assert response.json()["message"] == "action 'order.refund' was refused by guard signed_in"
    response = send(client, "order.refund", refund, streaming=False, headers=CUSTOMER)
    assert response.status_code == 403
    assert "require_role('admin')" in response.json()["message"]
    response = send(client, "order.refund", {"order": "ord_1", "amount": -5}, streaming=False, headers=ADMIN)
    assert response.status_code == 422
    thread = anyio.run(lambda: store.load_thread(DEMO_THREAD, context=None))
    assert "refunds" not in thread.metadata
    response = send(client, "order.refund", refund, streaming=False, headers=ADMIN)
    assert response.status_code == 200
    thread = anyio.run(lambda: store.load_thread(DEMO_THREAD, context=None))
    assert thread.metadata["refunds"] == [{"order": "ord_1", "amount": 20, "by": "ann"}]


def test_order_track_streams_for_a_signed_in_user(client: TestClient[Any]) -> None:
    events = parse_sse(
        send(client, "order.track", {"order": "ord_7"}, streaming=True, headers=CUSTOMER).content
    )
    assert event_types(events) == ["stream_options", "progress_update", "thread.item.done"]
    assert events[-1]["item"]["content"][0]["text"] == "bob, order ord_7 is on its way."
    events = parse_sse(send(client, "order.track", {"order": "ord_7"}, streaming=True).content)
    assert event_types(events) == ["stream_options", "error"]
    assert events[-1]["code"] == "custom"  # chatkit's code for a message shown to the user


def test_shop_openapi_lists_every_action(client: TestClient[Any]) -> None:
    document = client.get("/schema/openapi.json").json()
    description = document["paths"]["/chatkit"]["post"]["description"]
    for route in router.routes():
        assert f"`{route.type}`" in description
    mapping = document["components"]["schemas"]["ChatKitSyncCustomActionRequestParams"]["properties"][
        "action"
    ]["discriminator"]["mapping"]
    assert set(mapping) == {"cart.add", "order.refund"}


def test_committed_typescript_declarations_are_up_to_date(tmp_path: Path) -> None:
    generated = tmp_path / "actions.d.ts"
    assert main(["typescript", "examples.shop.app:router", "-o", str(generated)]) == 0
    committed = Path(__file__).resolve().parents[2] / "examples" / "shop" / "actions.d.ts"
    assert committed.read_text() == generated.read_text(), (
        "regenerate: python -m chatkit_handlers typescript examples.shop.app:router -o examples/shop/actions.d.ts"
    )
