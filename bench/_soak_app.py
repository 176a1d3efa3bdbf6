"""The app ``bench.soak`` runs in uvicorn worker processes: counters under mixed, hostile traffic.

The store is the one the environment names: ``SOAK_STORE=memory``, ``sqlite``
(``SOAK_SQLITE``) or ``postgres`` (``SOAK_POSTGRES_DSN``, ``SOAK_POSTGRES_SCHEMA``).
``SOAK_WIDGETS`` threads each hold one counter widget (``thr_<n>``/``wid``), seeded
by the bench before the workers start (a ``MemoryStore``, which lives in its one
worker, seeds itself on startup). Every action on a counter that succeeds adds
one, so the stored value must equal the number of successes the clients saw.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import anyio
import msgspec
from litestar import Litestar

from chatkit_handlers import ActionContext, ActionRouter, on_action
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore, SQLiteStore, Store
from chatkit_handlers.types import ThreadMetadata, ThreadStreamEvent, WidgetItem

WIDGETS = int(os.environ.get("SOAK_WIDGETS", "8"))


def counter(value: int) -> dict[str, Any]:
    return {"type": "Card", "children": [{"type": "Text", "id": "count", "value": str(value)}]}


def value_of(sender: WidgetItem) -> int:
    return int(sender.widget["children"][0]["value"])


class Pause(msgspec.Struct):
    ms: int = 0


@on_action("soak.add", streaming=False)
async def add(sender: WidgetItem, payload: Pause) -> dict[str, Any]:
    """+1, after an optional pause (so that clicks on one widget overlap)."""
    if payload.ms:
        await anyio.sleep(payload.ms / 1000)
    return counter(value_of(sender) + 1)


@on_action("soak.read", streaming=False)
async def read(sender: WidgetItem) -> WidgetItem:
    """The stored counter, as ``updated_item`` (unchanged)."""
    return sender


@on_action("soak.fail", streaming=False)
async def fail(sender: WidgetItem) -> dict[str, Any]:
    """A handler's own bug, after computing an update that must not be saved."""
    counter(value_of(sender) + 1000)
    raise RuntimeError("soak: a failing handler")


@on_action("soak.stream_add")
async def stream_add(ctx: ActionContext[Any], sender: WidgetItem) -> AsyncIterator[ThreadStreamEvent]:
    """+1 at the end of a short stream."""
    yield ctx.progress("adding")
    await anyio.sleep(0.005)
    yield ctx.update_widget(counter(value_of(sender) + 1))


@on_action("soak.stream_fail")
async def stream_fail(ctx: ActionContext[Any], sender: WidgetItem) -> AsyncIterator[ThreadStreamEvent]:
    """Updates the widget, then fails: the update must not be saved."""
    yield ctx.update_widget(counter(value_of(sender) + 1000))
    raise RuntimeError("soak: a failing stream")


@on_action("soak.stream_slow")
async def stream_slow(ctx: ActionContext[Any], sender: WidgetItem) -> AsyncIterator[ThreadStreamEvent]:
    """Updates the widget, then takes long: the client disconnects first, so nothing is saved."""
    yield ctx.update_widget(counter(value_of(sender) + 1000))
    await anyio.sleep(5)
    yield ctx.progress("never reached: the client has gone")


router = ActionRouter()
router.add(add)
router.add(read)
router.add(fail)
router.add(stream_add)
router.add(stream_fail)
router.add(stream_slow)


def _store() -> Store:
    kind = os.environ.get("SOAK_STORE", "memory")
    if kind == "sqlite":
        return SQLiteStore(os.environ["SOAK_SQLITE"])
    if kind == "postgres":
        from chatkit_handlers.stores import PostgresStore

        return PostgresStore(
            os.environ["SOAK_POSTGRES_DSN"], schema=os.environ["SOAK_POSTGRES_SCHEMA"], max_size=30
        )
    return MemoryStore()


store = _store()


async def seed(into: Store) -> None:
    """The counters, at zero."""
    for n in range(WIDGETS):
        thread_id = f"thr_{n}"
        await into.save_thread(ThreadMetadata(id=thread_id), context=None)
        await into.add_thread_item(
            thread_id, WidgetItem(id="wid", thread_id=thread_id, widget=counter(0)), context=None
        )


async def _seed_memory() -> None:
    if isinstance(store, MemoryStore):
        await seed(store)


app = Litestar(
    plugins=[
        ChatKitPlugin(router, store=store, lock_timeout=float(os.environ.get("SOAK_LOCK_TIMEOUT", "10")))
    ],
    on_startup=[_seed_memory],
    on_shutdown=[store.close],
)
