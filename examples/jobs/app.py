"""The import job example: ``litestar --app examples.jobs.app:app run``.

A demo thread ``thr_jobs`` holds the job widget ``wid_job``.
"""

from __future__ import annotations

from litestar import Litestar

from chatkit_handlers import ActionRouter
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore
from examples._demo import seed_widget
from examples.jobs import handlers
from examples.jobs.widgets import job_card

DEMO_THREAD = "thr_jobs"
DEMO_ITEM = "wid_job"

router = ActionRouter()
router.include(handlers)
store = MemoryStore()


async def _seed_on_startup() -> None:
    await seed_widget(store, DEMO_THREAD, "Import", DEMO_ITEM, job_card("idle", 0, 5))


app = Litestar(plugins=[ChatKitPlugin(router, store=store, path="/chatkit")], on_startup=[_seed_on_startup])
