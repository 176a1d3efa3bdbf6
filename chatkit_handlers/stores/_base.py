"""The ``Store`` protocol: where threads and items live.

Names and arguments follow chatkit's ``Store`` so that anyone who wrote one
recognises it; every method takes the per-request context as ``context``.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from ..types import Page, ThreadItem, ThreadMetadata

__all__ = ["Store"]


@runtime_checkable
class Store(Protocol):
    """Async persistence for threads and their items.

    Lookups of a missing thread or item (or one the ``context``'s user may not
    see) raise :class:`chatkit_handlers.errors.NotFoundError`.
    """

    async def load_thread(self, thread_id: str, *, context: Any) -> ThreadMetadata:
        """Return the thread's metadata."""
        ...

    async def save_thread(self, thread: ThreadMetadata, *, context: Any) -> None:
        """Insert or update the thread's metadata."""
        ...

    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: Literal["asc", "desc"],
        *,
        context: Any,
    ) -> Page:
        """Return a page of the thread's items, oldest first for ``"asc"``."""
        ...

    async def load_item(self, thread_id: str, item_id: str, *, context: Any) -> ThreadItem:
        """Return one item of the thread."""
        ...

    async def add_thread_item(self, thread_id: str, item: ThreadItem, *, context: Any) -> None:
        """Append a new item to the thread."""
        ...

    async def save_item(self, thread_id: str, item: ThreadItem, *, context: Any) -> None:
        """Insert or update an item by id, keeping its place in the thread."""
        ...

    async def delete_thread_item(self, thread_id: str, item_id: str, *, context: Any) -> None:
        """Remove an item from the thread (no error if it is already gone)."""
        ...
