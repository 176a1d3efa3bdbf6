"""What a stream persists, and when.

The dispatcher persists on the handler's behalf: ``thread.item.done`` adds the
item, ``thread.item.replaced`` saves it, ``thread.item.removed`` deletes it,
widget updates of stored items (``widget.root.updated``,
``widget.component.updated``, text deltas) are applied to the stored widget, and
a changed thread is saved. chatkit-python writes each of these as the event
passes and never persists widget updates; here they are collected while the
handler runs and written only once it has finished without an error, so a
handler that raises (or a client that disconnects) leaves the store as it was.

The flush is one store transaction (all or nothing on every backend; a single
write is atomic by itself and needs none), shielded from cancellation on a
store that can suspend (a client that disconnects once the handler has
finished does not cut it in half; a store declaring ``never_suspends`` cannot
be cut), and holds the item lock of every stored widget it
rewrites from a partial update, so it never loses a concurrent sync action's
update of that widget.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol, Union

import msgspec
from anyio import CancelScope

from .._wire.widget_tree import apply_widget_update
from ..errors import ChatKitHandlersError, NotFoundError
from ..stores import LockKey, Store, item_lock
from ..types import (
    WIDGET_UPDATE_TYPES,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    WidgetItem,
    WidgetRootUpdated,
    WidgetUpdate,
)

__all__ = ["Replayed", "WriteBuffer", "consume", "consumed"]


class Replayed(ChatKitHandlersError):
    """The action's widget was consumed first by another action (``once=True``): its writes are dropped.

    Raised inside the transaction that would have recorded it, which rolls back.
    """


class _RecordsConsumed(Protocol):
    async def consumed(self, thread_id: str, item_id: str, action: str, *, context: Any) -> bool: ...

    async def consume(self, thread_id: str, item_id: str, action: str, *, context: Any) -> bool: ...


async def consumed(store: Store, thread_id: str, item_id: str, action: str, context: Any) -> bool:
    """Whether a ``once`` action from widget ``item_id`` took effect already (a replay, or a double click)."""
    records: _RecordsConsumed = store  # type: ignore[assignment]  # declared records_consumed
    return await records.consumed(thread_id, item_id, action, context=context)


async def consume(store: Store, thread_id: str, item_id: str, action: str, context: Any) -> None:
    """Record that a ``once`` action took effect, in ``store``'s transaction; ``Replayed`` if one had."""
    records: _RecordsConsumed = store  # type: ignore[assignment]  # declared records_consumed
    if not await records.consume(thread_id, item_id, action, context=context):
        raise Replayed(f"action {action!r} from widget {item_id!r} took effect already")


_Op = Union[tuple[str, ThreadItem], tuple[str, str]]


def _applied(item: WidgetItem, updates: list[WidgetUpdate]) -> WidgetItem:
    """``item`` with ``updates`` applied to its widget, in order (``item`` itself is left untouched)."""
    root = item.widget
    for update in updates:
        root = update.widget if isinstance(update, WidgetRootUpdated) else apply_widget_update(root, update)
    return msgspec.structs.replace(item, widget=root)


class WriteBuffer(msgspec.Struct, eq=False):  # compared by identity, as a plain object
    """Collects the writes a stream implies, to apply after the handler finished.

    ``WriteBuffer(thread_id, sender, persist_items=True)``. With
    ``persist_items=False`` the items of ``done``/``replaced``/``removed``
    events are left to whoever already writes them as they pass (chatkit, under
    the ChatKitServer bridge): only widget updates and the thread are written.
    """

    _thread_id: str
    _sender: WidgetItem | None
    persist_items: bool = True
    _ops: list[_Op] = msgspec.field(default_factory=list)
    _known: dict[str, ThreadItem] = msgspec.field(default_factory=dict)
    _updates: dict[str, list[WidgetUpdate]] = msgspec.field(default_factory=dict)
    _streaming: set[str] = msgspec.field(default_factory=set)
    _removed: set[str] = msgspec.field(default_factory=set)
    _thread: ThreadMetadata | None = None
    _consumes: str | None = None  # the once route whose consumption of the sender is recorded

    # Not the Struct's repr (nor its __rich_repr__): they would show every item and widget held.
    def __repr__(self) -> str:
        return f"WriteBuffer(thread_id={self._thread_id!r}, pending={bool(self)})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return [("thread_id", self._thread_id), ("pending", bool(self))]

    def __bool__(self) -> bool:
        return bool(self._ops or self._updates or self._thread is not None or self._consumes is not None)

    def consume(self, action: str) -> None:
        """Record, with the writes, that ``action`` (a ``once`` route) consumed the sender widget."""
        self._consumes = action

    def record(self, event: ThreadStreamEvent) -> None:
        """Note what ``event`` means for the store."""
        if isinstance(event, ThreadItemUpdatedEvent):  # first: a stream's most frequent event
            update = event.update
            if (
                isinstance(update, WIDGET_UPDATE_TYPES)
                and event.item_id not in self._streaming
                # Saving the update of a removed item at flush would bring the item back.
                and event.item_id not in self._removed
            ):
                # Other updates (assistant message parts, workflow tasks) only matter while an
                # item streams; its thread.item.done carries the final item.
                if isinstance(update, WidgetRootUpdated):
                    # A new root makes every earlier update of the item moot: a stream sending
                    # one every second keeps one root here, not one per second until it ends.
                    self._updates[event.item_id] = [update]
                else:
                    self._updates.setdefault(event.item_id, []).append(update)
        elif isinstance(event, ThreadItemDoneEvent):
            self._streaming.discard(event.item.id)
            self._set(("add", event.item), event.item)
        elif isinstance(event, ThreadItemReplacedEvent):
            self._set(("save", event.item), event.item)
        elif isinstance(event, ThreadItemRemovedEvent):
            if self.persist_items:
                self._ops.append(("delete", event.item_id))
            self._removed.add(event.item_id)
            self._known.pop(event.item_id, None)
            self._updates.pop(event.item_id, None)
        elif isinstance(event, ThreadItemAddedEvent):
            # Its thread.item.done carries the final item; updates until then are transient.
            self._streaming.add(event.item.id)

    def save_thread(self, thread: ThreadMetadata) -> None:
        """Save ``thread`` (its latest state) at flush."""
        self._thread = thread

    def _set(self, op: _Op, item: ThreadItem) -> None:
        if self.persist_items:
            self._ops.append(op)
        self._removed.discard(item.id)
        self._known[item.id] = item
        self._updates.pop(item.id, None)

    async def flush(
        self,
        store: Store,
        context: Any,
        *,
        held: Collection[LockKey] = (),
        lock_timeout: float | None = None,
        shield: bool = True,
    ) -> None:
        """Apply every collected write, in the order the events implied them, all or nothing
        (nothing collected, nothing written: the caller need not ask first).

        ``store`` holds the keys in ``held`` already (a stream's thread and
        sender); the locks of other widgets updated in place are taken first,
        waiting at most ``lock_timeout`` seconds (``LockTimeoutError`` then, and
        nothing is written). ``shield=False`` for a store that never suspends,
        which nothing could cancel halfway. ``Replayed`` (nothing written) when
        the sender was consumed first by another action (see ``consume``).
        """
        tid = self._thread_id
        rewritten = [key for item_id in self._updates if (key := item_lock(tid, item_id)) not in held]
        if rewritten:
            with CancelScope(shield=True):
                async with store.lock(*rewritten, timeout=lock_timeout, context=context) as locked:
                    await self._commit(locked, context)
        elif shield:
            with CancelScope(shield=True):
                await self._commit(store, context)
        else:
            await self._commit(store, context)

    async def _commit(self, store: Store, context: Any, *, atomic: bool = False) -> None:
        """The writes, through ``store``; several go in one transaction (one is atomic by itself)."""
        writes = (
            (self._thread is not None) + (self._consumes is not None) + len(self._ops) + len(self._updates)
        )
        if not atomic and writes > 1:
            async with store.transaction(context=context) as tx:
                await self._commit(tx, context, atomic=True)
            return
        tid = self._thread_id
        if self._consumes is not None and self._sender is not None:  # first: a replay writes nothing
            await consume(store, tid, self._sender.id, self._consumes, context)
        if self._thread is not None:
            await store.save_thread(self._thread, context=context)
        for kind, arg in self._ops:
            if kind == "add":
                await store.add_thread_item(tid, arg, context=context)  # type: ignore[arg-type]
            elif kind == "save":
                await store.save_item(tid, arg, context=context)  # type: ignore[arg-type]
            else:
                await store.delete_thread_item(tid, arg, context=context)  # type: ignore[arg-type]
        sender = self._sender
        for item_id, updates in self._updates.items():
            base = self._known.get(item_id)
            if base is None:
                if sender is not None and sender.id == item_id:
                    base = sender
                else:
                    base = await self._load(store, item_id, context)
            if isinstance(base, WidgetItem):
                await store.save_item(tid, _applied(base, updates), context=context)

    async def _load(self, store: Store, item_id: str, context: Any) -> ThreadItem | None:
        """The stored item an update applies to (neither known from the stream nor the sender)."""
        try:
            return await store.load_item(self._thread_id, item_id, context=context)
        except NotFoundError:
            return None  # an update of an item that was never stored: nothing to persist
