"""The app the end-to-end store tests run in uvicorn processes.

The counter example's handlers plus a slow stream and a streaming +1, over the store the
environment names: ``STORE=sqlite`` (``SQLITE_PATH``) or ``STORE=postgres``
(``POSTGRES_DSN``, ``POSTGRES_SCHEMA``). ``MARKER_DIR`` is where the slow
stream notes that it was cancelled (and the stream the user may not stop
waits for its go-ahead, then notes that it finished).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from litestar import Litestar, get

from chatkit_handlers import ActionContext, ActionRouter
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import SQLiteStore, Store
from chatkit_handlers.types import ThreadStreamEvent, WidgetItem
from examples.counter import handlers
from examples.counter.app import seed
from examples.counter.widgets import counter_card

router = ActionRouter()
router.include(handlers)


def _note_cancelled() -> None:
    Path(os.environ["MARKER_DIR"], "cancelled").write_text("cancelled")


@router.on_action("test.slow_stream")
async def slow_stream(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
    """Updates the widget and adds a message, then waits until the client goes away."""
    yield ctx.update_widget(counter_card(999))
    yield ctx.message("this message must not be stored if the client disconnects")
    try:
        await anyio.sleep(60)
    except anyio.get_cancelled_exc_class():
        _note_cancelled()
        raise
    yield ctx.progress("never reached in the tests")


@router.on_action("test.uncancellable_stream", allow_cancel=False)
async def uncancellable_stream(ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
    """Like the slow stream, but the user may not stop it: it waits for the test's go-ahead and finishes."""
    yield ctx.update_widget(counter_card(777))
    yield ctx.message("stored even though the client left")
    go_ahead = anyio.Path(os.environ["MARKER_DIR"], "disconnected")
    with anyio.fail_after(30):  # bounded: the test writes the marker once it has disconnected
        while not await go_ahead.exists():  # noqa: ASYNC110  (a file another process writes: no Event)
            await anyio.sleep(0.02)
    yield ctx.progress("sent to nobody")
    await anyio.Path(os.environ["MARKER_DIR"], "finished").write_text("finished")


@router.on_action("test.once_slow", streaming=False, once=True)
async def once_slow(sender: WidgetItem) -> dict[str, Any]:
    """Adds 100 to the counter, once per widget, slowly: two processes' clicks overlap in it."""
    await anyio.sleep(0.5)
    return counter_card(int(sender.widget["children"][0]["value"]) + 100)


@router.on_action("test.stream_increment")
async def stream_increment(sender: WidgetItem, ctx: ActionContext[Any]) -> AsyncIterator[ThreadStreamEvent]:
    """The counter's +1 as a stream: the widget update is written once the stream has finished."""
    yield ctx.update_widget(counter_card(int(sender.widget["children"][0]["value"]) + 1))


def _store() -> Store:
    if os.environ["STORE"] == "postgres":
        from chatkit_handlers.stores import PostgresStore

        return PostgresStore(os.environ["POSTGRES_DSN"], schema=os.environ["POSTGRES_SCHEMA"], max_size=20)
    return SQLiteStore(os.environ["SQLITE_PATH"], lease=float(os.environ.get("SQLITE_LEASE", "30")))


store = _store()


@get("/health")
async def health() -> str:
    return "ok"


async def _seed() -> None:
    await seed(store)


app = Litestar(
    route_handlers=[health],
    plugins=[ChatKitPlugin(router, store=store, lock_timeout=float(os.environ.get("LOCK_TIMEOUT", "30")))],
    on_startup=[_seed],
    on_shutdown=[store.close],
)
