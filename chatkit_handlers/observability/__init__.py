"""Per-action observability: spans, metrics and one log record per action.

Every ChatKit action reaches the server through one ``POST /chatkit``, so the
HTTP layer's traces, metrics and access log see one name for all of them.
Give the adapter observers and each action is seen on its own::

    from chatkit_handlers.observability import ActionLog
    from chatkit_handlers.observability.metrics import ActionMetrics  # prometheus_client
    from chatkit_handlers.observability.tracing import ActionSpans  # opentelemetry-api

    ChatKitPlugin(router, store=store, observers=[ActionSpans(), ActionMetrics(), ActionLog()])

Each observer hears of every request as one ``ActionRecord``; write your own
by subclassing ``ActionObserver``. Without observers nothing is recorded and
nothing is timed.
"""

from __future__ import annotations

from .._execution.observe import UNKNOWN, ActionObserver, ActionRecord
from .logs import ActionLog

__all__ = ["UNKNOWN", "ActionLog", "ActionObserver", "ActionRecord"]
