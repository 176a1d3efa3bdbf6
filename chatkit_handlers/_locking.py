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
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import anyio

from .errors import LockTimeoutError
from .stores import LockKey, Store, item_lock, thread_lock
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
    """What a streaming action holds, taken once the stream has started.

    ``acquire`` takes the thread's and the sender's locks and then reloads the
    action's context through the locked store (another action may have changed
    the thread or the widget while this one waited); ``release`` lets go,
    shielded from cancellation so that a disconnect cannot leave a lock held.
    """

    __slots__ = ("_context", "_keys", "_load", "_stack", "_store", "timeout")

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
        self._keys = (thread_lock(thread_id), *sync_keys(thread_id, item_id))
        self._context = context
        self._load = load
        self._stack = AsyncExitStack()
        self.timeout = timeout

    async def acquire(self) -> ActionContext[Any]:
        """Take the locks (or raise ``LockTimeoutError``) and return the reloaded context."""
        locked = self._store.lock(*self._keys, timeout=self.timeout, context=self._context)
        store = await self._stack.enter_async_context(locked)
        return await self._load(store)

    async def release(self) -> None:
        """Release whatever was taken (idempotent)."""
        with anyio.CancelScope(shield=True):
            await self._stack.aclose()
