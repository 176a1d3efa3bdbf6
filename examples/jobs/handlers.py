"""A long-running job with progress updates, cancellation and resumption.

``jobs.start`` streams an import batch by batch: per batch a ``progress_update``,
the progress line (``widget.component.updated``) and a log line
(``widget.streaming_text.value_delta``); at the end the finished widget, a
client effect and hidden context for the model.

Cancelling is ChatKit's own: every action stream starts with
``allow_cancel: true``, and the stop button closes the stream. The handler is
then cancelled at its current ``await`` or ``yield``, and nothing it yielded is
saved (as for any stream that does not finish). Its ``finally`` block therefore
writes the "stopped" state, with a Resume button, and a note for the model to
the store itself. Everything lives in the store, so this works with several
workers; a stopped job resumes on whichever worker gets the click.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
import msgspec

from chatkit_handlers import ActionContext, on_action
from chatkit_handlers.types import (
    HiddenContextItem,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    WidgetItem,
    WidgetStreamingTextValueDelta,
    new_id,
)

from .widgets import job_card, progress_text

STEP_SECONDS = 0.5
"""How long one batch takes (simulated work; tests set it to 0)."""


class Start(msgspec.Struct, forbid_unknown_fields=True):
    """Payload of ``jobs.start``: how many batches, and where to (re)start."""

    batches: Annotated[int, msgspec.Meta(ge=1, le=50)] = 5
    start_at: Annotated[int, msgspec.Meta(ge=1)] = 1


@on_action("jobs.start")
async def start(payload: Start, ctx: ActionContext, sender: WidgetItem) -> AsyncIterator[ThreadStreamEvent]:
    """Run the import from batch ``start_at``, reporting progress, until done or stopped."""
    total, done = payload.batches, min(payload.start_at - 1, payload.batches)
    log = log_of(sender.widget) if done else ""
    finished = False
    try:
        yield ctx.update_widget(job_card("running", done, total, log=log))
        for batch in range(done + 1, total + 1):
            yield ctx.progress(f"Importing batch {batch} of {total}…")
            await anyio.sleep(STEP_SECONDS)  # the real work goes here
            done, line = batch, f"batch {batch} imported\n"
            log += line
            yield ctx.update_component("progress", progress_text(done, total))
            delta = WidgetStreamingTextValueDelta(component_id="log", delta=line, done=batch == total)
            yield ThreadItemUpdatedEvent(item_id=sender.id, update=delta)
        finished = True
        yield ctx.update_widget(job_card("done", done, total, log=log))
        yield ctx.client_effect("job_finished", {"batches": total})
        yield ctx.hidden_context(f"the import of {total} batches finished")
    finally:
        if not finished:
            # Stopped (or failed) mid-run: the stream's events are not saved, so say so directly.
            with anyio.CancelScope(shield=True):
                await record_stop(ctx, sender, done, total, log)


def log_of(widget: dict[str, object]) -> str:
    """The log a stopped job's widget shows (its ``log`` component)."""
    children = widget.get("children")
    for child in children if isinstance(children, list) else ():
        if isinstance(child, dict) and child.get("id") == "log":
            return str(child.get("value") or "")
    return ""


async def record_stop(ctx: ActionContext, sender: WidgetItem, done: int, total: int, log: str) -> None:
    """Save the job as stopped (with a Resume button), and tell the model, straight to the store."""
    assert ctx.store is not None
    stopped = msgspec.structs.replace(sender, widget=job_card("stopped", done, total, log=log))
    await ctx.store.save_item(ctx.thread.id, stopped, context=ctx.context)
    note = f"the user stopped the import after {done} of {total} batches"
    item = HiddenContextItem(id=new_id("hcx"), thread_id=ctx.thread.id, content=note)
    await ctx.store.add_thread_item(ctx.thread.id, item, context=ctx.context)
