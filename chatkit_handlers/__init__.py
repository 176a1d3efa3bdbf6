"""chatkit-handlers: typed, fast, safe handlers for ChatKit widget actions.

Write handlers with ``@on_action``, collect them in an ``ActionRouter``, and
mount the router in a Litestar app with ``chatkit_handlers.litestar.ChatKitPlugin``
(or call the framework-free ``Dispatcher`` yourself)::

    @on_action("counter.increment", streaming=False)
    async def increment(payload: Increment, ctx: ActionContext) -> dict:
        ...

    router = ActionRouter()
    router.include(handlers)
"""

from __future__ import annotations

from ._context import ActionContext
from ._decorator import ActionSpec, on_action
from ._dispatch import Dispatcher, DispatchResult
from ._errorhandlers import ActionTimeoutError
from ._router import ActionRouter, Route
from .errors import ActionError, DispatchError, NotFoundError, RegistrationError

__all__ = [
    "ActionContext",
    "ActionError",
    "ActionRouter",
    "ActionSpec",
    "ActionTimeoutError",
    "DispatchError",
    "DispatchResult",
    "Dispatcher",
    "NotFoundError",
    "RegistrationError",
    "Route",
    "on_action",
]
