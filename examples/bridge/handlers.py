"""The poll's actions: the same handlers serve the Litestar endpoint and ChatKitServer.process()."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

import msgspec

from chatkit_handlers import ActionContext, on_action
from chatkit_handlers.types import WidgetItem

from .widgets import poll_card, read_poll, summary_cards


class Vote(msgspec.Struct, forbid_unknown_fields=True):
    """The payload of ``poll.vote``."""

    choice: Literal["yes", "no"]


@on_action("poll.vote", streaming=False)
async def vote(payload: Vote, sender: WidgetItem) -> Any:
    """Count one vote; the new card (a chatkit widget) is sent back and saved."""
    question, yes, no = read_poll(sender.widget)
    if payload.choice == "yes":
        yes += 1
    else:
        no += 1
    return poll_card(question, yes, no)


@on_action("poll.close")
async def close(ctx: ActionContext, sender: WidgetItem) -> AsyncIterator[Any]:
    """Close the poll, stream a summary, rename the thread, tell the model the result."""
    question, yes, no = read_poll(sender.widget)
    yield ctx.progress("Counting the votes…")
    yield ctx.update_widget(poll_card(question, yes, no, closed=True))
    async for event in ctx.stream_widget(summary_cards(yes, no)):
        yield event
    ctx.thread.title = f"Poll: {question}"
    yield ctx.hidden_context(f"The poll {question!r} closed with {yes} yes and {no} no.")
