"""Per-process locks by key, for stores whose data has no locks of its own.

``MemoryStore``, ``SQLiteStore`` and ``ChatKitStoreAdapter`` serialize actions
with these; they exclude holders in the same process only (``PostgresStore``
uses PostgreSQL advisory locks, which span processes).

(``timeout`` here is a lock wait with its own error and a "do not wait" value
``0``, not a cancel scope: hence the ``noqa: ASYNC109``.)
"""

from __future__ import annotations

import inspect
import keyword
import types
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from typing import Any, Generic, Self, TypeVar

import anyio

from ..errors import LockTimeoutError
from ._base import LockKey, lock_order

__all__ = ["Holding", "KeyedLocks", "LocalLocks", "plain_local_locks"]


class _Entry:
    """A key someone waits for: its holder and waiters (``users``), dropped when the last one leaves.

    A key held with nobody waiting (the usual case) maps to ``None`` instead:
    no object to make, and an anyio.Semaphore costs ~2 µs to create (it looks
    up the backend). A semaphore, not a Lock: an action's lock may be released
    by another task than the one that took it (a stream closed from the
    server's task).
    """

    __slots__ = ("gate", "users")

    def __init__(self) -> None:
        self.gate = anyio.Semaphore(0, max_value=1, fast_acquire=True)  # 0: it is held
        self.users = 1  # the holder


class KeyedLocks:
    """Exclusive locks named by key, created on demand and dropped when free.

    Keys are taken in ``lock_order`` (thread keys first), all or none, within
    one deadline; waiters are served first come, first served.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[LockKey, _Entry | None] = {}

    def take_free(self, keys: Sequence[LockKey]) -> bool:
        """Take every key in ``keys`` (distinct) if none is held or awaited; else take none."""
        entries = self._entries
        for key in keys:
            if key in entries:
                return False
        for key in keys:
            entries[key] = None
        return True

    async def acquire(self, keys: Sequence[LockKey], timeout: float | None) -> None:  # noqa: ASYNC109
        """Take every key in ``keys`` (distinct) or raise ``LockTimeoutError`` holding none."""
        if self.take_free(keys):
            # Nobody holds or awaits any of them (the usual case). Arming the deadline below (an
            # anyio cancel scope) would cost more than the whole rest of a sync action's
            # locking; with nothing to wait for there is nothing to time out.
            return
        taken: list[LockKey] = []
        key: LockKey = ()
        try:
            with anyio.fail_after(timeout) if timeout is not None and timeout > 0 else nullcontext():
                for key in sorted(keys, key=lock_order):
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
        entries = self._entries
        for key in keys:
            entry = entries[key]
            if entry is None:  # nobody waited: free
                del entries[key]
            else:  # hand the gate over to the next waiter (or free it)
                entry.gate.release()
                self._leave(key, entry)

    def held(self) -> int:
        """How many keys are held or waited for (0 once every action has finished)."""
        return len(self._entries)

    async def _take(self, key: LockKey, *, wait: bool) -> None:
        entries = self._entries
        if key not in entries:
            entries[key] = None  # free: taken
            return
        entry = entries[key]
        if entry is None:
            entry = entries[key] = _Entry()
        entry.users += 1
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


_COPIERS: dict[type, Callable[[Any], Any]] = {}
_new = object.__new__


def _slots(cls: type) -> list[tuple[str, Any]]:
    """Every slot of ``cls`` and its bases: the attribute name as stored, and its descriptor."""
    found: dict[str, Any] = {}
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if isinstance(value, types.MemberDescriptorType) and name not in found:
                found[name] = value
    return list(found.items())


def _plain_name(cls: type, name: str, descriptor: Any) -> bool:
    """Whether ``obj.<name>`` in source code reaches ``descriptor`` (else it is called directly)."""
    return (
        name.isidentifier()
        and not keyword.iskeyword(name)
        and unicodedata.normalize("NFKC", name) == name
        and not (name.startswith("__") and not name.endswith("__"))  # would be mangled again
        and inspect.getattr_static(cls, name, None) is descriptor
    )


def _copier(cls: type) -> Callable[[Any], Any]:
    """A function making a shallow copy of a ``cls`` instance, generated once per class.

    Every action makes a lock view (and some a transaction view) of its store,
    so this is on the hot path: the generic ``copy.copy`` route through
    ``__reduce_ex__`` and ``copyreg`` costs ~1.9 µs for a slotted store, a loop
    of ``getattr``/``setattr`` ~0.7 µs, and straight-line attribute copies
    (generated here, as ``dataclasses`` generates ``__init__``) ~0.25 µs. A
    slot whose name cannot be written as ``obj.name`` is copied through its
    descriptor; a slot never set stays unset in the copy.
    """
    lines = ["def copy(self):", "    clone = new(cls)"]
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    for i, (name, descriptor) in enumerate(_slots(cls)):
        if _plain_name(cls, name, descriptor):
            line = f"        clone.{name} = self.{name}"
        else:
            namespace[f"d{i}"] = descriptor
            line = f"        d{i}.__set__(clone, d{i}.__get__(self, cls))"
        lines += ["    try:", line, "    except AttributeError:", "        pass"]
    if cls.__dictoffset__:  # instances have a __dict__ too
        lines += ["    state = self.__dict__", "    if state:", "        clone.__dict__.update(state)"]
    lines.append("    return clone")
    exec("\n".join(lines), namespace)  # the code names slots only as checked above
    copy: Callable[[Any], Any] = namespace["copy"]
    return copy


class LocalLocks:
    """Mixin giving a store ``lock()`` with per-process :class:`KeyedLocks`.

    For custom stores without locks of their own: call
    ``LocalLocks.__init__(self)`` from ``__init__``. ``lock()`` yields a copy of
    the store (``copy.copy``) that remembers which keys it holds.
    """

    __slots__ = ("_held", "_locks")

    def __init__(self) -> None:
        self._locks = KeyedLocks()
        self._held: tuple[LockKey, ...] = ()  # a view's keys (a tuple: one or two, no set needed)

    def __copy__(self) -> Self:
        """A shallow copy (the lock view here, a store's transaction view), made fast."""
        cls = type(self)
        copier = _COPIERS.get(cls)
        if copier is None:
            copier = _COPIERS[cls] = _copier(cls)
        clone: Self = copier(self)
        return clone

    def take_keys_now(self, keys: tuple[LockKey, ...]) -> bool:
        """Hold ``keys`` (distinct) if nobody holds or awaits any of them, without waiting.

        What ``lock(*keys)`` then ``Holding.take_now()`` do on the store itself,
        minus the ``Holding`` and the view: the dispatcher's path for an action
        (a sync action's one key, its sender widget's; a stream's two), which
        makes the view only if the handler asks for the store (``view_holding``).
        Give the keys back with ``release_keys``. ``False``: none was taken.
        """
        return self._locks.take_free(keys)

    def release_keys(self, keys: tuple[LockKey, ...]) -> None:
        """Give back keys taken here (``take_keys_now``, a ``Holding``) at once: nothing can suspend."""
        self._locks.release(keys)

    def view_holding(self, keys: tuple[LockKey, ...]) -> Self:
        """This store as its holder of ``keys`` (taken already) sees it: a copy that remembers them."""
        view = self.__copy__()
        view._held = self._held + keys
        return view

    def _locked_view(self, new: tuple[LockKey, ...]) -> Self:
        """This store as seen holding ``new`` (taken) too; releases them if that fails."""
        try:
            return self.view_holding(new)
        except BaseException:
            self._locks.release(new)
            raise

    def lock(self, *keys: LockKey, timeout: float | None, context: Any = None) -> Holding[Self]:
        """Hold ``keys`` (see :meth:`chatkit_handlers.stores.Store.lock`); this process only."""
        # Holding(self, keys, timeout), made without calling the class: a Generic subclass's
        # call is off CPython 3.11's fast path (~0.3 µs against ~0.15 µs), once per action.
        holding: Holding[Self] = _new(Holding)
        holding._store = self
        holding._keys = keys
        holding._timeout = timeout
        holding._new = ()
        return holding


_LOCAL_LOCK = LocalLocks.lock


def plain_local_locks(store: object) -> bool:
    """Whether ``store`` locks with ``LocalLocks``' own ``lock()`` and is not a view holding keys.

    Then the dispatcher may take an action's keys with ``take_keys_now`` and give
    them back with ``release_keys``, as ``lock()`` would: no override of
    ``lock()`` on the class or on the instance is bypassed.
    """
    return (
        isinstance(store, LocalLocks)
        and type(store).lock is _LOCAL_LOCK  # (a bool, not a TypeGuard: callers keep their Store)
        and not store._held
        and (not type(store).__dictoffset__ or "lock" not in store.__dict__)  # not patched
    )


S = TypeVar("S", bound=LocalLocks)


class Holding(Generic[S]):
    """``async with store.lock(...) as view``: a class, not an ``@asynccontextmanager``.

    Every action enters one; a generator-based context manager costs ~1 µs more
    (the generator, its first-iteration hook, the helper object).
    """

    __slots__ = ("_keys", "_new", "_store", "_timeout")

    def __init__(self, store: S, keys: tuple[LockKey, ...], timeout: float | None) -> None:
        self._store = store
        self._keys = keys
        self._timeout = timeout
        self._new: tuple[LockKey, ...] = ()

    async def __aenter__(self) -> S:
        view = self.take_now()
        if view is None:  # someone holds or awaits a key: wait in line
            new = self._new_keys()
            locks = self._store._locks
            await locks.acquire(new, self._timeout)
            view = self._view(new)
        return view

    def take_now(self) -> S | None:
        """Enter without suspending if no key is held or awaited: the locked view, else ``None``.

        The dispatcher's fast path (what ``__aenter__`` does first, minus the
        coroutine); a view from here is released with :meth:`release`.
        """
        store = self._store
        keys = self._keys
        if not store._held and (len(keys) == 1 or (len(keys) == 2 and keys[0] != keys[1])):
            # On the store itself, not on a view holding keys already; a sync action's key or a
            # stream's two (its thread and its sender): no duplicates to drop.
            return self._view(keys) if store.take_keys_now(keys) else None
        new = self._new_keys()
        if not new:
            return store
        return self._view(new) if store._locks.take_free(new) else None

    def _new_keys(self) -> tuple[LockKey, ...]:
        """The keys to take: ``keys`` less duplicates and those the store already holds."""
        held = self._store._held
        keys = self._keys
        if len(keys) == 1:  # a sync action's lock: no duplicates to drop
            return keys if keys[0] not in held else ()
        if not held:  # a stream's locks on the store itself: drop duplicates only (in C)
            return tuple(dict.fromkeys(keys))
        return tuple(key for key in dict.fromkeys(keys) if key not in held)

    def _view(self, new: tuple[LockKey, ...]) -> S:
        """The store as seen holding ``new`` (taken) too; releases them if that fails."""
        view = self._store._locked_view(new)
        self._new = new
        return view

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    def release(self) -> None:
        """Release what ``__aenter__`` took, at once (idempotent): nothing here can suspend."""
        new, self._new = self._new, ()
        if new:
            self._store.release_keys(new)
