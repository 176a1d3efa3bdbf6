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
import msgspec

from ..errors import LockTimeoutError, RegistrationError
from ..stores import Lease, LocalLocks, LockKey, Store
from ..types import ErrorEvent

__all__ = ["DEFAULT_LOCK_TIMEOUT", "ActionLocks", "busy_event", "check_store", "stream_keys"]

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


def stream_keys(thread_id: str, item_id: str | None) -> tuple[LockKey, ...]:
    """What a streaming action holds: its thread (one stream per thread) and its sender, if any.

    The keys ``thread_lock(thread_id)`` and ``item_lock(thread_id, item_id)``,
    spelled out: this runs once per stream.
    """
    if item_id is None:
        return (("thread", thread_id),)
    return ("thread", thread_id), ("item", thread_id, item_id)


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


class ActionLocks(msgspec.Struct, eq=False):  # one per action: its constructor is msgspec's
    """The locks one action holds: taken at once when free, waited for otherwise, released once.

    ``ActionLocks(store, keys, timeout, context, in_process)``. A store that
    locks in this process (``Features.locks_in_process``) is asked with
    ``try_lock`` first (``take_now``), which takes free keys without a
    coroutine; any other store, and a busy key, go through ``lock()``
    (``take``).

    Attributes:
        keys: the keys the action holds once ``held``.
        held: whether the keys are taken.
        store: the store to read and write through while they are held: the
            view ``lock()`` gave, or the store itself.
        lease: the keys taken with ``try_lock`` (``None`` otherwise): what the
            handler's ``ctx.store`` is made from.
    """

    store: Store
    keys: tuple[LockKey, ...]
    timeout: float | None
    context: Any
    in_process: bool
    held: bool = False
    lease: Lease[Any] | None = None
    entered: AbstractAsyncContextManager[Store] | None = None

    def __repr__(self) -> str:  # never the request context (a user, a token) in a log
        return f"ActionLocks(keys={self.keys!r}, held={self.held})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:  # what rich and structlog tracebacks show
        return [("keys", self.keys), ("held", self.held)]

    def take_now(self) -> bool:
        """Take the keys if they are free, without waiting: only a store locking in this process can."""
        if self.in_process:
            local: LocalLocks = self.store  # type: ignore[assignment]  # declared locks_in_process
            self.lease = local.try_lock(self.keys)
            self.held = self.lease is not None
        return self.held

    async def take(self, *, wait: bool) -> bool:
        """Take the keys through the store's ``lock()``; ``False`` if one is busy and ``wait`` is false.

        With ``wait``, waits at most the timeout, then raises ``LockTimeoutError``.
        """
        holding = self.store.lock(*self.keys, timeout=self.timeout if wait else 0, context=self.context)
        try:
            view = await holding.__aenter__()
        except LockTimeoutError:
            if wait:
                raise
            return False
        self.entered, self.store, self.held = holding, view, True
        return True

    async def release(self) -> None:
        """Release what was taken (idempotent), shielded: it runs as a cancelled stream closes."""
        self.held = False
        lease, self.lease = self.lease, None
        if lease is not None:
            lease.release()
        entered, self.entered = self.entered, None
        if entered is not None:
            with anyio.CancelScope(shield=True):  # a store's unlock may be a network round trip
                await entered.__aexit__(None, None, None)
