"""Per-process locks by key, for stores whose data has no locks of its own.

``MemoryStore`` and ``ChatKitStoreAdapter`` serialize actions with these; they
exclude holders in the same process only (``PostgresStore`` uses PostgreSQL
advisory locks, which span processes; ``SQLiteStore`` queues its waiters on
``KeyedLocks`` first, then takes leases in its file, which span processes too).

A holder's view of the store knows the leases it holds, so that locking their
keys again through it does not wait for itself.

(``timeout`` here is a lock wait with its own error and a "do not wait" value
``0``, not a cancel scope: hence the ``noqa: ASYNC109``.)
"""

from __future__ import annotations

import copy
import types
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Generic, Self, TypeVar

import anyio
import msgspec

from ..errors import LockTimeoutError
from ._base import LockKey, StoreFeatures, lock_order

__all__ = ["KeyedLocks", "Lease", "LocalLocks"]


class _Waiters:
    """A key someone waits for: a gate handed from holder to holder, and how many use it.

    A key held with nobody waiting (the usual case) has no ``_Waiters``. A
    semaphore, not a Lock: an action's lock may be released by another task
    than the one that took it (a stream closed from the server's task).
    """

    __slots__ = ("gate", "users")

    def __init__(self) -> None:
        self.gate = anyio.Semaphore(0, max_value=1)  # 0: it is held
        self.users = 1  # the holder


class KeyedLocks:
    """Exclusive locks named by key, created on demand and dropped when free.

    Keys are taken in ``lock_order`` (thread keys first), all or none, within
    one deadline; waiters are served first come, first served.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        # key -> None while held with nobody waiting, else its waiters; free keys are absent.
        self._entries: dict[LockKey, _Waiters | None] = {}

    def try_take(self, keys: Sequence[LockKey]) -> bool:
        """Take every key in ``keys`` (distinct) if none is held or awaited; else take none."""
        entries = self._entries
        for key in keys:
            if key in entries:
                return False
        for key in keys:
            entries[key] = None
        return True

    async def take(self, keys: Sequence[LockKey], timeout: float | None) -> None:  # noqa: ASYNC109
        """Take every key in ``keys`` (distinct) or raise ``LockTimeoutError`` holding none."""
        if self.try_take(keys):
            return
        taken: list[LockKey] = []
        key: LockKey = ()
        wait = timeout is None or timeout > 0
        try:
            with anyio.fail_after(timeout if wait else None):
                for key in sorted(keys, key=lock_order):
                    await self._take(key, wait=wait)
                    taken.append(key)
        except (TimeoutError, anyio.WouldBlock):
            self.release(taken)
            raise LockTimeoutError(key, timeout) from None
        except BaseException:
            self.release(taken)
            raise

    def release(self, keys: Iterable[LockKey]) -> None:
        """Release keys taken by :meth:`try_take` or :meth:`take`."""
        entries = self._entries
        for key in keys:
            waiters = entries[key]
            if waiters is None:  # nobody waited: free
                del entries[key]
            else:  # hand the gate over to the next waiter (or free it)
                waiters.gate.release()
                self._leave(key, waiters)

    def held(self) -> int:
        """How many keys are held or waited for (0 once every action has finished)."""
        return len(self._entries)

    async def _take(self, key: LockKey, *, wait: bool) -> None:
        entries = self._entries
        if key not in entries:
            entries[key] = None  # free: taken
            return
        waiters = entries[key]
        if waiters is None:
            waiters = entries[key] = _Waiters()
        waiters.users += 1
        try:
            if wait:
                await waiters.gate.acquire()
            else:
                waiters.gate.acquire_nowait()
        except BaseException:
            self._leave(key, waiters)
            raise

    def _leave(self, key: LockKey, waiters: _Waiters) -> None:
        waiters.users -= 1
        if waiters.users == 0:
            del self._entries[key]


S = TypeVar("S", bound="LocalLocks")


class Lease(msgspec.Struct, Generic[S]):
    """Keys taken by ``LocalLocks.try_lock`` (or ``lock()``): their holder's view of the store, and ``release()``.

    Attributes:
        root: the store the keys were taken on (itself a view, for keys taken through one).
        keys: the keys taken (empty once released).
    """

    root: S
    keys: tuple[LockKey, ...]
    view: S | None = None

    @property
    def store(self) -> S:
        """The store as the holder of the keys sees it: locking them again through it does not wait.

        A view of the store (``LocalLocks.holding``), made when first asked for:
        most actions never ask.
        """
        if self.view is None:
            self.view = self.root.holding(self)
        return self.view

    def release(self) -> None:
        """Give the keys back (idempotent); nothing here can suspend.

        Every view holding this lease (``view.held_keys()``) stops claiming its
        keys with it: one kept past its holder's block (by a background task)
        waits for them like anyone else.
        """
        keys, self.keys = self.keys, ()
        if keys:
            self.root._locks.release(keys)

    def __repr__(self) -> str:
        return f"Lease(keys={self.keys!r})"


class LocalLocks(StoreFeatures):
    """Mixin giving a store ``lock()`` and ``try_lock()`` with per-process :class:`KeyedLocks`.

    For custom stores without locks of their own: call
    ``LocalLocks.__init__(self)`` from ``__init__``. A holder of keys acts
    through a view of the store that knows the leases it holds (``holding``):
    for a store keeping its attributes in its ``__dict__``, a second object
    sharing that ``__dict__`` (the same store, an attribute set through one is
    seen through the other); for one with ``__slots__`` of its own, a shallow
    copy (``copy.copy``).
    """

    __slots__ = ("_held", "_locks")

    locks_in_process = True
    _views_share_state: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Decided once per class: instances whose only slots are ours keep everything else in
        # their __dict__, which a view can share (cheaper than a copy, and never out of date).
        bases = cls.__mro__[:-1]  # all but object
        own_slots = {name for klass in bases for name in _slot_names(klass)} - {"_held", "_locks"}
        has_dict = any("__slots__" not in vars(klass) for klass in bases)
        cls._views_share_state = has_dict and not own_slots

    def __init__(self) -> None:
        self._locks = KeyedLocks()
        self._held: tuple[Lease[Any], ...] = ()  # the leases a view's holder holds

    def __copy__(self) -> Self:
        """A shallow copy: every slot (of this class and its bases) and the ``__dict__``."""
        cls: type[Any] = type(self)
        clone: Self = object.__new__(cls)
        for slot in _slots(cls):
            try:
                value = slot.__get__(self, cls)
            except AttributeError:  # never set: stays unset
                continue
            slot.__set__(clone, value)
        state = getattr(self, "__dict__", None)
        if state:
            clone.__dict__.update(state)
        return clone

    def holding(self, lease: Lease[Any]) -> Self:
        """This store as the holder of ``lease`` sees it: a view claiming its keys until it is released."""
        if self._views_share_state:
            view: Self = object.__new__(type(self))
            view.__dict__ = self.__dict__  # type: ignore[misc]  # the same store: only its leases differ
            view._locks = self._locks
        else:
            view = copy.copy(self)
        view._held = (*self._held, lease)
        return view

    def held_keys(self) -> frozenset[LockKey]:
        """The keys this store (a view) holds: those of its leases not released yet."""
        return frozenset(key for lease in self._held for key in lease.keys)

    def try_lock(self, keys: tuple[LockKey, ...]) -> Lease[Self] | None:
        """Hold ``keys`` (distinct) now if nobody holds or awaits any of them: a ``Lease``, else ``None``.

        What ``lock()`` does when no key is busy, without a coroutine; keys this
        store (a view) holds already are not taken again.
        """
        if self._held:  # a view: what it holds already is not taken again
            held = self.held_keys()
            keys = tuple(key for key in keys if key not in held)
        return Lease(self, keys) if self._locks.try_take(keys) else None

    @asynccontextmanager
    async def lock(self, *keys: LockKey, timeout: float | None, context: Any = None) -> AsyncIterator[Self]:  # noqa: ASYNC109
        """Hold ``keys`` (see :meth:`chatkit_handlers.stores.Store.lock`); this process only."""
        held = self.held_keys() if self._held else frozenset()
        new = tuple(key for key in dict.fromkeys(keys) if key not in held)
        await self._locks.take(new, timeout)
        lease = Lease(self, new)
        try:
            yield lease.store
        finally:
            lease.release()


def _slot_names(klass: type) -> tuple[str, ...]:
    slots = vars(klass).get("__slots__", ())
    return (
        (slots,)
        if isinstance(slots, str)
        else tuple(name for name in slots if name not in ("__dict__", "__weakref__"))
    )


def _slots(cls: type) -> tuple[Any, ...]:
    """The slot descriptors of ``cls`` and its bases (found once per class)."""
    found = _SLOTS.get(cls)
    if found is None:
        descriptors: dict[str, Any] = {}
        for klass in cls.__mro__:
            for name, value in vars(klass).items():
                if isinstance(value, types.MemberDescriptorType):
                    descriptors.setdefault(name, value)
        found = _SLOTS[cls] = tuple(descriptors.values())
    return found


_SLOTS: dict[type, tuple[Any, ...]] = {}
