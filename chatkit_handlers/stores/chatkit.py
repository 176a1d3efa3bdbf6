"""``ChatKitStoreAdapter``: our ``Store`` over an openai-chatkit ``Store``.

A minimal adapter so that the one-endpoint Litestar mode and the
``ChatKitServer`` bridge can share the server's own chatkit store: the action
fast path reads and writes the very data ``server.process()`` serves.
Conversion (msgspec ⇄ pydantic) is paid only at this boundary. Imports
pydantic and chatkit, so ``chatkit_handlers.stores`` does not import it.
"""

from __future__ import annotations

from typing import Any, Literal

from chatkit.store import NotFoundError as ChatKitNotFoundError

from .._coerce import to_item
from .._convert import item_to_chatkit, thread_from_chatkit, thread_to_chatkit
from ..errors import NotFoundError
from ..types import Page, ThreadItem, ThreadMetadata

__all__ = ["ChatKitStoreAdapter"]


class ChatKitStoreAdapter:
    """Wraps a chatkit ``Store`` (pydantic) as a chatkit-handlers ``Store``.

    chatkit's ``NotFoundError`` becomes ours, so unknown ids answer 404.

    >>> store = ChatKitStoreAdapter(my_chatkit_server.store)  # doctest: +SKIP
    """

    __slots__ = ("store",)

    def __init__(self, store: Any) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"ChatKitStoreAdapter({self.store!r})"

    async def load_thread(self, thread_id: str, *, context: Any = None) -> ThreadMetadata:
        try:
            thread = await self.store.load_thread(thread_id, context=context)
        except ChatKitNotFoundError:
            raise NotFoundError(f"thread {thread_id!r} not found") from None
        return thread_from_chatkit(thread)

    async def save_thread(self, thread: ThreadMetadata, *, context: Any = None) -> None:
        await self.store.save_thread(thread_to_chatkit(thread), context=context)

    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: Literal["asc", "desc"],
        *,
        context: Any = None,
    ) -> Page:
        try:
            page = await self.store.load_thread_items(thread_id, after, limit, order, context=context)
        except ChatKitNotFoundError:
            raise NotFoundError(f"thread {thread_id!r} not found") from None
        return Page(data=[to_item(item) for item in page.data], has_more=page.has_more, after=page.after)

    async def load_item(self, thread_id: str, item_id: str, *, context: Any = None) -> ThreadItem:
        try:
            item = await self.store.load_item(thread_id, item_id, context=context)
        except ChatKitNotFoundError:
            raise NotFoundError(f"item {item_id!r} not found in thread {thread_id!r}") from None
        return to_item(item)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
        await self.store.add_thread_item(thread_id, item_to_chatkit(item), context=context)

    async def save_item(self, thread_id: str, item: ThreadItem, *, context: Any = None) -> None:
        await self.store.save_item(thread_id, item_to_chatkit(item), context=context)

    async def delete_thread_item(self, thread_id: str, item_id: str, *, context: Any = None) -> None:
        await self.store.delete_thread_item(thread_id, item_id, context=context)
