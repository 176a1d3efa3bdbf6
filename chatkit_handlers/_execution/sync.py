"""Running a sync action (``threads.sync_custom_action``): one handler call, its update saved.

The sender widget's lock is held from loading the widget until the handler's
update is committed, so concurrent clicks on one widget read-modify-write it
one after the other. The handler's updated item and a changed thread are
saved all or nothing; a handler that raises leaves the store as it was.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from .._action.context import ActionContext, thread_change
from .._routing.pipeline import call_sync
from .._routing.providers import Extras
from .._routing.route import Route
from .._wire.coerce import to_updated_item
from .._wire.encode import encode
from ..stores import Features, Store
from ..types import CustomActionParams, ThreadItem
from .loading import ContextLoader
from .locks import ActionLocks, sync_keys

__all__ = ["SyncOutcome", "SyncRunner"]


class _SavesItemJSON(Protocol):
    async def save_item_json(
        self, thread_id: str, item: ThreadItem, data: bytes, *, context: Any
    ) -> None: ...


class SyncOutcome(NamedTuple):
    """What a sync action did: its context, the ``updated_item`` (or ``None``) and that item's JSON if encoded."""

    ctx: ActionContext[Any]
    item: ThreadItem | None
    data: bytes | None


class SyncRunner:
    """Runs sync actions on one store: lock, load, call the handler, save, release.

    Shared by the dispatcher (which answers the outcome as JSON) and the
    ChatKitServer bridge (which hands it to chatkit).
    """

    __slots__ = ("_features", "_loader", "_store", "lock_timeout")

    def __init__(self, store: Store, features: Features, loader: ContextLoader, lock_timeout: float | None):
        self._store = store
        self._features = features
        self._loader = loader
        self.lock_timeout = lock_timeout

    async def run(
        self, params: CustomActionParams, route: Route, payload: Any, context: Any, extras: Extras | None
    ) -> SyncOutcome:
        """Run the action; raises what refused it (``DispatchError``, ``LockTimeoutError``) or what the handler raised."""
        keys = sync_keys(params.thread_id, params.item_id)
        if not keys:  # no sender: nothing to read-modify-write, nothing to lock
            ctx = await self._loader.load(self._store, params, route, context)
            return await self.apply(route, ctx, payload, extras, self._store)
        locks = ActionLocks(
            self._store, keys, self.lock_timeout, context, in_process=self._features.locks_in_process
        )
        await locks.take(wait=True)
        try:
            ctx = await self._loader.load(locks.store, params, route, context)
            return await self.apply(route, ctx, payload, extras, locks.store)
        finally:
            await locks.release()

    async def apply(
        self, route: Route, ctx: ActionContext[Any], payload: Any, extras: Extras | None, store: Store
    ) -> SyncOutcome:
        """Call the handler and persist its update and thread change through ``store``, all or nothing.

        Two writes (the thread and the item) go in one store transaction; one
        write is atomic by itself and goes straight to the store.
        """
        item = to_updated_item(await call_sync(route, ctx, payload, extras), ctx.sender, route.type)
        thread = thread_change(ctx)
        context = ctx.context
        if thread is not None and item is not None:
            async with store.transaction(context=context) as tx:
                await tx.save_thread(thread, context=context)
                await tx.save_item(thread.id, item, context=context)
        elif thread is not None:
            await store.save_thread(thread, context=context)
        elif item is not None and self._features.saves_item_json:
            data = encode(item)  # saved and sent as it is: encoded once
            saver: _SavesItemJSON = store  # type: ignore[assignment]  # declared by the store
            await saver.save_item_json(ctx.thread_id, item, data, context=context)
            return SyncOutcome(ctx, item, data)
        elif item is not None:
            await store.save_item(ctx.thread_id, item, context=context)
        return SyncOutcome(ctx, item, None)
