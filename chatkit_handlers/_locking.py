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

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import anyio

from .errors import LockTimeoutError
from .stores import LockKey, Store, item_lock, thread_lock
from .stores._locks import Holding
from .types import ErrorEvent

if TYPE_CHECKING:
    from ._context import ActionContext

__all__ = ["DEFAULT_LOCK_TIMEOUT", "StreamLock", "busy_event", "check_store", "sync_keys"]

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


class StreamLock:
    """What a streaming action holds: its thread's lock and its sender widget's.

    The dispatcher first tries to take them at once, before the stream starts
    (``try_now``: the usual case, nobody else on the thread); then the context
    it loads through the locked store is the handler's, and a missing thread
    or widget is still a JSON 4xx. If the thread is busy, the stream starts and
    ``acquire`` waits for the locks (or raises ``LockTimeoutError``) and
    reloads the action's context through the locked store, since another
    action may have changed the thread or the widget meanwhile. ``release``
    lets go, shielded from cancellation (it runs as a cancelled stream
    closes), so that a disconnect cannot leave a lock held.
    """

    __slots__ = ("_context", "_holding", "_keys", "_load", "_store", "timeout")

    def __init__(
        self,
        store: Store,
        thread_id: str,
        item_id: str | None,
        *,
        timeout: float | None,
        context: Any,
        load: Callable[[Store], Awaitable[ActionContext[Any]]],
    ) -> None:
        self._store = store
        self._keys: tuple[LockKey, ...] = (
            (thread_lock(thread_id),)
            if item_id is None
            else (thread_lock(thread_id), item_lock(thread_id, item_id))
        )
        self._context = context
        self._load = load
        self._holding: AbstractAsyncContextManager[Store] | None = None
        self.timeout = timeout

    @property
    def keys(self) -> tuple[LockKey, ...]:
        """The thread's key and the sender's (if any): what the stream holds once ``held``."""
        return self._keys

    @property
    def held(self) -> bool:
        """Whether the locks are taken."""
        return self._holding is not None

    async def try_now(self) -> Store | None:
        """Take the locks if nobody holds them (without waiting): the locked store, or ``None``."""
        holding = self._store.lock(*self._keys, timeout=0, context=self._context)
        if isinstance(holding, Holding):  # per-process locks: no coroutine to enter
            store = holding.take_now()
        else:
            try:
                store = await holding.__aenter__()
            except LockTimeoutError:
                return None
        if store is not None:
            self._holding = holding
        return store

    async def acquire(self) -> ActionContext[Any]:
        """Take the locks (or raise ``LockTimeoutError``) and return the reloaded context."""
        holding = self._store.lock(*self._keys, timeout=self.timeout, context=self._context)
        store = await holding.__aenter__()
        self._holding = holding
        return await self._load(store)

    async def release(self) -> None:
        """Release whatever was taken (idempotent)."""
        holding, self._holding = self._holding, None
        if isinstance(holding, Holding):
            holding.release()  # per-process locks: released at once, nothing that could be cancelled
        elif holding is not None:
            # ~3 µs on asyncio, but a store's unlock may suspend (a network round trip).
            with anyio.CancelScope(shield=True):
                await holding.__aexit__(None, None, None)
