"""Loading what an action acts on: its thread and its sender widget, or a precise 4xx."""

from __future__ import annotations

from typing import Any, Protocol

from .._action.context import ActionContext
from .._routing.route import Route
from ..errors import DispatchError, NotFoundError
from ..stores import Features, Store
from ..types import CustomActionParams, ThreadItem, ThreadMetadata, WidgetItem

__all__ = ["ContextLoader"]


class _LoadsThreadAndItem(Protocol):
    async def load_thread_and_item(
        self, thread_id: str, item_id: str, *, context: Any
    ) -> tuple[ThreadMetadata, ThreadItem | None]: ...


class ContextLoader:
    """Loads an action's thread and sender through a store and makes its ``ActionContext``.

    Uses the store's combined load when it declares one (``Features``).
    """

    __slots__ = ("_combined",)

    def __init__(self, features: Features) -> None:
        self._combined = features.loads_thread_and_item

    async def load(
        self, store: Store, params: CustomActionParams, route: Route, context: Any
    ) -> ActionContext[Any]:
        """The action's context, loaded through ``store`` (the locked one); 404 for a missing thread or item."""
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
        return ActionContext(
            thread=thread,
            sender=_sender(item, params, route),
            action_type=route.type,
            store=store,
            context=context,
        )


async def _load_item(store: Store, thread_id: str, item_id: str, context: Any) -> ThreadItem | None:
    try:
        return await store.load_item(thread_id, item_id, context=context)
    except NotFoundError:
        return None


def _sender(item: ThreadItem | None, params: CustomActionParams, route: Route) -> WidgetItem | None:
    """The sender widget, checked: 404 when it is missing, 400 when it is no widget or none was sent."""
    if params.item_id is None:
        if route.sender_required:
            raise DispatchError(
                400,
                "item.required",
                f"action {route.type!r} needs the widget that sent it, but no item_id was "
                "given; send it from a widget (or pass itemId to sendCustomAction)",
            )
        return None
    if item is None:
        raise DispatchError(
            404, "item.not_found", f"item {params.item_id!r} not found in thread {params.thread_id!r}"
        )
    if not isinstance(item, WidgetItem):
        raise DispatchError(
            400,
            "item.not_widget",
            f"item {params.item_id!r} is a {item.__struct_config__.tag!r}, not a widget",
        )
    return item
