"""The shop's widgets, as plain ChatKit widget JSON.

Each button's ActionConfig is built from its handler (``action_config``): its type,
``streaming`` flag and payload are the handler's own, checked when the widget is drawn.
"""

from __future__ import annotations

from typing import Any

from chatkit_handlers import action_config

CATALOG: dict[str, tuple[str, int]] = {
    "tea": ("Green tea, 100 g", 450),
    "mug": ("Stoneware mug", 1200),
    "kettle": ("Gooseneck kettle", 4900),
}
"""sku -> (name, unit price in cents)."""


def money(cents: int) -> str:
    """``1250`` -> ``"$12.50"``."""
    return f"${cents // 100}.{cents % 100:02d}"


def total_of(cart: dict[str, int]) -> int:
    """The cart's total in cents."""
    return sum(CATALOG[sku][1] * qty for sku, qty in cart.items())


def cart_card(cart: dict[str, int]) -> dict[str, Any]:
    """The catalog with Add buttons, the cart's lines with Remove buttons, and Checkout."""
    from . import handlers  # (they draw these cards too: imported when one is first drawn)

    products = [
        {
            "type": "Row",
            "children": [
                {"type": "Text", "value": f"{name} · {money(price)}"},
                {"type": "Spacer"},
                {
                    "type": "Button",
                    "label": "Add",
                    "onClickAction": action_config(handlers.add, handlers.AddItem(sku=sku)),
                },
            ],
        }
        for sku, (name, price) in CATALOG.items()
    ]
    lines = [
        {
            "type": "Row",
            "id": f"line-{sku}",
            "children": [
                {"type": "Text", "value": f"{qty} × {CATALOG[sku][0]}"},
                {"type": "Spacer"},
                {
                    "type": "Button",
                    "label": "Remove",
                    "variant": "outline",
                    "onClickAction": action_config(handlers.remove, handlers.RemoveItem(sku=sku)),
                },
            ],
        }
        for sku, qty in cart.items()
    ]
    return {
        "type": "Card",
        "children": [
            {"type": "Title", "value": "Shop"},
            *products,
            {"type": "Divider"},
            *(lines or [{"type": "Caption", "value": "Your cart is empty."}]),
            {"type": "Text", "id": "total", "value": f"Total: {money(total_of(cart))}", "weight": "semibold"},
            {"type": "Button", "label": "Check out", "onClickAction": action_config(handlers.checkout)},
        ],
    }


def order_card(order_id: str, cart: dict[str, int], status: str) -> dict[str, Any]:
    """A placed order and its status (``"placed"``, ``"awaiting approval"``, ...)."""
    return {
        "type": "Card",
        "children": [
            {"type": "Title", "value": f"Order {order_id}"},
            *({"type": "Text", "value": f"{qty} × {CATALOG[sku][0]}"} for sku, qty in cart.items()),
            {"type": "Text", "value": f"Total: {money(total_of(cart))}", "weight": "semibold"},
            {"type": "Badge", "id": "status", "label": status},
        ],
    }


def approval_card(order_id: str, total: int, status: str | None = None) -> dict[str, Any]:
    """What a manager sees: Approve / Reject, or the decision once taken."""
    from . import handlers

    ref = handlers.OrderRef(order_id=order_id)
    decision: list[dict[str, Any]] = (
        [{"type": "Badge", "id": "decision", "label": status}]
        if status is not None
        else [
            {
                "type": "Row",
                "children": [
                    {
                        "type": "Button",
                        "label": "Approve",
                        "onClickAction": action_config(handlers.approve, ref),
                    },
                    {
                        "type": "Button",
                        "label": "Reject",
                        "variant": "outline",
                        "onClickAction": action_config(handlers.reject, ref),
                    },
                ],
            }
        ]
    )
    return {
        "type": "Card",
        "children": [
            {"type": "Title", "value": "Approval needed"},
            {"type": "Text", "value": f"Order {order_id} totals {money(total)}."},
            *decision,
        ],
    }
