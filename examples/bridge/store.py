"""An in-memory openai-chatkit ``Store``: the kind of store a ChatKitServer app already has.

Objects are deep-copied on the way in and out, as a database would, so a caller
that mutates what it loaded cannot change the store behind its back.
"""

from __future__ import annotations

from typing import Any, TypeVar

from chatkit.store import NotFoundError, Store
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def _copy(model: M) -> M:
    return model.model_copy(deep=True)


def _page(records: list[M], after: str | None, limit: int, order: str, key: Any) -> Page[M]:
    ordered = list(reversed(records)) if order == "desc" else list(records)
    ids = [key(r) for r in ordered]
    start = ids.index(after) + 1 if after in ids else 0
    chosen = ordered[start : start + limit]
    return Page(
        data=[_copy(r) for r in chosen],
        has_more=start + limit < len(ordered),
        after=key(chosen[-1]) if chosen else None,
    )


class MemoryChatKitStore(Store[Any]):
    """Threads, items and attachments in dicts, for as long as the process lives."""

    def __init__(self) -> None:
        self.threads: dict[str, ThreadMetadata] = {}
        self.items: dict[str, list[ThreadItem]] = {}
        self.attachments: dict[str, Attachment] = {}

    async def load_thread(self, thread_id: str, context: Any) -> ThreadMetadata:
        if thread_id not in self.threads:
            raise NotFoundError(f"thread {thread_id} not found")
        return _copy(self.threads[thread_id])

    async def save_thread(self, thread: ThreadMetadata, context: Any) -> None:
        # A chatkit Thread carries its items; the store keeps metadata only.
        self.threads[thread.id] = ThreadMetadata.model_validate(thread.model_dump(exclude={"items"}))
        self.items.setdefault(thread.id, [])

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: Any
    ) -> Page[ThreadMetadata]:
        ordered = sorted(self.threads.values(), key=lambda t: (t.created_at, t.id))
        return _page(ordered, after, limit, order, key=lambda t: t.id)

    async def delete_thread(self, thread_id: str, context: Any) -> None:
        self.threads.pop(thread_id, None)
        self.items.pop(thread_id, None)

    def _items(self, thread_id: str) -> list[ThreadItem]:
        if thread_id not in self.items:
            raise NotFoundError(f"thread {thread_id} not found")
        return self.items[thread_id]

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Page[ThreadItem]:
        return _page(self._items(thread_id), after, limit, order, key=lambda i: i.id)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        self._items(thread_id).append(_copy(item))

    async def save_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        items = self._items(thread_id)
        for i, existing in enumerate(items):
            if existing.id == item.id:
                items[i] = _copy(item)
                return
        items.append(_copy(item))

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> ThreadItem:
        for item in self._items(thread_id):
            if item.id == item_id:
                return _copy(item)
        raise NotFoundError(f"item {item_id} not found in thread {thread_id}")

    async def delete_thread_item(self, thread_id: str, item_id: str, context: Any) -> None:
        self.items[thread_id] = [i for i in self._items(thread_id) if i.id != item_id]

    async def save_attachment(self, attachment: Attachment, context: Any) -> None:
        self.attachments[attachment.id] = _copy(attachment)

    async def load_attachment(self, attachment_id: str, context: Any) -> Attachment:
        if attachment_id not in self.attachments:
            raise NotFoundError(f"attachment {attachment_id} not found")
        return _copy(self.attachments[attachment_id])

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        self.attachments.pop(attachment_id, None)
