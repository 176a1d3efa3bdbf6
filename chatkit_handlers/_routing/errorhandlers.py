"""Error handlers: mapping a handler's exceptions to what the client sees.

``router.on_error(ExcType)`` registers a function ``(exc, ctx)`` (sync or
async) that returns what to answer:

* an :class:`~chatkit_handlers.ActionError` — as if the handler had raised it
  (sync: its status and ``code: "custom"``; stream: an ``error`` event);
* an ``ErrorEvent`` — a stream ends with it; a sync action answers it as the
  JSON error body with the ``status_code`` given to ``on_error``;
* a ``NoticeEvent`` — a stream ends with the notice (no error); a sync action
  answers ``{"type": "error", "code": "notice", ...}`` with ``status_code``;
* ``None`` — not handled: the default behaviour applies (logged, then 500 or
  ``stream.error``).

The most specific registered type wins (the exception's MRO is walked), and a
router's handlers take precedence over those of the routers that include it.
An ``ActionError`` is a message the handler meant for the user, so only a
handler registered for ``ActionError`` (or a subclass) sees one; a catch-all
``on_error(Exception)`` does not swallow it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import ActionError, ActionTimeoutError, RegistrationError
from ..types import ErrorEvent, NoticeEvent
from .signature import qualname

if TYPE_CHECKING:
    from .._action.context import ActionContext

__all__ = ["ErrorHandler", "Reply", "translate"]

_encode = msgspec.json.Encoder().encode


class Reply(ActionError):
    """The answer is decided before or instead of the handler's: a refusal or a mapped error.

    Internal: the dispatcher answers ``status_code`` with the event as the JSON
    error body (sync; a notice as an error with code ``notice``), or ends the stream with the event. Being an
    ``ActionError``, it is also understood where only that is (the ChatKitServer
    bridge shows its message as a ``custom`` error).
    """

    def __init__(self, status_code: int, event: ErrorEvent | NoticeEvent) -> None:
        if isinstance(event, ErrorEvent):
            super().__init__(
                event.message or event.code, allow_retry=event.allow_retry, status_code=status_code
            )
        else:
            super().__init__(event.message, status_code=status_code)
        self.event = event


class ErrorHandler:
    """One ``on_error`` registration: the function and the status of its sync answers."""

    __slots__ = ("_takes_ctx", "fn", "status_code")

    def __init__(self, fn: Callable[..., Any], status_code: int) -> None:
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
        if not 1 <= len(params) <= 2:
            raise RegistrationError(
                f"error handler {qualname(fn)} must take (exc) or (exc, ctx), "
                f"not {len(params)} required parameters"
            )
        if not 400 <= status_code <= 599:
            raise RegistrationError(f"error handler {qualname(fn)}: status_code must be 4xx or 5xx")
        self.fn = fn
        self.status_code = status_code
        self._takes_ctx = len(params) == 2

    async def __call__(self, exc: BaseException, ctx: ActionContext[Any]) -> Any:
        result = self.fn(exc, ctx) if self._takes_ctx else self.fn(exc)
        return await result if inspect.isawaitable(result) else result


def find(handlers: Mapping[type, ErrorHandler], exc: BaseException) -> ErrorHandler | None:
    """The handler for the most specific registered type in ``exc``'s MRO."""
    user_facing = isinstance(exc, ActionError)
    for cls in type(exc).__mro__:
        if user_facing and not issubclass(cls, ActionError):
            return None
        found = handlers.get(cls)
        if found is not None:
            return found
    return None


async def translate(
    exc: Exception, ctx: ActionContext[Any], handlers: Mapping[type, ErrorHandler]
) -> Exception:
    """The exception the dispatcher should answer for ``exc``: a ``Reply``, an ``ActionError``, or ``exc``."""
    if isinstance(exc, Reply):
        return exc
    handler = find(handlers, exc) if handlers else None
    if handler is not None:
        try:
            result = await handler(exc, ctx)
        except ActionError as raised:
            return raised
        if isinstance(result, ActionError):
            return result
        if isinstance(result, ErrorEvent | NoticeEvent):
            return Reply(handler.status_code, result)
        if result is not None:
            error = TypeError(
                f"error handler {qualname(handler.fn)} returned {type(result).__name__}; return an "
                "ActionError, an ErrorEvent, a NoticeEvent (ctx.notice(...)) or None"
            )
            error.__cause__ = exc
            return error
    if isinstance(exc, ActionTimeoutError):
        return Reply(504, ErrorEvent(code="action.timeout", message=str(exc), allow_retry=True))
    return exc
