"""A shopping cart with order approval.

- ``cart.add`` / ``cart.remove`` (sync): change the cart, kept in the thread's
  metadata (server-side: chatkit never sends thread metadata to the client);
- ``cart.checkout`` (streaming): turns the cart into an order; orders over
  ``APPROVAL_LIMIT`` wait for a manager, with an approval widget added to the thread;
- ``order.approve`` / ``order.reject`` (streaming): a manager's decision, which
  also updates the customer's order widget.

Who may do what is declared with guards, checked before a handler runs: the
``orders`` router lets managers only, and checking out needs a signed-in user
(the request context). A refused action never reaches its handler.

Each step records hidden context, so the model knows what the user did.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import msgspec

from chatkit_handlers import ActionContext, ActionError, ActionRouter, on_action
from chatkit_handlers.types import ThreadMetadata, ThreadStreamEvent, WidgetItem, new_id

from .widgets import CATALOG, approval_card, cart_card, money, order_card, total_of

APPROVAL_LIMIT = 100_00
"""Orders above this total (in cents) need a manager's approval."""


class User(msgspec.Struct, frozen=True):
    """The signed-in user: the request context the app derives."""

    id: str
    role: Literal["customer", "manager"] = "customer"


def signed_in(user: User) -> bool:
    """Guard: refuse the anonymous ``guest``."""
    return user.id != "guest"


def managers_only(user: User) -> bool:
    """Guard: only managers decide on orders."""
    return user.role == "manager"


orders = ActionRouter(prefix="order.", guards=[managers_only])
"""``order.*``: the manager's actions."""


class AddItem(msgspec.Struct, forbid_unknown_fields=True):
    """Payload of ``cart.add``."""

    sku: str
    qty: Annotated[int, msgspec.Meta(ge=1, le=20)] = 1


class RemoveItem(msgspec.Struct, forbid_unknown_fields=True):
    """Payload of ``cart.remove``."""

    sku: str


class OrderRef(msgspec.Struct, forbid_unknown_fields=True):
    """Payload of ``order.approve`` and ``order.reject``."""

    order_id: str


def cart_of(thread: ThreadMetadata) -> dict[str, int]:
    """The cart kept in the thread's metadata (a live dict: changes are saved)."""
    cart: dict[str, int] = thread.metadata.setdefault("cart", {})
    return cart


@on_action("cart.add", streaming=False)
async def add(payload: AddItem, thread: ThreadMetadata) -> dict[str, Any]:
    """Put ``qty`` of ``sku`` in the cart; answer the updated cart widget."""
    if payload.sku not in CATALOG:
        raise ActionError(f"We do not sell {payload.sku!r}.")
    cart = cart_of(thread)
    cart[payload.sku] = min(cart.get(payload.sku, 0) + payload.qty, 20)
    return cart_card(cart)


@on_action("cart.remove", streaming=False)
async def remove(payload: RemoveItem, thread: ThreadMetadata) -> dict[str, Any]:
    """Take ``sku`` out of the cart."""
    cart = cart_of(thread)
    cart.pop(payload.sku, None)
    return cart_card(cart)


@on_action("cart.checkout", guards=[signed_in])
async def checkout(
    ctx: ActionContext[User], sender: WidgetItem, user: User
) -> AsyncIterator[ThreadStreamEvent]:
    """Place the order, or ask a manager to approve it."""
    cart = dict(cart_of(ctx.thread))
    if not cart:
        raise ActionError("Your cart is empty.")
    yield ctx.progress("Checking stock…")
    order_id, total = new_id("ord"), total_of(cart)
    needs_approval = total > APPROVAL_LIMIT
    status = "awaiting approval" if needs_approval else "placed"
    ctx.thread.metadata["cart"] = {}
    ctx.thread.metadata.setdefault("orders", {})[order_id] = {
        "cart": cart,
        "total": total,
        "status": status,
        "customer": user.id,
        "card": sender.id,
    }
    yield ctx.update_widget(order_card(order_id, cart, status))
    if needs_approval:
        yield ctx.add_widget(approval_card(order_id, total))
        yield ctx.notice(f"Orders over {money(APPROVAL_LIMIT)} need a manager's approval.", title="Approval")
        yield ctx.hidden_context(
            f"{user.id} checked out order {order_id} ({money(total)}); awaiting approval"
        )
    else:
        yield ctx.client_effect("order_placed", {"order_id": order_id, "total": total})
        yield ctx.hidden_context(f"{user.id} placed order {order_id} ({money(total)})")


@orders.on_action("approve")
async def approve(
    payload: OrderRef, ctx: ActionContext[User], user: User
) -> AsyncIterator[ThreadStreamEvent]:
    """A manager approves a waiting order: it is placed."""
    async for event in _decide(ctx, user, payload.order_id, "approved"):
        yield event
    yield ctx.client_effect("order_placed", {"order_id": payload.order_id})


@orders.on_action("reject")
async def reject(payload: OrderRef, ctx: ActionContext[User], user: User) -> AsyncIterator[ThreadStreamEvent]:
    """A manager rejects a waiting order."""
    async for event in _decide(ctx, user, payload.order_id, "rejected"):
        yield event


async def _decide(
    ctx: ActionContext[User], user: User, order_id: str, decision: str
) -> AsyncIterator[ThreadStreamEvent]:
    order: dict[str, Any] | None = ctx.thread.metadata.get("orders", {}).get(order_id)
    if order is None:
        raise ActionError(f"There is no order {order_id}.")
    if order["status"] != "awaiting approval":
        raise ActionError(f"Order {order_id} is already {order['status']}.")
    order["status"] = decision
    order["decided_by"] = user.id
    yield ctx.update_widget(approval_card(order_id, order["total"], f"{decision} by {user.id}"))
    badge = {"type": "Badge", "id": "status", "label": decision}
    yield ctx.update_component("status", badge, item_id=order["card"])
    yield ctx.hidden_context(f"{user.id} {decision} order {order_id}")
