"""The counter's action handlers: one sync, one streaming."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from chatkit_handlers import ActionContext, on_action
from chatkit_handlers.types import ThreadStreamEvent, WidgetItem

from .widgets import counter_card


class Increment(msgspec.Struct, forbid_unknown_fields=True):
    """The payload of ``counter.increment``."""

    by: int = 1


@on_action("counter.increment", streaming=False)
async def increment(payload: Increment, sender: WidgetItem) -> dict[str, Any]:
    """Add ``payload.by`` to the count shown by the sender widget.

    Asking for the sender by annotation makes it required: a request without
    the widget that sent it is answered ``400 item.required`` before this runs.
    """
    n = int(sender.widget["children"][0]["value"]) + payload.by
    return counter_card(n)


@on_action("counter.reset")
async def reset(ctx: ActionContext) -> AsyncIterator[ThreadStreamEvent]:
    """Set the counter back to zero, and tell the model it happened."""
    yield ctx.progress("Resetting…")
    yield ctx.update_widget(counter_card(0))
    yield ctx.hidden_context("user reset the counter")
