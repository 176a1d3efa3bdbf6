"""The cart example, tested with the testing toolkit (router and app)."""

from __future__ import annotations

import pytest

from chatkit_handlers import ActionRouter
from chatkit_handlers.testing import (
    ActionFailed,
    ActionTestClient,
    assert_client_effect,
    assert_error_event,
    assert_hidden_context,
    assert_notice,
    assert_widget_added,
    assert_widget_updated,
    component,
    make_widget_item,
)
from chatkit_handlers.types import ThreadUpdatedEvent, WidgetItem
from examples.cart.app import DEMO_ITEM, DEMO_THREAD, app, router
from examples.cart.handlers import User
from examples.cart.widgets import approval_card, cart_card, order_card

pytestmark = pytest.mark.anyio

ALICE = User("alice")
BOSS = User("boss", role="manager")


@pytest.fixture
def action_router() -> ActionRouter:
    # The app's router: the handlers module's `orders` sub-router can be included only once.
    return router


@pytest.fixture
def action_context() -> User:
    return ALICE


@pytest.fixture
def cart() -> WidgetItem:
    return make_widget_item(cart_card({}), id="wid_cart")


async def test_add_and_remove_update_the_cart_and_keep_it_in_the_thread(
    action_client: ActionTestClient, cart: WidgetItem
) -> None:
    response = await action_client.sync("cart.add", {"sku": "tea", "qty": 2}, sender=cart)
    assert_widget_updated(response, cart_card({"tea": 2}))
    await action_client.sync("cart.add", {"sku": "mug"}, sender=cart)
    response = await action_client.sync("cart.remove", {"sku": "tea"}, sender=cart)
    assert component(response, "total")["value"] == "Total: $12.00"
    assert (await action_client.load_thread()).metadata["cart"] == {"mug": 1}
    assert await action_client.widget(cart) == cart_card({"mug": 1})


async def test_add_validates_the_payload(action_client: ActionTestClient, cart: WidgetItem) -> None:
    with pytest.raises(ActionFailed) as refused:
        await action_client.sync("cart.add", {"sku": "tea", "qty": 0}, sender=cart)
    assert (refused.value.status_code, refused.value.code) == (422, "payload.invalid")
    assert refused.value.message.endswith("Expected `int` >= 1 - at `$.qty`")

    with pytest.raises(ActionFailed) as unknown:
        await action_client.sync("cart.add", {"sku": "sofa"}, sender=cart)
    assert (unknown.value.status_code, unknown.value.code) == (400, "custom")
    assert unknown.value.message == "We do not sell 'sofa'."


async def test_small_order_is_placed_at_once(action_client: ActionTestClient, cart: WidgetItem) -> None:
    await action_client.sync("cart.add", {"sku": "mug", "qty": 2}, sender=cart)
    events = await action_client.stream("cart.checkout", sender=cart)

    placed = assert_client_effect(events, "order_placed")
    order_id = placed.data["order_id"]
    assert placed.data == {"order_id": order_id, "total": 2400}
    assert_widget_updated(events, order_card(order_id, {"mug": 2}, "placed"), item=cart)
    assert any(isinstance(e, ThreadUpdatedEvent) for e in events)  # the cart moved into an order
    assert_hidden_context(await action_client.items(), f"alice placed order {order_id} ($24.00)")
    thread = await action_client.load_thread()
    assert thread.metadata["cart"] == {}
    assert thread.metadata["orders"][order_id]["status"] == "placed"


async def test_guests_cannot_check_out(cart: WidgetItem) -> None:
    guest = ActionTestClient(router, context=User("guest"))
    await guest.sync("cart.add", {"sku": "tea"}, sender=cart)
    events = await guest.stream("cart.checkout", sender=cart)
    error = assert_error_event(events, "custom")
    assert error.message == "action 'cart.checkout' was refused by guard signed_in"


async def test_empty_cart_cannot_be_checked_out(action_client: ActionTestClient, cart: WidgetItem) -> None:
    events = await action_client.stream("cart.checkout", sender=cart)
    assert_error_event(events, "custom", message="Your cart is empty.", allow_retry=False)
    assert await action_client.hidden_context() == []


async def test_large_order_waits_for_a_manager(action_client: ActionTestClient, cart: WidgetItem) -> None:
    await action_client.sync("cart.add", {"sku": "kettle", "qty": 3}, sender=cart)
    events = await action_client.stream("cart.checkout", sender=cart)
    orders = (await action_client.load_thread()).metadata["orders"]
    (order_id,) = orders
    assert_widget_updated(events, order_card(order_id, {"kettle": 3}, "awaiting approval"), item=cart)
    approval = assert_widget_added(events, approval_card(order_id, 14700))
    assert_notice(events, "Orders over $100.00 need a manager's approval.", level="info")
    assert await action_client.widget(approval) == approval_card(order_id, 14700)

    # The customer cannot approve their own order: the orders router's guard refuses.
    events = await action_client.stream("order.approve", {"order_id": order_id}, sender=approval)
    assert_error_event(events, "custom")
    assert await action_client.widget(approval) == approval_card(order_id, 14700)  # nothing persisted

    # A manager can: same store, another signed-in user.
    manager = ActionTestClient(action_client.dispatcher, context=BOSS)
    events = await manager.stream("order.approve", {"order_id": order_id}, sender=approval)
    assert_widget_updated(events, approval_card(order_id, 14700, "approved by boss"), item=approval)
    assert_client_effect(events, "order_placed", {"order_id": order_id})
    assert component(await action_client.widget(cart), "status")["label"] == "approved"
    assert_hidden_context(await action_client.items(), f"boss approved order {order_id}")

    events = await manager.stream("order.reject", {"order_id": order_id}, sender=approval)
    assert_error_event(events, "custom", message=f"Order {order_id} is already approved.")


async def test_through_the_app_with_headers_as_the_signed_in_user() -> None:
    async with ActionTestClient(app, thread_id=DEMO_THREAD, headers={"x-user": "carol"}) as client:
        await client.sync("cart.add", {"sku": "kettle", "qty": 3}, sender=DEMO_ITEM)
        events = await client.stream("cart.checkout", sender=DEMO_ITEM)
        approval = assert_widget_added(events)
        (order_id,) = (await client.load_thread()).metadata["orders"]

        as_manager = {"x-user": "dave", "x-role": "manager"}
        events = await client.stream(
            "order.reject", {"order_id": order_id}, sender=approval, headers=as_manager
        )
        assert_widget_updated(events, approval_card(order_id, 14700, "rejected by dave"), item=approval)
        assert await client.hidden_context() == [
            f"carol checked out order {order_id} ($147.00); awaiting approval",
            f"dave rejected order {order_id}",
        ]
