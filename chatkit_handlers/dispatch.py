"""The dispatch core for integrators: serve a router from your own framework or adapter.

Handler authors do not need this module (see ``chatkit_handlers``)::

    from chatkit_handlers.dispatch import Dispatcher, RequestView

    dispatcher = Dispatcher(router, store)
    result = await dispatcher.dispatch(body, context=user, request=RequestView(scope))
    # result.status_code, result.media_type, and result.body or result.stream

``Dispatcher.dispatch`` never raises for bad input: every refusal is a
``DispatchResult`` with a 4xx and a JSON error body. Close ``result.stream``
(``aclose()``) however it ends: that releases the action's locks.
"""

from __future__ import annotations

from ._action.decorator import ActionSpec
from ._execution.answers import DispatchResult
from ._execution.dispatcher import CHATKIT_REQUEST_TYPES, ActionRequest, Dispatcher
from ._execution.locks import DEFAULT_LOCK_TIMEOUT
from ._execution.request import DEFAULT_MAX_BODY_SIZE, RequestView, read_body
from ._execution.stream import Emitter, SSEEmitter
from ._execution.sync import SyncOutcome
from ._routing.providers import Extras
from ._routing.route import Route

__all__ = [
    "CHATKIT_REQUEST_TYPES",
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_MAX_BODY_SIZE",
    "ActionRequest",
    "ActionSpec",
    "DispatchResult",
    "Dispatcher",
    "Emitter",
    "Extras",
    "RequestView",
    "Route",
    "SSEEmitter",
    "SyncOutcome",
    "read_body",
]
