"""Guards: checks that may refuse an action before its handler runs.

ChatKit's advice for actions is that the payload is untrusted — a widget is
client-side JSON anybody can replay or edit — so validate and authorize before
you persist. Validation is the payload type (msgspec refuses a bad payload with
422 before anything runs); authorization is a guard::

    def require_role(role: str):
        def guard(user: User) -> bool:          # injected like a handler parameter
            return role in user.roles
        guard.__name__ = f"require_role({role!r})"
        return guard

    @on_action("order.refund", guards=[require_role("admin")])

A guard is injected like a handler: it may ask for the ``ActionContext``, the
validated payload (a parameter named ``payload``), the request context, a
provided type... It runs after the payload was validated and the thread and
sender were loaded, router guards first (outermost router first), then the
handler's own. Returning ``False`` refuses the action: a sync action answers
403 ``action.forbidden``, a stream ends with an ``error`` event of that code
before the handler ran. Raise :class:`~chatkit_handlers.ActionError` instead to
show the user a message of your own. ``True`` or ``None`` lets the action through.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..types import ErrorEvent
from .errorhandlers import Reply
from .signature import HandlerSignature, qualname

if TYPE_CHECKING:
    from .providers import Scope

__all__ = ["Guard", "run_guards"]


class Guard:
    """One registered guard, its signature inspected once."""

    __slots__ = ("fn", "name", "signature")

    def __init__(self, fn: Callable[..., Any], signature: HandlerSignature) -> None:
        self.fn = fn
        self.signature = signature
        self.name = getattr(fn, "__name__", None) or qualname(fn)

    def __repr__(self) -> str:
        return f"Guard({self.name})"


async def run_guards(guards: tuple[Guard, ...], scope: Scope) -> None:
    """Run ``guards`` in order; raise ``Reply(403)`` at the first refusal."""
    for guard in guards:
        verdict = guard.fn(**await scope.arguments(guard.signature))
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if verdict is False:
            raise Reply(
                403,
                ErrorEvent(
                    code="action.forbidden",
                    message=f"action {scope.ctx.action_type!r} was refused by guard {guard.name}",
                ),
            )
