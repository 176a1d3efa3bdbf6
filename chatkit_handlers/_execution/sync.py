"""Running a sync action (``threads.sync_custom_action``): one handler call, its update saved.

The sender widget's lock is held from loading the widget until the handler's
update is committed, so concurrent clicks on one widget read-modify-write it
one after the other. The handler's updated item and a changed thread are
saved all or nothing; a handler that raises leaves the store as it was.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, Protocol

import msgspec

from .._action.context import ActionContext, thread_change
from .._routing.pipeline import call_sync
from .._routing.providers import Extras
from .._routing.route import Route
from .._wire.coerce import to_updated_item
from .._wire.encode import encode
from ..stores import Lease, LocalLocks, Store, item_lock
from ..types import CustomActionParams, ThreadItem, ThreadMetadata
from .loading import ActionRunner
from .locks import ActionLocks
from .observe import ActionRecord
from .persist import Replayed, consume

__all__ = ["SyncOutcome", "SyncRunner"]


class _SavesItemJSON(Protocol):
    async def save_item_json(
        self, thread_id: str, item: ThreadItem, data: bytes, *, context: Any
    ) -> None: ...


class SyncOutcome(msgspec.Struct, frozen=True):
    """What a sync action did: its context, the ``updated_item`` (or ``None``) and that item's JSON if encoded."""

    ctx: ActionContext[Any]
    item: ThreadItem | None
    data: bytes | None = None


class SyncRunner(ActionRunner):
    """Runs sync actions on one store: lock, load, call the handler, save, release.

    Shared by the dispatcher (which answers the outcome as JSON) and the
    ChatKitServer bridge (which hands it to chatkit).
    """

    __slots__ = ()

    async def run(
        self,
        params: CustomActionParams,
        route: Route,
        payload: Any,
        context: Any,
        extras: Extras | None,
        record: ActionRecord | None = None,
    ) -> SyncOutcome:
        """Run the action; raises what refused it (``DispatchError``, ``LockTimeoutError``) or what the handler raised.

        The sender's lock is taken at once when it is free (``try_lock`` for a
        store locking in this process, ``lock()`` without waiting for others),
        else waited for through ``lock()``, once the caller is known to see the
        thread and the widget. An observed action's ``record`` hears when the
        lock was held and when the handler returned.
        """
        if params.item_id is None:  # no sender: nothing to read-modify-write, nothing to lock
            return await self._run_holding(self._store, params, route, payload, context, extras, record)
        keys = (item_lock(params.thread_id, params.item_id),)
        if self._features.locks_in_process:
            local: LocalLocks = self._store  # type: ignore[assignment]  # declared locks_in_process
            lease: Lease[Any] | None = local.try_lock(keys)
            if lease is not None:
                try:
                    return await self._run_holding(
                        self._store, params, route, payload, context, extras, record, lease
                    )
                finally:
                    lease.release()
        locks = ActionLocks(self._store, keys, self.lock_timeout, context, False)
        if not self._features.owner_scoped:  # every caller sees the thread: nothing to check first
            await locks.take(wait=True)
        elif self._features.locks_in_process or not await locks.take(wait=False):
            # Busy: a thread the caller may not see (another user's) is refused now, without
            # waiting for the locks of an action on it (which would tell that it exists).
            await self.load(self._store, params, route, context)
            await locks.take(wait=True)
        try:
            return await self._run_holding(locks.store, params, route, payload, context, extras, record)
        finally:
            await locks.release()

    async def _run_holding(
        self,
        store: Store,
        params: CustomActionParams,
        route: Route,
        payload: Any,
        context: Any,
        extras: Extras | None,
        record: ActionRecord | None,
        lease: Lease[Any] | None = None,
    ) -> SyncOutcome:
        """Load through ``store`` (which holds the sender's lock, or whose ``lease`` the action holds),
        call the handler, persist its update.

        The updated item and a changed thread are saved all or nothing: two
        writes in one store transaction, one write (atomic by itself) straight.
        """
        if record is not None:
            record.locked = perf_counter()
        ctx = await self.load(store, params, route, context, lease)
        if route.once and await self.replayed(store, route, ctx):
            return SyncOutcome(ctx, ctx.sender)  # the client catches up with the stored widget
        result = await call_sync(route, ctx, payload, extras)
        if record is not None:
            record.handled = perf_counter()
        item = to_updated_item(result, ctx.sender, route.type)
        thread = thread_change(ctx)
        if route.once:
            return await self._commit_once(store, params, route, context, ctx, thread, item)
        if thread is not None and item is not None:
            async with store.transaction(context=context) as tx:
                await tx.save_thread(thread, context=context)
                await tx.save_item(params.thread_id, item, context=context)
        elif thread is not None:
            await store.save_thread(thread, context=context)
        elif item is not None and self._features.saves_item_json:
            data = encode(item)  # saved and sent as it is: encoded once
            saver: _SavesItemJSON = store  # type: ignore[assignment]  # declared by the store
            await saver.save_item_json(params.thread_id, item, data, context=context)
            return SyncOutcome(ctx, item, data)
        elif item is not None:
            await store.save_item(params.thread_id, item, context=context)
        return SyncOutcome(ctx, item)

    async def _commit_once(
        self,
        store: Store,
        params: CustomActionParams,
        route: Route,
        context: Any,
        ctx: ActionContext[Any],
        thread: ThreadMetadata | None,
        item: ThreadItem | None,
    ) -> SyncOutcome:
        """Save a ``once`` action's writes with the record that it consumed its sender, all or nothing.

        Another action that recorded it first (a process not sharing this
        one's locks) wins: nothing is written, and the answer is the stored widget.
        """
        assert ctx.sender is not None  # once routes require their sender
        try:
            async with store.transaction(context=context) as tx:
                await consume(tx, params.thread_id, ctx.sender.id, route.registered_type, context)
                if thread is not None:
                    await tx.save_thread(thread, context=context)
                if item is not None:
                    await tx.save_item(params.thread_id, item, context=context)
        except Replayed:
            return SyncOutcome(ctx, await store.load_item(params.thread_id, ctx.sender.id, context=context))
        return SyncOutcome(ctx, item)
