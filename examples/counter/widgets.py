"""The counter's widget, as plain ChatKit widget JSON."""

from __future__ import annotations

from typing import Any

from chatkit_handlers import action_config


def counter_card(n: int) -> dict[str, Any]:
    """A Card showing ``n`` with +1, +5 and reset buttons.

    The count is the first child's ``value``, which is what the handlers read back.
    Each button's ActionConfig is built from its handler (``action_config``): its
    type, ``streaming`` flag and payload are the handler's own, checked now.
    """
    from . import handlers  # (they draw this card too: imported when it is first drawn)

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
                        "onClickAction": action_config(handlers.increment, handlers.Increment(by=1)),
                    },
                    {
                        "type": "Button",
                        "label": "+5",
                        "onClickAction": action_config(handlers.increment, handlers.Increment(by=5)),
                    },
                    {"type": "Button", "label": "Reset", "onClickAction": action_config(handlers.reset)},
                ],
            },
        ],
    }
