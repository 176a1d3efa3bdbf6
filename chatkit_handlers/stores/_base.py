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

What a store can do beyond the protocol it *declares*, as class attributes of
``StoreFeatures`` (a mixin every store here uses), which the dispatcher reads
once, when it is built:

``loads_thread_and_item = True``
    the store has ``load_thread_and_item(thread_id, item_id, context=...)``,
    returning the thread and one of its items (``None`` when the item is
    missing) in one query. Every action sent from a widget needs both; a
    store reaching them in one trip makes the action that much faster.
    Without it the dispatcher calls ``load_thread`` then ``load_item``.
``saves_item_json = True``
    the store has ``save_item_json(thread_id, item, data, context=...)``,
    saving ``item`` given ``data``, its JSON as ``msgspec.json.encode`` writes
    it: a sync action's updated item is both saved and sent back, and a store
    keeping items as that JSON spares the second encoding.
``locks_in_process = True``
    the store's locks exclude holders in this process only, and it has
    ``try_lock(keys)``: take every key now, without waiting, and return a
    ``Lease`` (or ``None`` when one is busy). The dispatcher tries that first
    and awaits ``lock()`` only when a key is busy. (``LocalLocks`` gives both.)
``never_suspends = True``
    no store method awaits anything that suspends, so nothing can cancel one
    halfway: the dispatcher then writes a stream's result without a
    cancellation shield.
``records_consumed = True``
    the store remembers which widget actions were consumed, for routes
    declared ``on_action(..., once=True)``: ``consumed(thread_id, item_id,
    action, context=...)`` says whether ``action`` (the route's type) from
    widget ``item_id`` took effect already, and ``consume(...)`` records that
    it did, returning ``False`` when it already was (nothing recorded then).
    The dispatcher calls ``consume`` in the transaction that writes the
    action's result, so the record and the writes are kept together or not
    at all, and only for a thread it loaded for that ``context``. Records
    go with their thread. A router with ``once`` routes refuses a store
    without this declaration when the dispatcher is built.

One declaration is the instance's, not the class's, since it follows how the
store was made:

``owner_scoped`` (``True`` unless the store says otherwise)
    some context may be refused a thread that exists (``owner=`` was given,
    or the store cannot tell). The dispatcher then checks that the caller
    sees the thread before it waits for a busy lock of an action on it, so
    that a thread another user is busy with answers 404 at once rather than
    409 after the lock timeout (which would tell that it exists). A store
    where every context sees every thread sets it ``False`` and is spared
    that read.

A subclass (or a mixin) that overrides a method one of these stands for
(``load_thread`` to hide archived threads, ``save_item`` to audit writes,
``lock()``) below the stand-in, or any store method below a
``never_suspends`` declaration, has the declaration turned off for it by
``StoreFeatures`` when the class is made, so the override is always called.
A class overriding a method and its stand-in together keeps the declaration;
below a class where it was turned off, a class overriding both declares it
again. The lock and transaction views a store yields are of its own class
and share its declarations.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import msgspec

from ..errors import RegistrationError
from ..types import Page, ThreadItem, ThreadMetadata

__all__ = [
    "Features",
    "ItemsAsJSON",
    "LockKey",
    "Owner",
    "Store",
    "StoreFeatures",
    "item_lock",
    "lock_order",
    "thread_lock",
]

LockKey = tuple[str, ...]
"""A lock's name: ``("thread", thread_id)`` or ``("item", thread_id, item_id)``."""

Owner = Callable[[Any], "str | None"]
"""Derives the owning user's id from the request context (for per-user scoping)."""


def thread_lock(thread_id: str) -> LockKey:
    """The key streaming actions on ``thread_id`` hold (one stream per thread)."""
    return ("thread", thread_id)


def item_lock(thread_id: str, item_id: str) -> LockKey:
    """The key actions reading and rewriting item ``item_id`` hold."""
    return ("item", thread_id, item_id)


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

    async def load_threads(
        self,
        limit: int,
        after: str | None,
        order: Literal["asc", "desc"],
        *,
        context: Any,
    ) -> Page[ThreadMetadata]:
        """Return a page of the threads ``context`` may see, oldest first for ``"asc"``.

        As chatkit's ``Store.load_threads``: threads in ``created_at`` order
        (then by id), starting after the thread whose id is ``after`` (the
        previous page's ``after``; an id the caller cannot see starts from the
        first). A store scoping threads per user lists only the caller's.
        """
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


_encode = msgspec.json.Encoder().encode


_STORE_METHODS = frozenset(
    {
        "load_thread",
        "load_threads",
        "save_thread",
        "load_thread_items",
        "load_item",
        "load_thread_and_item",
        "add_thread_item",
        "save_item",
        "save_item_json",
        "delete_thread_item",
        "lock",
        "try_lock",
        "transaction",
        "consumed",
        "consume",
    }
)

# A declaration, and the methods whose override (without the stand-in's) turns it off.
_STANDS_FOR = {
    "loads_thread_and_item": ("load_thread_and_item", ("load_thread", "load_item")),
    "saves_item_json": ("save_item_json", ("save_item",)),
    "locks_in_process": ("try_lock", ("lock",)),
}


class StoreFeatures:
    """Mixin: what a store declares beyond the ``Store`` protocol (see the module docstring).

    Set the attributes in the class body; the dispatcher reads them once.
    """

    __slots__ = ()

    loads_thread_and_item: ClassVar[bool] = False
    saves_item_json: ClassVar[bool] = False
    locks_in_process: ClassVar[bool] = False
    never_suspends: ClassVar[bool] = False
    records_consumed: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Once per class: a declaration holds only if no method it stands for is overridden
        # below where it was made (in this class, or a mixin before it in the MRO).
        for flag, (method, parts) in _STANDS_FOR.items():
            if getattr(cls, flag) and any(
                _defined_at(cls, part) < _defined_at(cls, method) for part in parts
            ):
                setattr(cls, flag, False)  # the override would be bypassed
        if cls.never_suspends:
            declared = _defined_at(cls, "never_suspends")
            if any(_defined_at(cls, name) < declared for name in _STORE_METHODS):
                cls.never_suspends = False  # an override may suspend


def _defined_at(cls: type, name: str) -> int:
    """Where in ``cls``'s MRO ``name`` is defined (0: ``cls`` itself; past the end: nowhere)."""
    mro = cls.__mro__
    return next((i for i, klass in enumerate(mro) if name in vars(klass)), len(mro))


class Features(msgspec.Struct, frozen=True):
    """What the dispatcher uses of a store, read once from its declarations (``of``)."""

    loads_thread_and_item: bool = False
    saves_item_json: bool = False
    locks_in_process: bool = False
    never_suspends: bool = False
    records_consumed: bool = False
    owner_scoped: bool = True

    @classmethod
    def of(cls, store: object) -> Features:
        """The declarations of ``store``'s class (``False`` for what it does not declare), and
        its own ``owner_scoped`` (``True`` if it does not say).

        Raises ``RegistrationError`` for a declaration whose method the store lacks.
        """
        kind = type(store)
        flags = {name: bool(getattr(kind, name, False)) for name in cls.__struct_fields__}
        flags["owner_scoped"] = bool(getattr(store, "owner_scoped", True))
        features = cls(**flags)
        declared = [(flag, method) for flag, (method, _) in _STANDS_FOR.items()]
        declared += [("records_consumed", "consumed"), ("records_consumed", "consume")]
        for flag, method in declared:
            if getattr(features, flag) and not callable(getattr(kind, method, None)):
                raise RegistrationError(
                    f"{kind.__qualname__} declares {flag} = True but has no {method}(); "
                    f"define it or drop the declaration"
                )
        return features


class ItemsAsJSON(StoreFeatures):
    """Mixin for a store keeping items as their JSON: ``save_item`` and ``save_item_json`` as one write.

    Both go through ``_save_data(thread_id, item, data, context)``, which the
    store defines, so that a subclass overriding both (to audit writes, say)
    sees each write once, and the dispatcher's encoding is the one kept.
    """

    __slots__ = ()

    saves_item_json = True

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
