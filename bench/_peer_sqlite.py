"""The peer over SQLite: openai-chatkit's ``ChatKitServer`` with the counter, on a SQLite store.

What a careful chatkit user writes for the counter when clicks must persist:
a ``chatkit.store.Store`` over the standard library's ``sqlite3`` (WAL,
``synchronous=NORMAL``, threads and items as JSON text, as ``SQLiteStore`` keeps
them), each method one trip to a worker thread so that the event loop never
waits on the disk (what ``SQLiteStore`` did before it ran its short statements
on the loop), models validated from JSON on load; and a server whose
``sync_action`` and ``action`` save the updated widget (chatkit saves neither a
sync action's ``updated_item`` nor a streamed widget update by itself). Its
request ``TypeAdapter`` is built once (the *fair* peer of ``bench._apps``).
There are no locks: concurrent clicks on one widget may lose updates here,
which ``SQLiteStore`` prevents (it pays for its leases).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, TypeVar

import anyio.to_thread
from chatkit import types as ck
from chatkit.widgets import DynamicWidgetRoot
from pydantic import TypeAdapter

from bench._apps import ITEM, THREAD, counter_card
from bench._peer import CounterServer, CounterStore, FairProcess

__all__ = ["peer_sqlite_server"]

T = TypeVar("T")
_items: TypeAdapter[Any] = TypeAdapter(ck.ThreadItem)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS threads (id TEXT PRIMARY KEY, data TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS items (thread_id TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, "
    "PRIMARY KEY (thread_id, id))",
)


class PeerSQLiteStore(CounterStore):
    """One connection, used by one worker thread at a time (a lock), autocommit."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        for statement in _SCHEMA:
            self._conn.execute(statement)
        self._guard = threading.Lock()

    def seed(self, thread: Any, item: Any) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO threads VALUES (?, ?)", (thread.id, thread.model_dump_json())
        )
        self._conn.execute(
            "INSERT OR REPLACE INTO items VALUES (?, ?, ?)", (thread.id, item.id, item.model_dump_json())
        )

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._guard:
                return fn(self._conn)

        return await anyio.to_thread.run_sync(locked)

    async def load_thread(self, thread_id: str, context: Any) -> Any:
        row = await self._run(
            lambda c: c.execute("SELECT data FROM threads WHERE id = ?", (thread_id,)).fetchone()
        )
        return ck.ThreadMetadata.model_validate_json(row[0])

    async def save_thread(self, thread: Any, context: Any) -> None:
        data = thread.model_dump_json()
        await self._run(
            lambda c: c.execute("INSERT OR REPLACE INTO threads VALUES (?, ?)", (thread.id, data))
        )

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> Any:
        sql = "SELECT data FROM items WHERE thread_id = ? AND id = ?"
        row = await self._run(lambda c: c.execute(sql, (thread_id, item_id)).fetchone())
        return _items.validate_json(row[0])

    async def save_item(self, thread_id: str, item: Any, context: Any) -> None:
        data = item.model_dump_json()
        sql = "INSERT OR REPLACE INTO items VALUES (?, ?, ?)"
        await self._run(lambda c: c.execute(sql, (thread_id, item.id, data)))

    async def add_thread_item(self, thread_id: str, item: Any, context: Any) -> None:
        await self.save_item(thread_id, item, context)

    async def delete_thread_item(self, thread_id: str, item_id: str, context: Any) -> None:
        sql = "DELETE FROM items WHERE thread_id = ? AND id = ?"
        await self._run(lambda c: c.execute(sql, (thread_id, item_id)))


class PeerSQLiteServer(FairProcess, CounterServer):
    """The counter's actions written the chatkit way, each saving the widget it updates."""

    def _counted(self, sender: Any, by: int) -> Any:
        count = int(sender.widget.children[0].value)
        widget = DynamicWidgetRoot.model_validate(counter_card((count + by) % 1000))
        return sender.model_copy(update={"widget": widget})

    async def sync_action(self, thread: Any, action: Any, sender: Any, context: Any) -> Any:
        updated = self._counted(sender, action.payload["by"])
        await self.store.save_item(thread.id, updated, context)
        return ck.SyncCustomActionResponse(updated_item=updated)

    async def action(self, thread: Any, action: Any, sender: Any, context: Any) -> AsyncIterator[Any]:
        updated = self._counted(sender, action.payload["by"])
        await self.store.save_item(thread.id, updated, context)
        yield ck.ThreadItemUpdatedEvent(item_id=sender.id, update=ck.WidgetRootUpdated(widget=updated.widget))


def peer_sqlite_server(path: str) -> PeerSQLiteServer:
    """The server over a store in ``path``, seeded with the counter's thread and widget (``bench._apps``)."""
    store = PeerSQLiteStore(path)
    thread = ck.ThreadMetadata(id=THREAD, created_at=datetime.now())
    widget = DynamicWidgetRoot.model_validate(counter_card(0))
    item = ck.WidgetItem(id=ITEM, thread_id=THREAD, created_at=datetime.now(), widget=widget)
    store.seed(thread, item)
    return PeerSQLiteServer(store)
