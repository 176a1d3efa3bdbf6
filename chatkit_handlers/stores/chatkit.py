"""``ChatKitStoreAdapter``: reuse an openai-chatkit ``Store`` unchanged.

The one-endpoint Litestar mode and the ``ChatKitServer`` bridge use it to share
the server's own chatkit store, and anyone may use it to keep the store they
have. Needs the ``chatkit`` extra (openai-chatkit and pydantic), so
``chatkit_handlers.stores`` imports it only when it is asked for. Conversion
(msgspec ⇄ pydantic, see ``_convert``) is paid only at this boundary; widgets
cross as chatkit's dynamic widget models, which keep every property.

What comes back is what chatkit would serve: chatkit's models fill in their
defaults and order the fields their way, so a round trip is equal on the wire
to what chatkit sends, and byte-for-byte stable from the second trip on.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, Literal, Self, TypeVar

import anyio
from chatkit.store import NotFoundError as ChatKitNotFoundError

from .._wire.chatkit import item_to_chatkit, thread_from_chatkit, thread_to_chatkit
from .._wire.coerce import to_item
from ..errors import NotFoundError
from ..types import Page, ThreadItem, ThreadMetadata
from ._locks import LocalLocks

__all__ = ["ChatKitStoreAdapter"]

T = TypeVar("T")
_Step = Callable[[], Awaitable[None]]
_Undo = list[_Step]


class ChatKitStoreAdapter(LocalLocks):
    """A chatkit-handlers ``Store`` over any openai-chatkit ``Store``.

    >>> store = ChatKitStoreAdapter(MyPostgresChatKitStore())  # doctest: +SKIP

    The wrapped store's ``context`` handling (per-user scoping) applies as is;
    its ``chatkit.store.NotFoundError`` becomes ours (404).

    Locks are per process (a chatkit ``Store`` has none): actions are
    serialized within one server process. Transactions are emulated: before
    each write the item's (or thread's) previous state is read, and when the
    block raises, those states are written back in reverse order. That makes a
    failed transaction leave the data as it was, provided the wrapped store
    itself still works; it is not isolated (others may see writes before the
    block ends), and an item deleted and then restored moves to the end of its
    thread.

    Item types chatkit-handlers does not model raise ``TypeError`` (naming the
    type) when loaded.

    Consumed widget actions (``on_action(..., once=True)``) are remembered in
    this process, for as long as it runs: a chatkit ``Store`` has no place for
    them. Within one process a replay or a double click takes effect once;
    after a restart, or with several server processes, it may take effect
    again. Where that matters, keep consume-once routes on a store of this
    package (``SQLiteStore``, ``PostgresStore``), which records them with the
    action's writes.

    Attributes:
        store: the chatkit ``Store`` used.
    """

    records_consumed = True

    def __init__(self, store: Any) -> None:
        LocalLocks.__init__(self)
        self.store = store
        self._undo: _Undo | None = None
        self._consumed: set[tuple[str, str, str]] = set()  # shared by the transaction views

    async def consumed(self, thread_id: str, item_id: str, action: str, *, context: Any = None) -> bool:
        """Whether ``action`` from widget ``item_id`` took effect already, in this process."""
        return (thread_id, item_id, action) in self._consumed

    async def consume(self, thread_id: str, item_id: str, action: str, *, context: Any = None) -> bool:
        """Record, in this process, that ``action`` from widget ``item_id`` took effect; ``False`` if it had."""
        key = (thread_id, item_id, action)
        if key in self._consumed:
            return False
        self._consumed.add(key)
        if self._undo is not None:
            self._undo.append(lambda: _forget(self._consumed, key))
        return True

    def __repr__(self) -> str:
        return f"ChatKitStoreAdapter({self.store!r})"

    async def load_thread(self, thread_id: str, *, context: Any = None) -> ThreadMetadata:
        return thread_from_chatkit(await _found(self.store.load_thread(thread_id, context=context)))

    async def save_thread(self, thread: ThreadMetadata, *, context: Any = None) -> None:
        undo = await self._undo_thread(thread.id, context)
        await _found(self.store.save_thread(thread_to_chatkit(thread), context=context))
        self._on_undo(undo)

    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: Literal["asc", "desc"],
        *,
        context: Any = None,
    ) -> Page:
        page = await _found(self.store.load_thread_items(thread_id, after, limit, order, context=context))
        return Page(data=[to_item(item) for item in page.data], has_more=page.has_more, after=page.after)

    async def load_threads(
        self,
        limit: int,
        after: str | None,
        order: Literal["asc", "desc"],
        *,
        context: Any = None,
    ) -> Page[ThreadMetadata]:
        """The chatkit store's ``load_threads``: its order, and its scoping of ``context``."""
        page = await _found(self.store.load_threads(limit, after, order, context=context))
        return Page(
            data=[thread_from_chatkit(thread) for thread in page.data],
            has_more=page.has_more,
            after=page.after,
        )

    async def load_item(self, thread_id: str, item_id: str, *, context: Any = None) -> ThreadItem:
        return to_item(await _found(self.store.load_item(thread_id, item_id, context=context)))

    async def add_thread_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
        undo = await self._undo_item(thread_id, item.id, context)
        await _found(self.store.add_thread_item(thread_id, item_to_chatkit(item), context=context))
        self._on_undo(undo)

    async def save_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
        undo = await self._undo_item(thread_id, item.id, context)
        await _found(self.store.save_item(thread_id, item_to_chatkit(item), context=context))
        self._on_undo(undo)

    async def delete_thread_item(self, thread_id: str, item_id: str, *, context: Any = None) -> None:
        undo = await self._undo_item(thread_id, item_id, context)
        await _found(self.store.delete_thread_item(thread_id, item_id, context=context))
        self._on_undo(undo)

    async def close(self) -> None:
        """Nothing to close here: the chatkit store belongs to the app (close it as it says)."""

    @asynccontextmanager
    async def transaction(self, *, context: Any = None) -> AsyncIterator[Self]:
        """Emulated: writes are undone when the block raises (see the class docstring)."""
        if self._undo is not None:
            yield self
            return
        view = copy.copy(self)
        undo: _Undo = []
        view._undo = undo
        try:
            yield view
        except BaseException:
            with anyio.CancelScope(shield=True):
                for step in reversed(undo):
                    await step()
            raise

    def _on_undo(self, step: _Step | None) -> None:
        if step is not None and self._undo is not None:
            self._undo.append(step)

    async def _undo_thread(self, thread_id: str, context: Any) -> _Step | None:
        """How to put the thread back as it is now (inside a transaction only)."""
        if self._undo is None:
            return None
        store = self.store
        previous = await self._previous(store.load_thread(thread_id, context=context))
        if previous is None:
            return lambda: _quietly(store.delete_thread(thread_id, context=context))
        return lambda: _quietly(store.save_thread(previous, context=context))

    async def _undo_item(self, thread_id: str, item_id: str, context: Any) -> _Step | None:
        """How to put the item back as it is now (inside a transaction only)."""
        if self._undo is None:
            return None
        store = self.store
        previous = await self._previous(store.load_item(thread_id, item_id, context=context))
        if previous is None:
            return lambda: _quietly(store.delete_thread_item(thread_id, item_id, context=context))
        return lambda: _quietly(store.save_item(thread_id, previous, context=context))

    @staticmethod
    async def _previous(load: Awaitable[T]) -> T | None:
        try:
            return await load
        except ChatKitNotFoundError:
            return None


async def _found(call: Awaitable[T]) -> T:
    try:
        return await call
    except ChatKitNotFoundError as exc:
        raise NotFoundError(str(exc) or "not found") from None


async def _quietly(call: Awaitable[None]) -> None:
    # Undoing a write of a thread that has vanished meanwhile is nothing to undo.
    with suppress(ChatKitNotFoundError):
        await call


async def _forget(consumed: set[tuple[str, str, str]], key: tuple[str, str, str]) -> None:
    consumed.discard(key)
