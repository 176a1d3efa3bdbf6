"""The counter's widget, as plain ChatKit widget JSON."""

from __future__ import annotations

from typing import Any


def counter_card(n: int) -> dict[str, Any]:
    """A Card showing ``n`` with +1, +5 and reset buttons.

    The count is the first child's ``value``, which is what the handlers read back.
    """
    return {
        "type": "Card",
        "children": [
            {"type": "Text", "id": "count", "value": str(n)},
            {
                "type": "Row",
                "children": [
                    {
                        "type": "Button",
                        "label": "+1",
                        "onClickAction": {
                            "type": "counter.increment",
                            "payload": {"by": 1},
                            "streaming": False,
                        },
                    },
                    {
                        "type": "Button",
                        "label": "+5",
                        "onClickAction": {
                            "type": "counter.increment",
                            "payload": {"by": 5},
                            "streaming": False,
                        },
                    },
                    {"type": "Button", "label": "Reset", "onClickAction": {"type": "counter.reset"}},
                ],
            },
        ],
    }
