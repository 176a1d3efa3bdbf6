"""What the example apps share: a Litestar app whose demo thread holds one widget."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from chatkit_handlers import ActionRouter
from chatkit_handlers.errors import NotFoundError
from chatkit_handlers.litestar import ChatKitPlugin, ContextFactory
from chatkit_handlers.stores import MemoryStore, Store
from chatkit_handlers.types import ThreadMetadata, WidgetItem


async def seed_widget(store: Store, thread_id: str, title: str, item_id: str, widget: dict[str, Any]) -> None:
    """Create thread ``thread_id`` holding widget item ``item_id`` unless it exists."""
    try:
        await store.load_thread(thread_id, context=None)
    except NotFoundError:
        await store.save_thread(ThreadMetadata(id=thread_id, title=title), context=None)
        item = WidgetItem(id=item_id, thread_id=thread_id, widget=widget)
        await store.add_thread_item(thread_id, item, context=None)


def demo_app(
    router: ActionRouter,
    *,
    thread: tuple[str, str],
    item: tuple[str, dict[str, Any]],
    context: ContextFactory | None = None,
) -> Litestar:
    """The router at ``/chatkit`` over a ``MemoryStore``, seeded on startup with
    thread ``(id, title)`` holding widget item ``(id, widget)``; the widget
    playground (a development page) at ``/chatkit/playground``."""
    store = MemoryStore()

    async def seed() -> None:
        await seed_widget(store, thread[0], thread[1], item[0], item[1])

    plugin = ChatKitPlugin(router, store=store, path="/chatkit", context=context, playground=True)
    return Litestar(plugins=[plugin], on_startup=[seed])
