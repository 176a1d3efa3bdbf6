"""The shop app: ``litestar --app examples.shop.app:app run``.

Everything that runs around the handlers is declared here, on the root router:
the providers (the user, from the Litestar request; the inventory, from the
app's state), a logging middleware, and the error handler for ``OutOfStock``.
The handlers themselves are discovered from the ``examples.shop.actions`` package.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Litestar
from litestar.datastructures import State

from chatkit_handlers import ActionContext, ActionRouter
from chatkit_handlers.errors import NotFoundError
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore, Store
from chatkit_handlers.types import NoticeEvent, ThreadMetadata, WidgetItem

from .auth import current_user, inventory
from .domain import Inventory, OutOfStock, User
from .widgets import cart_card

DEMO_THREAD = "thr_shop"
DEMO_CART = "wid_cart"

logger = logging.getLogger("examples.shop")


async def log_actions(call_next: Callable[[], Awaitable[Any]], ctx: ActionContext[Any]) -> Any:
    """Log every action with its outcome and duration (a stream: once it has ended)."""
    started = time.perf_counter()
    outcome = "failed"
    try:
        result = await call_next()
        outcome = "ok"
        return result
    finally:
        elapsed = (time.perf_counter() - started) * 1000
        logger.info("action %s %s in %.1f ms", ctx.action_type, outcome, elapsed)


router = ActionRouter(middleware=[log_actions])
router.provide(User, current_user)
router.provide(Inventory, inventory)


@router.on_error(OutOfStock, status_code=409)
def out_of_stock(exc: OutOfStock, ctx: ActionContext[Any]) -> NoticeEvent:
    """Tell the user, rather than failing with a generic error."""
    return ctx.notice(f"Sorry, {exc.sku} is out of stock.", level="warning")


router.include("examples.shop.actions")


async def seed(store: Store) -> None:
    """Create the demo thread and its cart widget unless they exist."""
    try:
        await store.load_thread(DEMO_THREAD, context=None)
    except NotFoundError:
        await store.save_thread(ThreadMetadata(id=DEMO_THREAD, title="Shop demo"), context=None)
        item = WidgetItem(id=DEMO_CART, thread_id=DEMO_THREAD, widget=cart_card({}))
        await store.add_thread_item(DEMO_THREAD, item, context=None)


def create_app(stock: dict[str, int] | None = None, store: Store | None = None) -> Litestar:
    """The app, with its own store and inventory (tests make fresh ones)."""
    store = store if store is not None else MemoryStore()

    async def seed_on_startup() -> None:
        await seed(store)

    return Litestar(
        plugins=[ChatKitPlugin(router, store=store, path="/chatkit")],
        on_startup=[seed_on_startup],
        state=State({"inventory": Inventory(stock if stock is not None else {"tea": 5, "mug": 1})}),
    )


app = create_app()
