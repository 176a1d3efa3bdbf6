"""Which locks an action holds, and for how long.

A sync action holds its sender widget's lock (``item_lock``) from loading the
widget until the handler's update is committed, so concurrent clicks on one
widget read-modify-write it one after the other. A streaming action holds its
thread's lock (``thread_lock``, one stream per thread, as ChatKit's client
assumes) and its sender's, from reloading them until its writes are committed.
An action that cannot get its locks within ``lock_timeout`` seconds is refused
(sync: 409 ``item.busy``; stream: an ``error`` event whose message says which
thread or item is busy, sent with chatkit's code ``custom``), both with
``allow_retry: true``.
"""

from __future__ import annotations

from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Literal, Protocol

import anyio
import msgspec

from .errors import LockTimeoutError
from .stores import LockKey, Store, item_lock
from .stores._base import stream_keys
from .stores._locks import Holding, LocalLocks, plain_local_locks
from .types import ErrorEvent

if TYPE_CHECKING:
    from ._context import ActionContext
    from ._route import Route

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "ContextLoader",
    "StreamLock",
    "busy_event",
    "check_store",
    "stream_keys",
    "sync_keys",
]

DEFAULT_LOCK_TIMEOUT = 10.0
"""Seconds an action waits for another action on the same widget or thread."""


def check_store(store: object) -> None:
    """Refuse, at construction, a store without the methods serializing actions needs."""
    missing = [name for name in ("lock", "transaction") if not callable(getattr(store, name, None))]
    if missing:
        raise TypeError(
            f"{type(store).__name__} has no {' or '.join(f'{name}()' for name in missing)}, which "
            "chatkit_handlers.stores.Store requires to serialize actions and write atomically; "
            "mix in chatkit_handlers.stores.LocalLocks for per-process locks and add a "
            "transaction() (see docs/stores.md, 'Writing your own store')"
        )


def sync_keys(thread_id: str, item_id: str | None) -> tuple[LockKey, ...]:
    """What a sync action holds: its sender widget (nothing without one)."""
    return () if item_id is None else (item_lock(thread_id, item_id),)


def busy_event(exc: LockTimeoutError) -> ErrorEvent:
    """The error a refused action gets: ``thread.busy`` or ``item.busy``, retryable."""
    if exc.key[:1] == ("thread",):
        code = "thread.busy"
        message = f"another action is still streaming in thread {exc.key[1]!r}"
    else:
        code = "item.busy"
        message = f"another action on item {exc.key[-1]!r} is still running"
    return ErrorEvent(
        code=code,
        message=f"{message} (waited {exc.timeout}s); try again when it has finished",
        allow_retry=True,
    )


class ContextLoader(Protocol):
    """Loads an action's context through a store (the dispatcher's ``load_context``)."""

    def load_context(
        self, request: Any, route: Route, context: Any, store: Store | None = None
    ) -> Awaitable[ActionContext[Any]]: ...


class StreamLock(msgspec.Struct, eq=False):  # (compared, and hashed, by identity)
    """What a streaming action holds: its thread's lock and its sender widget's.

    ``StreamLock(store, stream_keys(thread_id, item_id), timeout, context,
    loader, request, route)``: a Struct for its constructor in C (one is made
    per stream); only ``keys``, ``held``, ``holds`` and ``timeout`` are for
    readers, the rest is its own.

    The dispatcher first tries to take them at once, before the stream starts
    (``take_now``, then ``try_now`` for a store with locks of its own: the
    usual case, nobody else on the thread); then the context it loads through the
    locked store is the handler's, and a missing thread or widget is still a
    JSON 4xx. If the thread is busy, the stream starts and ``acquire`` waits
    for the locks (or raises ``LockTimeoutError``) and reloads the action's
    context through the locked store (``loader.load_context``), since another
    action may have changed the thread or the widget meanwhile. ``release``
    lets go, shielded from cancellation (it runs as a cancelled stream
    closes), so that a disconnect cannot leave a lock held.

    Attributes:
        keys: the thread's key and the sender's (if any): what the stream holds once ``held``
            (``stream_keys``).
        held: whether the locks are taken.
        holds: the keys taken on the store itself (``LocalLocks.take_keys_now``), which
            the dispatcher hands to the loaded context (``ctx.store`` makes the view
            holding them); empty when a view of the store holds them.
        timeout: seconds ``acquire`` waits.
    """

    _store: Store
    keys: tuple[LockKey, ...]
    timeout: float | None
    _context: Any
    # What reloading the context takes (``acquire``), kept as it is: a partial made per stream
    # would cost more than this whole constructor, and the usual stream never reloads.
    _loader: ContextLoader
    _request: Any
    _route: Route
    held: bool = False
    holds: tuple[LockKey, ...] = ()
    _holding: AbstractAsyncContextManager[Store] | None = None
    _pending: AbstractAsyncContextManager[Store] | None = None  # (see take_now)

    # Not the Struct's repr (nor its __rich_repr__, which rich and structlog tracebacks prefer):
    # they would show the request context (a user, a token) to whoever logs the locals.
    def __repr__(self) -> str:
        return f"StreamLock(keys={self.keys!r}, held={self.held})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return [("keys", self.keys), ("held", self.held)]

    def take_now(self) -> Store | Literal[False] | None:
        """Take the locks if nobody holds them, without waiting: the locked store, ``None`` if busy.

        No coroutine for per-process locks (the dispatcher's fast path): with
        ``LocalLocks``' own ``lock()`` the keys are taken on the store itself
        (``holds``) and no view is made. For a store whose locks are its own
        (entering them may suspend) it returns ``False``, keeping what
        ``lock()`` gave for ``try_now`` to enter.
        """
        store = self._store
        if plain_local_locks(store):
            local: LocalLocks = store  # type: ignore[assignment]  # (no cast() call per stream)
            if not local.take_keys_now(self.keys):
                return None
            self.held = True
            self.holds = self.keys
            return store
        holding = store.lock(*self.keys, timeout=0, context=self._context)
        if not isinstance(holding, Holding):
            self._pending = holding
            return False
        view = holding.take_now()
        if view is not None:
            self._holding = holding
            self.held = True
        return view

    async def try_now(self) -> Store | None:
        """After ``take_now`` returned ``False``: enter the store's own locks (``timeout=0``).

        The locked store, or ``None`` if a key is busy.
        """
        holding, self._pending = self._pending, None
        if holding is None:
            raise RuntimeError("StreamLock.try_now() follows a take_now() that returned False")
        try:
            store = await holding.__aenter__()
        except LockTimeoutError:
            return None
        self._holding = holding
        self.held = True
        return store

    async def acquire(self) -> ActionContext[Any]:
        """Take the locks (or raise ``LockTimeoutError``) and return the reloaded context."""
        holding = self._store.lock(*self.keys, timeout=self.timeout, context=self._context)
        store = await holding.__aenter__()
        self._holding = holding
        self.held = True
        return await self._loader.load_context(self._request, self._route, self._context, store)

    def release_now(self) -> bool:
        """Release per-process locks at once (nothing that could be cancelled); ``False``: await ``release``."""
        if not self.held:
            return True
        holds = self.holds
        if holds:  # taken on a LocalLocks store itself
            self.held, self.holds = False, ()
            local: LocalLocks = self._store  # type: ignore[assignment]
            local.release_keys(holds)
            return True
        holding = self._holding
        if isinstance(holding, Holding):
            self.held, self._holding = False, None
            holding.release()
            return True
        return False

    async def release(self) -> None:
        """Release whatever was taken (idempotent)."""
        if self.release_now():
            return
        holding, self._holding = self._holding, None
        self.held = False
        assert holding is not None
        # ~3 µs on asyncio, but a store's unlock may suspend (a network round trip).
        with anyio.CancelScope(shield=True):
            await holding.__aexit__(None, None, None)
