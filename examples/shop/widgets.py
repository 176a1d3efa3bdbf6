"""The cart widget, as plain ChatKit widget JSON."""

from __future__ import annotations

from typing import Any

from chatkit_handlers import action_config


def cart_card(lines: dict[str, int]) -> dict[str, Any]:
    """A Card listing ``lines`` (sku -> quantity), each with a remove button.

    The buttons' ActionConfigs come from their handlers (``action_config``); the remove
    handler answers a pattern, so each button names its concrete type.
    """
    from .actions import cart  # (its handlers draw this card too: imported when it is first drawn)

    rows: list[dict[str, Any]] = [
        {
            "type": "Row",
            "key": sku,
            "children": [
                {"type": "Text", "id": f"line-{sku}", "value": f"{sku} × {qty}"},
                {
                    "type": "Button",
                    "label": "Remove",
                    "onClickAction": action_config(cart.remove, type=f"cart.item.{sku}.remove"),
                },
            ],
        }
        for sku, qty in sorted(lines.items())
    ]
    return {
        "type": "Card",
        "children": [
            {"type": "Title", "value": "Cart" if lines else "Your cart is empty"},
            *rows,
            {"type": "Button", "label": "Clear", "onClickAction": action_config(cart.clear)},
        ],
    }
