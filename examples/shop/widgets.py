"""The cart widget, as plain ChatKit widget JSON."""

from __future__ import annotations

from typing import Any


def cart_card(lines: dict[str, int]) -> dict[str, Any]:
    """A Card listing ``lines`` (sku -> quantity), each with a remove button."""
    rows: list[dict[str, Any]] = [
        {
            "type": "Row",
            "key": sku,
            "children": [
                {"type": "Text", "id": f"line-{sku}", "value": f"{sku} × {qty}"},
                {
                    "type": "Button",
                    "label": "Remove",
                    "onClickAction": {"type": f"cart.item.{sku}.remove", "streaming": False},
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
            {"type": "Button", "label": "Clear", "onClickAction": {"type": "cart.clear"}},
        ],
    }
