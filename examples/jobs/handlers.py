"""A long-running job with progress updates and two ways to stop it.

``jobs.start`` streams: per batch a ``progress_update``, the progress line
(``widget.component.updated``) and a log line (``widget.streaming_text.value_delta``).

- **Cancel button** (``jobs.cancel``, sync): records the run as cancelled in
  the thread's metadata, in the store. The running stream checks the store
  between batches, so this works whichever worker runs the stream.
- **Stopping the stream** (ChatKit's stop button: the client hangs up): the
  handler is cancelled and nothing it yielded is saved, as for any stream.
  The handler's ``finally`` writes the "stopped" state to the store itself.
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
    ThreadMetadata,
    ThreadStreamEvent,
    WidgetItem,
    WidgetStreamingTextValueDelta,
    new_id,
)

from .widgets import job_card, progress_text

STEP_SECONDS = 0.5
"""How long one batch takes (simulated work; tests set it to 0)."""


class Start(msgspec.Struct, forbid_unknown_fields=True):
    """Payload of ``jobs.start``."""

    batches: Annotated[int, msgspec.Meta(ge=1, le=50)] = 5


class Cancel(msgspec.Struct, forbid_unknown_fields=True):
    """Payload of ``jobs.cancel``: the run to cancel."""

    run_id: str


@on_action("jobs.start")
async def start(payload: Start, ctx: ActionContext, sender: WidgetItem) -> AsyncIterator[ThreadStreamEvent]:
    """Run the import batch by batch, reporting progress, until done or cancelled."""
    run_id, total, done, log = new_id("run"), payload.batches, 0, ""
    yield ctx.update_widget(job_card("running", 0, total, run_id=run_id))
    finished = False
    try:
        for batch in range(1, total + 1):
            if await cancel_requested(ctx, run_id):
                finished = True
                yield ctx.update_widget(job_card("cancelled", done, total, log=log))
                yield ctx.hidden_context(f"the user cancelled the import after {done} of {total} batches")
                return
            yield ctx.progress(f"Importing batch {batch} of {total}…")
            await anyio.sleep(STEP_SECONDS)  # the real work goes here
            done, line = batch, f"batch {batch} imported\n"
            log += line
            yield ctx.update_component("progress", progress_text(done, total))
            delta = WidgetStreamingTextValueDelta(component_id="log", delta=line, done=batch == total)
            yield ThreadItemUpdatedEvent(item_id=sender.id, update=delta)
        finished = True
        yield ctx.update_widget(job_card("done", done, total, log=log))
        yield ctx.client_effect("job_finished", {"run_id": run_id, "batches": total})
        yield ctx.hidden_context(f"the import of {total} batches finished")
    finally:
        if not finished:
            # Hung up (or failed) mid-run: the stream's events are not saved, so say so directly.
            with anyio.CancelScope(shield=True):
                await record_stop(ctx, sender, done, total, log)


@on_action("jobs.cancel", streaming=False)
async def cancel(payload: Cancel, thread: ThreadMetadata) -> None:
    """Ask the run to stop at its next batch (the thread is saved: the run sees it)."""
    runs: list[str] = thread.metadata.setdefault("cancelled_runs", [])
    if payload.run_id not in runs:
        runs.append(payload.run_id)


async def cancel_requested(ctx: ActionContext, run_id: str) -> bool:
    """Whether ``jobs.cancel`` was sent for ``run_id`` (read from the store, not this stream's copy)."""
    assert ctx.store is not None
    stored = await ctx.store.load_thread(ctx.thread.id, context=ctx.context)
    return run_id in stored.metadata.get("cancelled_runs", [])


async def record_stop(ctx: ActionContext, sender: WidgetItem, done: int, total: int, log: str) -> None:
    """Save the job as stopped, and tell the model, straight to the store."""
    assert ctx.store is not None
    stopped = msgspec.structs.replace(sender, widget=job_card("stopped", done, total, log=log))
    await ctx.store.save_item(ctx.thread.id, stopped, context=ctx.context)
    note = f"the user stopped the import after {done} of {total} batches"
    item = HiddenContextItem(id=new_id("hcx"), thread_id=ctx.thread.id, content=note)
    await ctx.store.add_thread_item(ctx.thread.id, item, context=ctx.context)
