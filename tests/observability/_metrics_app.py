"""A Litestar app with Prometheus metrics per action, for several server processes (multiprocess mode).

Each process keeps its own MemoryStore, seeded on startup with the same thread
and counter widget; ``PROMETHEUS_MULTIPROC_DIR`` (set by the test) makes
prometheus_client add up every process's samples on ``/metrics``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.plugins.prometheus import PrometheusController

from chatkit_handlers import ActionRouter, on_action
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.observability.metrics import ActionMetrics
from chatkit_handlers.stores import MemoryStore
from chatkit_handlers.testing import make_thread, make_widget_item
from chatkit_handlers.types import WidgetItem


class Add(msgspec.Struct):
    by: int = 1


def card(value: int) -> dict[str, Any]:
    return {"type": "Card", "children": [{"type": "Text", "id": "count", "value": str(value)}]}


@on_action("counter.add", streaming=False)
async def add(payload: Add, sender: WidgetItem) -> dict[str, Any]:
    return card(int(sender.widget["children"][0]["value"]) + payload.by)


router = ActionRouter()
router.include(add)
store = MemoryStore()


async def seed() -> None:
    await store.save_thread(make_thread("thr_1"))
    await store.add_thread_item("thr_1", make_widget_item(card(0), thread="thr_1", id="wid_1"))


app = Litestar(
    route_handlers=[PrometheusController],
    plugins=[ChatKitPlugin(router, store=store, observers=[ActionMetrics()])],
    on_startup=[seed],
)
