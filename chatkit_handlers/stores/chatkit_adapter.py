"""``ChatKitStoreAdapter``: reuse an openai-chatkit ``Store`` unchanged.

Needs the ``chatkit`` extra (openai-chatkit and pydantic); this is the only
module of the stores that imports them. Items cross the boundary as JSON: our
Structs are encoded once and validated by chatkit's pydantic models on the way
in, and chatkit's models are dumped as chatkit serializes them on the way out.
That is the only place the conversion cost is paid.

What goes into a chatkit store comes back the way chatkit normalizes it
(fields in its models' order, its defaults filled in, e.g. an ActionConfig's
``"handler": "server"``): equal on the wire to what chatkit itself would send,
not byte-for-byte what was saved. A second round trip is byte-for-byte stable.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, Literal, Self, TypeVar

import anyio
import msgspec
from chatkit.store import NotFoundError as ChatKitNotFoundError
from chatkit.store import Store as ChatKitStore
from chatkit.types import ThreadItem as ChatKitThreadItem
from chatkit.types import ThreadMetadata as ChatKitThreadMetadata
from pydantic import BaseModel, TypeAdapter

from ..errors import NotFoundError
from ..types import Page, ThreadItem, ThreadMetadata
from ._locks import LocalLocks

__all__ = ["ChatKitStoreAdapter"]

T = TypeVar("T")
_Step = Callable[[], Awaitable[None]]
_Undo = list[_Step]

_encode = msgspec.json.Encoder().encode
_decode_thread = msgspec.json.Decoder(ThreadMetadata).decode
_item_decoder: msgspec.json.Decoder[ThreadItem] = msgspec.json.Decoder(ThreadItem)
_decode_item = _item_decoder.decode
_decode_page = msgspec.json.Decoder(Page).decode
_chatkit_item: TypeAdapter[Any] = TypeAdapter(ChatKitThreadItem)


def _dump(model: BaseModel) -> bytes:
    return model.model_dump_json(by_alias=True, exclude_none=True).encode()


def to_chatkit_item(item: ThreadItem) -> Any:
    """Our item as chatkit's pydantic model."""
    return _chatkit_item.validate_json(_encode(item))


def from_chatkit_item(item: Any) -> ThreadItem:
    """A chatkit item (pydantic) as our Struct; item types this package does not model raise ``TypeError``."""
    data = _chatkit_item.dump_json(item, by_alias=True, exclude_none=True)
    try:
        return _decode_item(data)
    except msgspec.ValidationError as exc:
        raise TypeError(
            f"chatkit item of type {getattr(item, 'type', '?')!r} cannot be used by chatkit-handlers: {exc}"
        ) from None


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

    Args:
        store: the chatkit ``Store`` to use.
    """

    __slots__ = ("_store", "_undo")

    def __init__(self, store: ChatKitStore[Any]) -> None:
        LocalLocks.__init__(self)
        self._store = store
        self._undo: _Undo | None = None

    def __repr__(self) -> str:
        return f"ChatKitStoreAdapter({self._store!r})"

    @property
    def wrapped(self) -> ChatKitStore[Any]:
        """The chatkit store this adapter wraps."""
        return self._store

    async def load_thread(self, thread_id: str, *, context: Any = None) -> ThreadMetadata:
        thread = await _found(self._store.load_thread(thread_id, context))
        return _decode_thread(_dump(thread))

    async def save_thread(self, thread: ThreadMetadata, *, context: Any = None) -> None:
        undo = await self._undo_thread(thread.id, context)
        converted = ChatKitThreadMetadata.model_validate_json(_encode(thread))
        await _found(self._store.save_thread(converted, context))
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
        page = await _found(self._store.load_thread_items(thread_id, after, limit, order, context))
        try:
            return _decode_page(_dump(page))
        except msgspec.ValidationError as exc:
            raise TypeError(f"a chatkit item in thread {thread_id!r} cannot be used: {exc}") from None

    async def load_item(self, thread_id: str, item_id: str, *, context: Any = None) -> ThreadItem:
        return from_chatkit_item(await _found(self._store.load_item(thread_id, item_id, context)))

    async def add_thread_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
        undo = await self._undo_item(thread_id, item.id, context)
        await _found(self._store.add_thread_item(thread_id, to_chatkit_item(item), context))
        self._on_undo(undo)

    async def save_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
        undo = await self._undo_item(thread_id, item.id, context)
        await _found(self._store.save_item(thread_id, to_chatkit_item(item), context))
        self._on_undo(undo)

    async def delete_thread_item(self, thread_id: str, item_id: str, *, context: Any = None) -> None:
        undo = await self._undo_item(thread_id, item_id, context)
        await _found(self._store.delete_thread_item(thread_id, item_id, context))
        self._on_undo(undo)

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
        store = self._store
        previous = await self._previous(store.load_thread(thread_id, context))
        if previous is None:
            return lambda: _quietly(store.delete_thread(thread_id, context))
        return lambda: _quietly(store.save_thread(previous, context))

    async def _undo_item(self, thread_id: str, item_id: str, context: Any) -> _Step | None:
        """How to put the item back as it is now (inside a transaction only)."""
        if self._undo is None:
            return None
        store = self._store
        previous = await self._previous(store.load_item(thread_id, item_id, context))
        if previous is None:
            return lambda: _quietly(store.delete_thread_item(thread_id, item_id, context))
        return lambda: _quietly(store.save_item(thread_id, previous, context))

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
