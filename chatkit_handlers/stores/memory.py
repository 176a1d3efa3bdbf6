"""An in-process store for tests, examples and single-process demos."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, Literal, Self, TypeVar

import msgspec

from ..errors import NotFoundError
from ..types import Page, ThreadItem, ThreadMetadata
from ._base import Owner
from ._locks import LocalLocks

__all__ = ["MemoryStore"]

_encode = msgspec.json.Encoder().encode
_decode_thread = msgspec.json.Decoder(ThreadMetadata).decode
_item_decoder: msgspec.json.Decoder[ThreadItem] = msgspec.json.Decoder(ThreadItem)
_decode_item = _item_decoder.decode

_MISSING: Any = object()

# thread id -> (encoded thread, owner, copy of its items, copy of its consumed actions) as they
# were before a transaction wrote
_Journal = dict[str, tuple[Any, Any, Any, Any]]


class MemoryStore(LocalLocks):
    """Keeps threads and items in dicts, encoded as JSON (the wire encoding, as the other stores).

    Storing encoded bytes (not the objects) means a handler that mutates what it
    loaded cannot change the store behind the dispatcher's back, exactly as with
    a database. Data lives as long as the process.

    Locks are per process. A transaction is atomic (a block that raises is
    rolled back) but not isolated: a task reading while another task's
    transaction is suspended in the middle sees its writes so far (the
    dispatcher's transactions never suspend between writes on this store).

    Args:
        owner: derives the owning user's id from the request context. Threads
            are stamped with it when first saved; to another owner they (and
            their items) do not exist. Without it, every context sees every
            thread.

    >>> store = MemoryStore(owner=lambda user: user.id)  # doctest: +SKIP
    """

    loads_thread_and_item = True
    saves_item_json = True
    never_suspends = True  # no method awaits anything: dicts in this process
    records_consumed = True

    @property
    def owner_scoped(self) -> bool:
        """Whether threads belong to owners (``owner=`` given): see ``StoreFeatures``."""
        return self._owner is not None

    def __init__(self, *, owner: Owner | None = None) -> None:
        self._threads: dict[str, bytes] = {}
        self._items: dict[str, dict[str, bytes]] = {}
        self._owners: dict[str, str | None] = {}
        self._consumed: dict[str, set[tuple[str, str]]] = {}  # thread id -> (item id, action)
        self._owner = owner
        LocalLocks.__init__(self)
        self._journal: _Journal | None = None

    async def load_thread(self, thread_id: str, *, context: Any = None) -> ThreadMetadata:
        self._check(thread_id, context)
        return _decode_thread(self._threads[thread_id])

    async def save_thread(self, thread: ThreadMetadata, *, context: Any = None) -> None:
        owner = self._owner(context) if self._owner is not None else None
        if thread.id in self._threads:
            self._check(thread.id, context)
        encoded = _encode(thread)
        self._remember(thread.id)
        self._threads[thread.id] = encoded
        self._owners.setdefault(thread.id, owner)
        self._items.setdefault(thread.id, {})

    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: Literal["asc", "desc"],
        *,
        context: Any = None,
    ) -> Page:
        items = self._thread_items(thread_id, context)
        ids = list(items)
        if order == "desc":
            ids.reverse()
        start = ids.index(after) + 1 if after in ids else 0
        chosen = ids[start : start + limit]
        return Page(
            data=[_decode_item(items[i]) for i in chosen],
            has_more=start + limit < len(ids),
            after=chosen[-1] if chosen else None,
        )

    async def load_threads(
        self,
        limit: int,
        after: str | None,
        order: Literal["asc", "desc"],
        *,
        context: Any = None,
    ) -> Page[ThreadMetadata]:
        """A page of the threads ``context`` may see, by ``created_at`` then id (see ``Store``)."""
        owner = self._owner(context) if self._owner is not None else None
        threads = [
            _decode_thread(data)
            for thread_id, data in self._threads.items()
            if self._owner is None or self._owners.get(thread_id) == owner
        ]
        threads.sort(key=_thread_order, reverse=order == "desc")
        ids = [thread.id for thread in threads]
        start = ids.index(after) + 1 if after in ids else 0
        end = start + max(limit, 0)
        chosen = threads[start:end]
        return Page(
            data=chosen,
            has_more=end < len(threads),
            after=chosen[-1].id if chosen else None,
        )

    async def load_thread_and_item(
        self, thread_id: str, item_id: str, *, context: Any = None
    ) -> tuple[ThreadMetadata, ThreadItem | None]:
        """The thread and one of its items (``None`` if missing)."""
        self._check(thread_id, context)
        item = self._items[thread_id].get(item_id)
        return _decode_thread(self._threads[thread_id]), None if item is None else _decode_item(item)

    async def load_item(self, thread_id: str, item_id: str, *, context: Any = None) -> ThreadItem:
        try:
            return _decode_item(self._thread_items(thread_id, context)[item_id])
        except KeyError:
            raise NotFoundError(f"item {item_id!r} not found in thread {thread_id!r}") from None

    async def add_thread_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
        await self.save_item(thread_id, item, context=context)

    async def save_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
        self._put_item(thread_id, item.id, _encode(item), context)

    async def save_item_json(
        self, thread_id: str, item: ThreadItem, data: bytes, *, context: Any = None
    ) -> None:
        """``save_item``, with ``data`` the item's JSON (``msgspec.json.encode(item)``), kept as it is."""
        self._put_item(thread_id, item.id, data, context)

    async def delete_thread_item(self, thread_id: str, item_id: str, *, context: Any = None) -> None:
        items = self._thread_items(thread_id, context)
        if item_id in items:
            self._remember(thread_id)
            del items[item_id]

    async def consumed(self, thread_id: str, item_id: str, action: str, *, context: Any = None) -> bool:
        """Whether ``action`` from widget ``item_id`` took effect already (see ``StoreFeatures``)."""
        try:
            self._check(thread_id, context)
        except NotFoundError:  # another user's thread: nothing of it is known
            return False
        return (item_id, action) in self._consumed.get(thread_id, ())

    async def consume(self, thread_id: str, item_id: str, action: str, *, context: Any = None) -> bool:
        """Record that ``action`` from widget ``item_id`` took effect; ``False`` if it already had."""
        self._check(thread_id, context)
        if (item_id, action) in self._consumed.get(thread_id, ()):
            return False
        if self._journal is not None:
            self._remember(thread_id)
        self._consumed.setdefault(thread_id, set()).add((item_id, action))
        return True

    async def close(self) -> None:
        """Nothing to close (as ``SQLiteStore.close``, so either fits ``on_shutdown``)."""

    def transaction(self, *, context: Any = None) -> _Transaction[Self]:
        """All-or-nothing writes (see the class docstring for isolation)."""
        return _Transaction(self)

    def _check(self, thread_id: str, context: Any) -> None:
        if thread_id not in self._threads or (
            self._owner is not None and self._owners.get(thread_id) != self._owner(context)
        ):
            raise NotFoundError(f"thread {thread_id!r} not found")

    def _thread_items(self, thread_id: str, context: Any) -> dict[str, bytes]:
        self._check(thread_id, context)
        return self._items[thread_id]

    def _put_item(self, thread_id: str, item_id: str, data: bytes, context: Any) -> None:
        self._check(thread_id, context)
        if self._journal is not None:  # in a transaction
            self._remember(thread_id)
        self._items[thread_id][item_id] = data

    def _remember(self, thread_id: str) -> None:
        """Before the first write to ``thread_id`` in a transaction, note how it was."""
        journal = self._journal
        if journal is not None and thread_id not in journal:
            items = self._items.get(thread_id)
            consumed = self._consumed.get(thread_id)
            journal[thread_id] = (
                self._threads.get(thread_id, _MISSING),
                self._owners.get(thread_id, _MISSING),
                dict(items) if items is not None else _MISSING,
                set(consumed) if consumed is not None else _MISSING,
            )

    def _rollback(self, journal: _Journal) -> None:
        for thread_id, (thread, owner, items, consumed) in journal.items():
            tables: tuple[tuple[dict[str, Any], Any], ...] = (
                (self._threads, thread),
                (self._owners, owner),
                (self._items, items),
                (self._consumed, consumed),
            )
            for table, old in tables:
                if old is _MISSING:
                    table.pop(thread_id, None)
                else:
                    table[thread_id] = old


def _thread_order(thread: ThreadMetadata) -> tuple[datetime, str]:
    # A naive time counts as UTC, as SQLite's julianday() reads it.
    at = thread.created_at
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)), thread.id


M = TypeVar("M", bound=MemoryStore)


class _Transaction(Generic[M]):
    """``async with store.transaction() as tx``: a view with a journal of what to roll back."""

    __slots__ = ("_journal", "_store")

    def __init__(self, store: M) -> None:
        self._store = store
        self._journal: _Journal | None = None

    async def __aenter__(self) -> M:
        store = self._store
        if store._journal is not None:  # inside a transaction: join it
            return store
        view = store.__copy__()
        view._journal = self._journal = {}
        return view

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        journal, self._journal = self._journal, None
        if exc_type is not None and journal is not None:
            self._store._rollback(journal)
