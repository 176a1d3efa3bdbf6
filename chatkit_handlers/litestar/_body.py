"""The request body a middleware read before the endpoint or the playground could.

Litestar's LoggingMiddleware (which the structlog plugin adds) reads the body to log it:
Litestar then keeps it in the scope, and ``receive`` has nothing left to give.
"""

from __future__ import annotations

from litestar.types import Empty, Scope
from litestar.utils.scope.state import CONNECTION_STATE_KEY, ScopeState

__all__ = ["body_read_before"]


def body_read_before(scope: Scope) -> bytes | None:
    """The body a middleware has read already, or ``None`` when it is still to be read.

    (An over-limit body never gets this far: the route handler's limit made Litestar refuse it.)
    """
    # Looked up, not ScopeState.from_scope(): that would make the state of every request.
    state: ScopeState | None = scope["state"].get(CONNECTION_STATE_KEY)  # (Litestar sets "state")
    if state is not None and state.body is not Empty:
        return state.body
    return None
