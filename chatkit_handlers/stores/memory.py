"""An in-process store for tests, examples and single-process demos."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ..errors import NotFoundError
from ..types import Page, ThreadItem, ThreadMetadata

__all__ = ["MemoryStore"]

_encode = msgspec.json.Encoder().encode
_decode_thread = msgspec.json.Decoder(ThreadMetadata).decode
_item_decoder: msgspec.json.Decoder[ThreadItem] = msgspec.json.Decoder(ThreadItem)
_decode_item = _item_decoder.decode


class MemoryStore:
    """Keeps threads and items in dicts, encoded as JSON.

    Storing encoded bytes (not the objects) means a handler that mutates what it
    loaded cannot change the store behind the dispatcher's back, exactly as with
    a database. Data lives as long as the process.

    >>> store = MemoryStore()
    """

    __slots__ = ("_items", "_threads")

    def __init__(self) -> None:
        self._threads: dict[str, bytes] = {}
        self._items: dict[str, dict[str, bytes]] = {}

    async def load_thread(self, thread_id: str, *, context: Any = None) -> ThreadMetadata:
        try:
            return _decode_thread(self._threads[thread_id])
        except KeyError:
            raise NotFoundError(f"thread {thread_id!r} not found") from None

    async def save_thread(self, thread: ThreadMetadata, *, context: Any = None) -> None:
        self._threads[thread.id] = _encode(thread)
        self._items.setdefault(thread.id, {})

    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: Literal["asc", "desc"],
        *,
        context: Any = None,
    ) -> Page:
        ids = list(self._thread_items(thread_id))
        if order == "desc":
            ids.reverse()
        start = ids.index(after) + 1 if after in ids else 0
        chosen = ids[start : start + limit]
        items = self._thread_items(thread_id)
        return Page(
            data=[_decode_item(items[i]) for i in chosen],
            has_more=start + limit < len(ids),
            after=chosen[-1] if chosen else None,
        )

    async def load_item(self, thread_id: str, item_id: str, *, context: Any = None) -> ThreadItem:
        try:
            return _decode_item(self._thread_items(thread_id)[item_id])
        except KeyError:
            raise NotFoundError(f"item {item_id!r} not found in thread {thread_id!r}") from None

    async def add_thread_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
        self._thread_items(thread_id)[item.id] = _encode(item)

    async def save_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
        self._thread_items(thread_id)[item.id] = _encode(item)

    async def delete_thread_item(self, thread_id: str, item_id: str, *, context: Any = None) -> None:
        self._thread_items(thread_id).pop(item_id, None)

    def _thread_items(self, thread_id: str) -> dict[str, bytes]:
        try:
            return self._items[thread_id]
        except KeyError:
            raise NotFoundError(f"thread {thread_id!r} not found") from None
