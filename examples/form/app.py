"""The booking form example: ``litestar --app examples.form.app:app run``.

A demo thread ``thr_booking`` holds the form widget ``wid_booking``.
"""

from __future__ import annotations

from litestar import Litestar

from chatkit_handlers import ActionRouter
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore
from examples._demo import seed_widget
from examples.form import handlers
from examples.form.widgets import booking_form

DEMO_THREAD = "thr_booking"
DEMO_ITEM = "wid_booking"

router = ActionRouter()
router.include(handlers)
store = MemoryStore()


async def _seed_on_startup() -> None:
    await seed_widget(store, DEMO_THREAD, "Booking", DEMO_ITEM, booking_form())


app = Litestar(plugins=[ChatKitPlugin(router, store=store, path="/chatkit")], on_startup=[_seed_on_startup])
