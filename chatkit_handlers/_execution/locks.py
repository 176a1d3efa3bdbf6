"""Which locks an action holds, and for how long.

A sync action holds its sender widget's lock (``item_lock``) from loading the
widget until the handler's update is committed, so concurrent clicks on one
widget read-modify-write it one after the other. A streaming action holds its
thread's lock (``thread_lock``, one stream per thread, as ChatKit's client
assumes) and its sender's, from loading them until its writes are committed.
An action that cannot get its locks within ``lock_timeout`` seconds is refused
(sync: 409 ``item.busy``; stream: an ``error`` event whose message says which
thread or item is busy, sent with chatkit's code ``custom``), both with
``allow_retry: true``.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio

from ..errors import LockTimeoutError, RegistrationError
from ..stores import Lease, LocalLocks, LockKey, Store, item_lock, thread_lock
from ..types import ErrorEvent

__all__ = ["DEFAULT_LOCK_TIMEOUT", "ActionLocks", "busy_event", "check_store", "stream_keys", "sync_keys"]

DEFAULT_LOCK_TIMEOUT = 10.0
"""Seconds an action waits for another action on the same widget or thread."""


def check_store(store: object) -> None:
    """Refuse, when the dispatcher is built, a store without the methods serializing actions needs."""
    missing = [name for name in ("lock", "transaction") if not callable(getattr(store, name, None))]
    if missing:
        raise RegistrationError(
            f"{type(store).__name__} has no {' or '.join(f'{name}()' for name in missing)}, which "
            "chatkit_handlers.stores.Store requires to serialize actions and write atomically; "
            "mix in chatkit_handlers.stores.LocalLocks for per-process locks and add a "
            "transaction() (see docs/stores.md, 'Writing your own store')"
        )


def sync_keys(thread_id: str, item_id: str | None) -> tuple[LockKey, ...]:
    """What a sync action holds: its sender widget (nothing without one)."""
    return () if item_id is None else (item_lock(thread_id, item_id),)


def stream_keys(thread_id: str, item_id: str | None) -> tuple[LockKey, ...]:
    """What a streaming action holds: its thread (one stream per thread) and its sender, if any."""
    if item_id is None:
        return (thread_lock(thread_id),)
    return thread_lock(thread_id), item_lock(thread_id, item_id)


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


class ActionLocks:
    """The locks one action holds: taken at once when free, waited for otherwise, released once.

    A store that locks in this process (``Features.locks_in_process``) is
    asked with ``try_lock`` first, which takes free keys without a coroutine
    of the store's; any other store, and a busy key, go through ``lock()``.

    Attributes:
        keys: the keys the action holds once ``held``.
        store: the store as their holder sees it (valid while ``held``).
        held: whether the keys are taken.
    """

    __slots__ = ("_context", "_entered", "_lease", "_root", "_timeout", "_try_first", "held", "keys", "store")

    def __init__(
        self,
        store: Store,
        keys: tuple[LockKey, ...],
        timeout: float | None,
        context: Any,
        *,
        in_process: bool,
    ) -> None:
        self._root = store
        self.keys = keys
        self._timeout = timeout
        self._context = context
        self._try_first = in_process
        self._lease: Lease[Any] | None = None
        self._entered: AbstractAsyncContextManager[Store] | None = None
        self.held = False
        self.store = store

    def __repr__(self) -> str:  # never the request context (a user, a token) in a log
        return f"ActionLocks(keys={self.keys!r}, held={self.held})"

    async def take(self, *, wait: bool) -> bool:
        """Take the keys: ``True`` once held; ``False`` if one is busy and ``wait`` is false.

        With ``wait``, waits at most the timeout, then raises ``LockTimeoutError``.
        """
        if self._try_first:
            local: LocalLocks = self._root  # type: ignore[assignment]  # declared locks_in_process
            lease: Lease[Any] | None = local.try_lock(self.keys)
            if lease is not None:
                self._lease, self.store, self.held = lease, lease.store, True
                return True
        holding = self._root.lock(*self.keys, timeout=self._timeout if wait else 0, context=self._context)
        try:
            store = await holding.__aenter__()
        except LockTimeoutError:
            if wait:
                raise
            return False
        self._entered, self.store, self.held = holding, store, True
        return True

    async def release(self) -> None:
        """Release what was taken (idempotent), shielded: it runs as a cancelled stream closes."""
        self.held = False
        lease, self._lease = self._lease, None
        if lease is not None:
            lease.release()
        entered, self._entered = self._entered, None
        if entered is not None:
            with anyio.CancelScope(shield=True):  # a store's unlock may be a network round trip
                await entered.__aexit__(None, None, None)
