"""What both runners share: a store, its declared features, and loading an action's thread and sender."""

from __future__ import annotations

from typing import Any, Protocol

from .._action.context import ActionContext
from .._routing.route import Route
from ..errors import DispatchError, NotFoundError
from ..stores import Features, Lease, Store
from ..types import CustomActionParams, ThreadItem, ThreadMetadata, WidgetItem
from .persist import consumed

__all__ = ["ActionRunner"]


class _LoadsThreadAndItem(Protocol):
    async def load_thread_and_item(
        self, thread_id: str, item_id: str, *, context: Any
    ) -> tuple[ThreadMetadata, ThreadItem | None]: ...


class ActionRunner:
    """The base of the sync and the stream runner: one store, what it declares, the lock timeout.

    ``load`` reads an action's thread and sender and makes its ``ActionContext``,
    with the store's combined load when it declares one (``Features``).
    """

    __slots__ = ("_combined", "_features", "_store", "lock_timeout")

    def __init__(self, store: Store, features: Features, lock_timeout: float | None) -> None:
        self._store = store
        self._features = features
        self._combined = features.loads_thread_and_item
        self.lock_timeout = lock_timeout

    async def load(
        self,
        store: Store,
        params: CustomActionParams,
        route: Route,
        context: Any,
        lease: Lease[Any] | None = None,
    ) -> ActionContext[Any]:
        """The action's context, loaded through ``store`` (the locked one, or the store whose ``lease`` the action holds).

        404 for a missing thread or sender, 400 when the sender is no widget or
        the handler needs one and none was sent.
        """
        thread_id, item_id = params.thread_id, params.item_id
        item: ThreadItem | None = None
        try:
            if item_id is not None and self._combined:
                both: _LoadsThreadAndItem = store  # type: ignore[assignment]  # declared by the store
                thread, item = await both.load_thread_and_item(thread_id, item_id, context=context)
            else:
                thread = await store.load_thread(thread_id, context=context)
                if item_id is not None:
                    item = await _load_item(store, thread_id, item_id, context)
        except NotFoundError:
            raise DispatchError(404, "thread.not_found", f"thread {thread_id!r} not found") from None
        sender: WidgetItem | None = None
        if item_id is None:
            if route.sender_required:
                raise DispatchError(
                    400,
                    "item.required",
                    f"action {route.type!r} needs the widget that sent it, but no item_id was "
                    "given; send it from a widget (or pass itemId to sendCustomAction)",
                )
        elif item is None:
            raise DispatchError(404, "item.not_found", f"item {item_id!r} not found in thread {thread_id!r}")
        elif isinstance(item, WidgetItem):
            sender = item
        else:
            raise DispatchError(
                400, "item.not_widget", f"item {item_id!r} is a {item.__struct_config__.tag!r}, not a widget"
            )
        held = store if lease is None else lease  # what ctx.store is: the holder's view
        return ActionContext(
            thread=thread, sender=sender, action_type=route.type, store=held, context=context
        )

    async def replayed(self, store: Store, route: Route, ctx: ActionContext[Any]) -> bool:
        """Whether a ``once`` action's sender was consumed already (a replay, a double click)."""
        assert ctx.sender is not None  # once routes require their sender
        return await consumed(store, ctx.thread.id, ctx.sender.id, route.registered_type, ctx.context)


async def _load_item(store: Store, thread_id: str, item_id: str, context: Any) -> ThreadItem | None:
    try:
        return await store.load_item(thread_id, item_id, context=context)
    except NotFoundError:
        return None
