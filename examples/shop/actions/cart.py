"""``cart.*``: the cart lives in the thread's metadata, which the dispatcher persists."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec

from chatkit_handlers import ActionContext, ActionRouter
from chatkit_handlers.types import ThreadStreamEvent

from ..domain import Inventory
from ..widgets import cart_card

router = ActionRouter(prefix="cart.")


class AddItem(msgspec.Struct, forbid_unknown_fields=True):
    """What the "Add to cart" button sends."""

    sku: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9-]+$")]
    qty: Annotated[int, msgspec.Meta(ge=1, le=10)] = 1


def _lines(ctx: ActionContext[Any]) -> dict[str, int]:
    lines: dict[str, int] = ctx.thread.metadata.setdefault("cart", {})
    return lines


@router.on_action("add", streaming=False)
async def add(payload: AddItem, ctx: ActionContext[Any], stock: Inventory) -> dict[str, Any]:
    """Reserve the item and show the updated cart."""
    stock.take(payload.sku, payload.qty)  # OutOfStock is answered by the app's error handler
    lines = _lines(ctx)
    lines[payload.sku] = lines.get(payload.sku, 0) + payload.qty
    return cart_card(lines)


@router.on_action(re.compile(r"item\.(?P<sku>[a-z0-9-]+)\.remove"), streaming=False)
async def remove(sku: str, ctx: ActionContext[Any], stock: Inventory) -> dict[str, Any]:
    """Put one line back on the shelf (the sku comes from the action type)."""
    lines = _lines(ctx)
    stock.give_back(sku, lines.pop(sku, 0))
    return cart_card(lines)


@router.on_action("clear")
async def clear(ctx: ActionContext[Any], stock: Inventory) -> AsyncIterator[ThreadStreamEvent]:
    """Empty the cart, streaming progress."""
    yield ctx.progress("Emptying your cart…")
    for sku, qty in _lines(ctx).items():
        stock.give_back(sku, qty)
    ctx.thread.metadata["cart"] = {}
    yield ctx.update_widget(cart_card({}))
