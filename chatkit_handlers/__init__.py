"""chatkit-handlers: typed, fast, safe handlers for ChatKit widget actions.

What a handler author writes::

    from chatkit_handlers import ActionContext, ActionRouter, on_action

    @on_action("counter.increment", streaming=False)
    async def increment(payload: Increment, ctx: ActionContext) -> dict:
        ...

    router = ActionRouter()
    router.include(handlers)

Serve the router with ``chatkit_handlers.litestar.ChatKitPlugin`` (or inside a
``ChatKitServer`` with ``chatkit_handlers.bridge.RoutedActions``). Stores are in
``chatkit_handlers.stores``, wire types in ``chatkit_handlers.types``, every
exception in ``chatkit_handlers.errors``, the dispatch core for integrators in
``chatkit_handlers.dispatch``, test helpers in ``chatkit_handlers.testing``.
"""

from __future__ import annotations

from ._action.context import ActionContext
from ._action.decorator import on_action
from ._execution.request import RequestView
from ._routing.configs import action_config
from ._routing.router import ActionRouter
from ._wire.coerce import as_widget_root
from .errors import ActionError

__all__ = [
    "ActionContext",
    "ActionError",
    "ActionRouter",
    "RequestView",
    "action_config",
    "as_widget_root",
    "on_action",
]
