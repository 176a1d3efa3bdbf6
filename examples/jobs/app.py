"""The import job example: ``litestar --app examples.jobs.app:app run``.

A demo thread ``thr_jobs`` holds the job widget ``wid_job``.
"""

from __future__ import annotations

from chatkit_handlers import ActionRouter
from examples._demo import demo_app
from examples.jobs import handlers
from examples.jobs.widgets import job_card

DEMO_THREAD = "thr_jobs"
DEMO_ITEM = "wid_job"

router = ActionRouter()
router.include(handlers)
app = demo_app(router, thread=(DEMO_THREAD, "Import"), item=(DEMO_ITEM, job_card("idle", 0, 5)))
