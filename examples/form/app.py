"""The booking form example: ``litestar --app examples.form.app:app run``.

A demo thread ``thr_booking`` holds the form widget ``wid_booking``.
"""

from __future__ import annotations

from chatkit_handlers import ActionRouter
from examples._demo import demo_app
from examples.form import handlers
from examples.form.widgets import booking_form

DEMO_THREAD = "thr_booking"
DEMO_ITEM = "wid_booking"

router = ActionRouter()
router.include(handlers)
app = demo_app(router, thread=(DEMO_THREAD, "Booking"), item=(DEMO_ITEM, booking_form()))
