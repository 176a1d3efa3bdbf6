"""What the dispatcher answers: a JSON body or an event stream, and how failures read.

One place maps every way an action can fail to what the client receives:
a JSON error body with a precise status before a stream starts, an ``error``
event once one has.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import msgspec

from .._routing.errorhandlers import Reply
from .._routing.route import Route
from .._wire.encode import encode, error_body
from ..errors import ActionError, DispatchError, LockTimeoutError, NotFoundError, StoreUnavailableError
from ..types import ErrorEvent, NoticeEvent, ThreadItem
from .locks import busy_event

__all__ = ["JSON", "SSE", "DispatchResult", "failure", "failure_event", "sync_answer", "unavailable_event"]

logger = logging.getLogger("chatkit_handlers")

JSON = "application/json"
SSE = "text/event-stream"

_SYNC = "threads.sync_custom_action"
_STREAM = "threads.custom_action"


class DispatchResult(msgspec.Struct):
    """What to answer: a status and either a JSON body or an SSE byte stream.

    Attributes:
        status_code: 200, or the 4xx/5xx of a refused request.
        body: the JSON body (``None`` for a stream).
        stream: the SSE-framed events (``None`` for a JSON answer). Close it
            (``aclose()``) however it ends: that releases the action's locks.
        request_type: the ChatKit request type, when it could be read.
        allow_cancel: ``False`` for a stream the user may not stop: an adapter
            runs it to its end even when the client disconnects (the handler's
            writes are then committed), instead of cancelling it.
    """

    status_code: int
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None
    request_type: str | None = None
    allow_cancel: bool = True

    @property
    def media_type(self) -> str:
        """``text/event-stream`` for a stream, ``application/json`` otherwise."""
        return SSE if self.stream is not None else JSON

    @classmethod
    def error(cls, exc: DispatchError, request_type: str | None = None) -> DispatchResult:
        """A JSON error answer for ``exc``."""
        body = error_body(exc.code, exc.message, allow_retry=exc.allow_retry)
        return cls(exc.status_code, body, None, request_type)

    def __repr__(self) -> str:
        kind = "stream" if self.stream is not None else f"body={self.body!r}"
        return f"DispatchResult({self.status_code}, {kind})"


def sync_answer(item: ThreadItem | None, data: bytes | None = None) -> DispatchResult:
    """The ``SyncCustomActionResponse`` of a sync action that updated ``item`` (or nothing).

    ``data`` is the item's JSON if it was encoded already (for the store).
    """
    if item is None:
        return DispatchResult(200, b"{}", None, _SYNC)
    # {"updated_item": <item>}, as encoding SyncCustomActionResponse(updated_item=item) writes it.
    return DispatchResult(200, b'{"updated_item":%b}' % (data or encode(item)), None, _SYNC)


def failure(route: Route, exc: Exception) -> DispatchResult:
    """The JSON answer to an action refused before its stream started, or a sync action that failed.

    Nothing was written: the locks, the load, a guard, the handler or the
    writes raised ``exc``.
    """
    request_type = _STREAM if route.streaming else _SYNC
    if isinstance(exc, StoreUnavailableError):
        event = unavailable_event(route.type, exc)
        return DispatchResult(503, encode(event), None, request_type)
    if isinstance(exc, DispatchError):  # the thread or widget is missing, the sender is no widget...
        return DispatchResult.error(exc, request_type)
    if isinstance(exc, NotFoundError):  # the thread deleted while the action ran: its writes found none
        return DispatchResult(404, encode(_vanished(exc)), None, request_type)
    if isinstance(exc, LockTimeoutError):
        return DispatchResult(409, encode(busy_event(exc)), None, request_type)
    if isinstance(exc, Reply):  # a guard's refusal, a timeout, an error handler's answer
        return DispatchResult(exc.status_code, exc.body(), None, request_type)
    if isinstance(exc, ActionError):
        body = error_body("custom", exc.message, allow_retry=exc.allow_retry)
        return DispatchResult(exc.status_code, body, None, request_type)
    logger.error("action %r failed", route.type, exc_info=exc)
    body = error_body("handler.error", f"the handler for action {route.type!r} failed", allow_retry=True)
    return DispatchResult(500, body, None, request_type)


def _vanished(exc: NotFoundError) -> ErrorEvent:
    """``thread.not_found``: the thread (or what was written) disappeared while the action ran."""
    return ErrorEvent(code="thread.not_found", message=f"the thread is gone: {exc}")


def unavailable_event(action_type: str, exc: StoreUnavailableError) -> ErrorEvent:
    """``store.unavailable``, retryable: the store could not be used; logged here, once, with its cause."""
    logger.warning("store unavailable during action %r: %s", action_type, exc, exc_info=exc)
    return ErrorEvent(
        code="store.unavailable",
        message="the store is unavailable right now; nothing was saved, try again",
        allow_retry=True,
    )


def failure_event(action_type: str, exc: Exception) -> ErrorEvent | NoticeEvent:
    """The event that ends a stream whose locks, guards, handler or writes raised ``exc``."""
    if isinstance(exc, LockTimeoutError):
        return busy_event(exc)
    if isinstance(exc, StoreUnavailableError):
        return unavailable_event(action_type, exc)
    if isinstance(exc, DispatchError):  # the thread or the widget vanished while waiting for the locks
        return ErrorEvent(code=exc.code, message=exc.message, allow_retry=exc.allow_retry)
    if isinstance(exc, NotFoundError):
        return _vanished(exc)
    if isinstance(exc, Reply):
        return exc.event
    if isinstance(exc, ActionError):
        return ErrorEvent(code="custom", message=exc.message, allow_retry=exc.allow_retry)
    logger.error("streaming handler for action %r failed", action_type, exc_info=exc)
    return ErrorEvent(code="stream.error", allow_retry=True)
