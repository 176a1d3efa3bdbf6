"""The counter's action handlers: one sync, one streaming."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from chatkit_handlers import ActionContext, ActionError, on_action
from chatkit_handlers.types import ThreadStreamEvent

from .widgets import counter_card


class Increment(msgspec.Struct, forbid_unknown_fields=True):
    """The payload of ``counter.increment``."""

    by: int = 1


@on_action("counter.increment", streaming=False)
async def increment(payload: Increment, ctx: ActionContext) -> dict[str, Any]:
    """Add ``payload.by`` to the count shown by the sender widget."""
    if ctx.sender is None:
        raise ActionError("counter.increment must be sent from the counter widget")
    card = ctx.sender.widget
    n = int(card["children"][0]["value"]) + payload.by
    return counter_card(n)


@on_action("counter.reset")
async def reset(ctx: ActionContext) -> AsyncIterator[ThreadStreamEvent]:
    """Set the counter back to zero, and tell the model it happened."""
    yield ctx.progress("Resetting…")
    yield ctx.update_widget(counter_card(0))
    yield ctx.hidden_context("user reset the counter")
