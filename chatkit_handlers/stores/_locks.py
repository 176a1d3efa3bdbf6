"""Per-process locks by key, for stores whose data has no locks of its own.

``MemoryStore``, ``SQLiteStore`` and ``ChatKitStoreAdapter`` serialize actions
with these; they exclude holders in the same process only (``PostgresStore``
uses PostgreSQL advisory locks, which span processes).

(``timeout`` here is a lock wait with its own error and a "do not wait" value
``0``, not a cancel scope: hence the ``noqa: ASYNC109``.)
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from typing import Any, Generic, Self, TypeVar

import anyio

from ..errors import LockTimeoutError
from ._base import LockKey

__all__ = ["KeyedLocks", "LocalLocks"]


class _Entry:
    """A held key: its holder and its waiters (``users``), dropped when the last one leaves."""

    __slots__ = ("gate", "users")

    def __init__(self) -> None:
        # The gate is made by the first waiter: most keys are taken and released with nobody
        # waiting, and an anyio.Semaphore costs ~2 µs to create (it looks up the backend).
        # A semaphore, not a Lock: an action's lock may be released by another task than
        # the one that took it (a stream closed from the server's task, or by the GC hook).
        self.gate: anyio.Semaphore | None = None
        self.users = 1


class KeyedLocks:
    """Exclusive locks named by key, created on demand and dropped when free.

    Keys are taken in sorted order, all or none, within one deadline; waiters
    are served first come, first served.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[LockKey, _Entry] = {}

    async def acquire(self, keys: Sequence[LockKey], timeout: float | None) -> None:  # noqa: ASYNC109
        """Take every key in ``keys`` (distinct) or raise ``LockTimeoutError`` holding none."""
        entries = self._entries
        if not any(key in entries for key in keys):
            # Nobody holds or awaits any of them (the usual case): take them all at once. Arming
            # the deadline below (an anyio cancel scope) would cost more than the whole rest of
            # a sync action's locking; with nothing to wait for there is nothing to time out.
            for free in keys:
                entries[free] = _Entry()
            return
        taken: list[LockKey] = []
        key: LockKey = ()
        try:
            with anyio.fail_after(timeout) if timeout is not None and timeout > 0 else nullcontext():
                for key in sorted(keys):
                    await self._take(key, wait=timeout is None or timeout > 0)
                    taken.append(key)
        except (TimeoutError, anyio.WouldBlock):
            self.release(taken)
            raise LockTimeoutError(key, timeout) from None
        except BaseException:
            self.release(taken)
            raise

    def release(self, keys: Iterable[LockKey]) -> None:
        """Release keys taken by :meth:`acquire`."""
        for key in keys:
            entry = self._entries[key]
            if entry.gate is not None:  # someone waited: hand over (or free) the gate
                entry.gate.release()
            self._leave(key, entry)

    def held(self) -> int:
        """How many keys are held or waited for (0 once every action has finished)."""
        return len(self._entries)

    async def _take(self, key: LockKey, *, wait: bool) -> None:
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = _Entry()  # free: taken
            return
        entry.users += 1
        if entry.gate is None:
            entry.gate = anyio.Semaphore(0, max_value=1, fast_acquire=True)  # 0: it is held
        try:
            if wait:
                await entry.gate.acquire()
            else:
                entry.gate.acquire_nowait()
        except BaseException:
            self._leave(key, entry)
            raise

    def _leave(self, key: LockKey, entry: _Entry) -> None:
        entry.users -= 1
        if entry.users == 0:
            del self._entries[key]


_UNSET = object()
_SLOT_NAMES: dict[type, tuple[str, ...]] = {}


def _slot_names(cls: type) -> tuple[str, ...]:
    """Every ``__slots__`` name of ``cls`` and its bases (what ``copyreg`` would list), cached."""
    names = _SLOT_NAMES.get(cls)
    if names is None:
        found: list[str] = []
        for klass in cls.__mro__:
            slots = klass.__dict__.get("__slots__", ())
            for name in (slots,) if isinstance(slots, str) else slots:
                if name not in ("__dict__", "__weakref__") and name not in found:
                    found.append(name)
        names = _SLOT_NAMES[cls] = tuple(found)
    return names


class LocalLocks:
    """Mixin giving a store ``lock()`` with per-process :class:`KeyedLocks`.

    For custom stores without locks of their own: call
    ``LocalLocks.__init__(self)`` from ``__init__``. ``lock()`` yields a copy of
    the store (``copy.copy``) that remembers which keys it holds.
    """

    __slots__ = ("_held", "_locks")

    def __init__(self) -> None:
        self._locks = KeyedLocks()
        self._held: frozenset[LockKey] = frozenset()

    def __copy__(self) -> Self:
        # What copy.copy() makes (the lock view here, a store's transaction view), built
        # directly: the generic route through __reduce_ex__ and copyreg costs ~1.9 µs for a
        # slotted store against ~0.6 µs, and every action makes two.
        cls = type(self)
        clone = cls.__new__(cls)
        for name in _slot_names(cls):
            value = getattr(self, name, _UNSET)
            if value is not _UNSET:  # a slot never set stays unset
                setattr(clone, name, value)
        state = getattr(self, "__dict__", None)
        if state:
            clone.__dict__.update(state)
        return clone

    def lock(self, *keys: LockKey, timeout: float | None, context: Any = None) -> _Holding[Self]:
        """Hold ``keys`` (see :meth:`chatkit_handlers.stores.Store.lock`); this process only."""
        return _Holding(self, keys, timeout)


S = TypeVar("S", bound=LocalLocks)


class _Holding(Generic[S]):
    """``async with store.lock(...) as view``: a class, not an ``@asynccontextmanager``.

    Every action enters one; a generator-based context manager costs ~1 µs more
    (the generator, its first-iteration hook, the helper object).
    """

    __slots__ = ("_keys", "_new", "_store", "_timeout")

    def __init__(self, store: S, keys: tuple[LockKey, ...], timeout: float | None) -> None:
        self._store = store
        self._keys = keys
        self._timeout = timeout
        self._new: list[LockKey] = []

    async def __aenter__(self) -> S:
        store = self._store
        new = [key for key in dict.fromkeys(self._keys) if key not in store._held]
        if not new:
            return store
        await store._locks.acquire(new, self._timeout)
        try:
            view = copy.copy(store)
            view._held = store._held.union(new)
        except BaseException:
            store._locks.release(new)
            raise
        self._new = new
        return view

    async def __aexit__(self, *exc_info: object) -> None:
        new, self._new = self._new, []
        if new:
            self._store._locks.release(new)
