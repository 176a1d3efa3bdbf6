"""The counter example app: ``litestar --app examples.counter.app:app run``.

Threads live in a SQLite file, ``./chatkit.sqlite3`` (or the path in
``CHATKIT_SQLITE_PATH``), created with its schema on first start. On start the
app makes sure a demo thread ``thr_demo`` holding a counter widget
``wid_counter`` exists, so the endpoint can be tried with curl at once, or in
the widget playground the app serves at ``/chatkit/playground`` (a development
page: ``playground=True`` below; leave it off in production).
"""

from __future__ import annotations

import os

from litestar import Litestar

from chatkit_handlers import ActionRouter
from chatkit_handlers.errors import NotFoundError
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import SQLiteStore, Store
from chatkit_handlers.types import ThreadMetadata, WidgetItem
from examples.counter import handlers
from examples.counter.widgets import counter_card

DEMO_THREAD = "thr_demo"
DEMO_ITEM = "wid_counter"

router = ActionRouter()
router.include(handlers)
store = SQLiteStore(os.environ.get("CHATKIT_SQLITE_PATH") or "chatkit.sqlite3")


async def seed(store: Store) -> None:
    """Create the demo thread and its counter widget unless they exist."""
    try:
        await store.load_thread(DEMO_THREAD, context=None)
    except NotFoundError:
        await store.save_thread(ThreadMetadata(id=DEMO_THREAD, title="Counter demo"), context=None)
        item = WidgetItem(id=DEMO_ITEM, thread_id=DEMO_THREAD, widget=counter_card(0))
        await store.add_thread_item(DEMO_THREAD, item, context=None)


async def _seed_on_startup() -> None:
    await seed(store)


app = Litestar(
    plugins=[ChatKitPlugin(router, store=store, path="/chatkit", playground=True)],
    on_startup=[_seed_on_startup],
    on_shutdown=[store.close],
)
