"""What the example apps share: a demo thread with one widget, created on startup."""

from __future__ import annotations

from typing import Any

from chatkit_handlers import NotFoundError
from chatkit_handlers.stores import Store
from chatkit_handlers.types import ThreadMetadata, WidgetItem


async def seed_widget(store: Store, thread_id: str, title: str, item_id: str, widget: dict[str, Any]) -> None:
    """Create thread ``thread_id`` holding widget item ``item_id`` unless it exists."""
    try:
        await store.load_thread(thread_id, context=None)
    except NotFoundError:
        await store.save_thread(ThreadMetadata(id=thread_id, title=title), context=None)
        await store.add_thread_item(
            thread_id, WidgetItem(id=item_id, thread_id=thread_id, widget=widget), context=None
        )
