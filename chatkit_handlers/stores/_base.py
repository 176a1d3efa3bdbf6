"""The ``Store`` protocol: where threads and items live, and how actions on them are serialized.

Names and arguments of the data methods follow chatkit's ``Store`` so that
anyone who wrote one recognises them; every method takes the per-request
context as ``context``.

Two methods beyond chatkit's make concurrent actions safe:

``lock(*keys, timeout=..., context=...)``
    Exclusive locks on keys such as ``item_lock(thread_id, item_id)``, held for
    the ``async with`` block. The dispatcher holds the sender widget's lock from
    loading it until its update is committed (sync actions), and the thread's
    lock plus the sender's for a whole stream. Locks are advisory: they exclude
    other lock holders, not plain reads or writes.
``transaction(context=...)``
    Writes made through the yielded store are applied all together or not at
    all. The dispatcher writes everything it persists on a handler's behalf in
    one transaction.

Both yield a store (often a view bound to one database connection): do the
block's reads and writes through it.

Two more methods are optional:

``load_thread_and_item(thread_id, item_id, context=...)`` (``LoadsThreadAndItem``)
    returns the thread and one of its items (``None`` when the item is
    missing) in one query. Every action sent from a widget needs both; a store
    reaching them in one trip (one worker-thread hop for SQLite, one round trip
    for PostgreSQL) makes the action that much faster. Without it the
    dispatcher calls ``load_thread`` then ``load_item``.
``save_item_json(thread_id, item, data, context=...)`` (``SavesItemJSON``)
    saves ``item`` given ``data``, its JSON as ``msgspec.json.encode`` writes
    it. A sync action's updated item is both saved and sent back; a store
    keeping items as that JSON spares the second encoding. Without it the
    dispatcher calls ``save_item``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

import msgspec

from ..types import Page, ThreadItem, ThreadMetadata

__all__ = [
    "ItemsAsJSON",
    "LoadsThreadAndItem",
    "LockKey",
    "Owner",
    "SavesItemJSON",
    "Store",
    "covers",
    "item_lock",
    "loads_thread_and_item",
    "lock_order",
    "saves_item_json",
    "stream_keys",
    "thread_lock",
]

LockKey = tuple[str, ...]
"""A lock's name: ``("thread", thread_id)`` or ``("item", thread_id, item_id)``."""

T = TypeVar("T")

Owner = Callable[[Any], "str | None"]
"""Derives the owning user's id from the request context (for per-user scoping)."""


def thread_lock(thread_id: str) -> LockKey:
    """The key streaming actions on ``thread_id`` hold (one stream per thread)."""
    return ("thread", thread_id)


def item_lock(thread_id: str, item_id: str) -> LockKey:
    """The key actions reading and rewriting item ``item_id`` hold."""
    return ("item", thread_id, item_id)


def stream_keys(thread_id: str, item_id: str | None) -> tuple[LockKey, ...]:
    """What a streaming action holds: its thread's key (one stream per thread) and its sender's, if any.

    (``thread_lock`` and ``item_lock`` written out: this runs once per stream.)
    """
    if item_id is None:
        return (("thread", thread_id),)
    return ("thread", thread_id), ("item", thread_id, item_id)


def lock_order(key: LockKey) -> tuple[bool, LockKey]:
    """The order a store takes several keys in: thread keys first, then the rest sorted.

    One global order means no two holders can wait for each other. Thread keys
    must come first because a stream holding its thread's key may go on to
    take item keys (to write the widgets it updated): were item keys first, a
    stream waiting for that thread while holding its own sender's item key
    could be the one that stream waits for.
    """
    return (key[:1] != ("thread",), key)


@runtime_checkable
class Store(Protocol):
    """Async persistence for threads and their items.

    Lookups of a missing thread or item (or one the ``context``'s user may not
    see) raise :class:`chatkit_handlers.errors.NotFoundError`, and so do writes
    into such a thread: the dispatcher answers 404 either way, so ids of other
    users' threads do not leak.
    """

    async def load_thread(self, thread_id: str, *, context: Any) -> ThreadMetadata:
        """Return the thread's metadata."""
        ...

    async def save_thread(self, thread: ThreadMetadata, *, context: Any) -> None:
        """Insert or update the thread's metadata."""
        ...

    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: Literal["asc", "desc"],
        *,
        context: Any,
    ) -> Page:
        """Return a page of the thread's items, oldest first for ``"asc"``."""
        ...

    async def load_item(self, thread_id: str, item_id: str, *, context: Any) -> ThreadItem:
        """Return one item of the thread."""
        ...

    async def add_thread_item(self, thread_id: str, item: ThreadItem, *, context: Any) -> None:
        """Append a new item to the thread."""
        ...

    async def save_item(self, thread_id: str, item: ThreadItem, *, context: Any) -> None:
        """Insert or update an item by id, keeping its place in the thread."""
        ...

    async def delete_thread_item(self, thread_id: str, item_id: str, *, context: Any) -> None:
        """Remove an item from the thread (no error if it is already gone)."""
        ...

    def lock(self, *keys: LockKey, timeout: float | None, context: Any) -> AbstractAsyncContextManager[Store]:
        """Hold ``keys`` exclusively for the ``async with`` block.

        Waits at most ``timeout`` seconds (``None``: without limit, ``0``: not at
        all) for other holders, then raises
        :class:`~chatkit_handlers.errors.LockTimeoutError` holding none of the
        keys. Yields the store to do the block's reads and writes through; keys
        that store already holds are not taken again, so locking more keys on it
        never waits for itself. Several keys are taken in :func:`lock_order`
        (thread keys first), so that no two holders wait for each other. The
        keys are released when the block exits, however it exits (error,
        cancellation).
        """
        ...

    def transaction(self, *, context: Any) -> AbstractAsyncContextManager[Store]:
        """Apply the writes made through the yielded store all together, or none.

        The block's writes are committed when it exits normally and rolled back
        when it raises. A transaction inside a transaction joins it.
        """
        ...


@runtime_checkable
class LoadsThreadAndItem(Protocol):
    """The optional method of a store that reads a thread and one of its items in one query."""

    async def load_thread_and_item(
        self, thread_id: str, item_id: str, *, context: Any
    ) -> tuple[ThreadMetadata, ThreadItem | None]:
        """The thread (``NotFoundError`` if missing or not visible) and the item (``None`` if missing)."""
        ...


@runtime_checkable
class SavesItemJSON(Protocol):
    """The optional method of a store keeping items as JSON: save one already encoded."""

    async def save_item_json(self, thread_id: str, item: ThreadItem, data: bytes, *, context: Any) -> None:
        """``save_item(thread_id, item)``, with ``data`` the item as ``msgspec.json.encode`` writes it."""
        ...


class ItemsAsJSON:
    """Mixin for a store keeping items as their JSON: ``save_item`` and ``save_item_json`` as one write.

    Both go through ``_save_data(thread_id, item, data, context)``, which the
    store defines, so that a subclass overriding both (to audit writes, say)
    sees each write once, and the dispatcher's encoding is the one kept.
    """

    __slots__ = ()

    async def save_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
        """Insert or update an item by id, keeping its place in the thread."""
        await self._save_data(thread_id, item, _encode(item), context)

    async def save_item_json(
        self, thread_id: str, item: ThreadItem, data: bytes, *, context: Any = None
    ) -> None:
        """``save_item``, with ``data`` the item's JSON (``msgspec.json.encode(item)``), kept as it is."""
        await self._save_data(thread_id, item, data, context)

    async def _save_data(self, thread_id: str, item: ThreadItem, data: bytes, context: Any) -> None:
        raise NotImplementedError


def loads_thread_and_item(store: object) -> bool:
    """Whether ``store``'s ``load_thread_and_item`` may stand in for its two loads (see ``_stands_in``)."""
    return _stands_in(store, "load_thread_and_item")


def saves_item_json(store: object) -> bool:
    """Whether ``store``'s ``save_item_json`` may stand in for its ``save_item`` (see ``_stands_in``)."""
    return _stands_in(store, "save_item_json")


def _stands_in(store: object, name: str) -> bool:
    """Whether ``store``'s optional method ``name`` may stand in for the methods it combines.

    Not if one of those was replaced where ``name`` was not: a subclass (or
    mixin) overriding ``load_thread`` to hide archived threads, say, while
    inheriting the combined load, or a ``save_item`` that audits every write
    while inheriting ``save_item_json``; or a patch. The stores here name the
    methods their optional ones stand for (``covers``) and are checked by
    identity; other stores by where the methods are defined (the optional one
    with the others, or below them all).
    """
    names = (name, *_STANDS_FOR[name])
    if any(n in getattr(store, "__dict__", ()) for n in names):  # set on the instance
        return False
    cls = type(store)
    methods = [getattr(cls, n, None) for n in names]
    if any(method is None for method in methods):
        return False
    covered = _COVERS.get(methods[0])
    if covered is not None:
        return all(method is own for method, own in zip(methods[1:], covered, strict=True))
    where = [_defined_in(cls, n) for n in names]
    first = where[0]
    return first is not None and all(w is not None and issubclass(first, w) for w in where[1:])


def covers(cls: type[T]) -> type[T]:
    """Class decorator: each optional method ``cls`` defines does what the methods it stands for,
    as ``cls`` defines them, do (``load_thread_and_item``: ``load_thread`` and ``load_item``)."""
    own = vars(cls)  # defined together, in the class's own body
    for name, parts in _STANDS_FOR.items():
        if name in own:
            _COVERS[own[name]] = tuple(own[part] for part in parts)
    return cls


_encode = msgspec.json.Encoder().encode
_STANDS_FOR = {"load_thread_and_item": ("load_thread", "load_item"), "save_item_json": ("save_item",)}
_COVERS: dict[object, tuple[object, ...]] = {}


def _defined_in(cls: type, name: str) -> type | None:
    return next((klass for klass in cls.__mro__ if name in vars(klass)), None)
