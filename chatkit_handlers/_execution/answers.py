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

__all__ = [
    "JSON",
    "SSE",
    "DispatchResult",
    "classify",
    "failure",
    "failure_event",
    "log_failure",
    "sync_answer",
]

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


def failure(route: Route, exc: Exception, *, log: bool = True) -> DispatchResult:
    """The JSON answer to an action refused before its stream started, or a sync action that failed.

    Nothing was written: the locks, the load, a guard, the handler or the
    writes raised ``exc``. ``log``: log a store outage or a handler's own error
    (``False`` where an observer logs the action with its cause instead).
    """
    status, event = classify(route.type, exc, in_stream=False)
    if log:
        log_failure(route.type, exc)
    return DispatchResult(status, encode(event), None, _STREAM if route.streaming else _SYNC)


def failure_event(action_type: str, exc: Exception, *, log: bool = True) -> ErrorEvent | NoticeEvent:
    """The event that ends a stream whose locks, guards, handler or writes raised ``exc``."""
    event = classify(action_type, exc, in_stream=True)[1]
    if log:
        log_failure(action_type, exc)
    return event


def classify(action_type: str, exc: Exception, *, in_stream: bool) -> tuple[int, ErrorEvent | NoticeEvent]:
    """What ``exc`` answers: its status as a JSON answer, and the error (in a stream: the event) the client gets.

    The one map from every way an action can fail to what the client receives.
    """
    if isinstance(exc, StoreUnavailableError):
        return 503, ErrorEvent(
            code="store.unavailable",
            message="the store is unavailable right now; nothing was saved, try again",
            allow_retry=True,
        )
    if isinstance(exc, DispatchError):  # the thread or widget is missing, the sender is no widget...
        return exc.status_code, ErrorEvent(code=exc.code, message=exc.message, allow_retry=exc.allow_retry)
    if isinstance(exc, NotFoundError):  # the thread deleted while the action ran: its writes found none
        return 404, ErrorEvent(code="thread.not_found", message=f"the thread is gone: {exc}")
    if isinstance(exc, LockTimeoutError):
        return 409, busy_event(exc)
    if isinstance(exc, Reply):  # a guard's refusal, a timeout, an error handler's answer
        event = exc.event
        if isinstance(event, NoticeEvent) and not in_stream:
            event = ErrorEvent(code="notice", message=event.message)
        return exc.status_code, event
    if isinstance(exc, ActionError):
        return exc.status_code, ErrorEvent(code="custom", message=exc.message, allow_retry=exc.allow_retry)
    if in_stream:
        return 500, ErrorEvent(code="stream.error", allow_retry=True)
    return 500, ErrorEvent(
        code="handler.error", message=f"the handler for action {action_type!r} failed", allow_retry=True
    )


def log_failure(action_type: str, exc: Exception) -> None:
    """Log what the operator must hear of: a store outage (with its cause) or a handler's own error.

    The other failures are answers the client gets (a refusal, a busy widget,
    an error the handler chose to raise), not faults of the server.
    """
    if isinstance(exc, StoreUnavailableError):
        logger.warning("store unavailable during action %r: %s", action_type, exc, exc_info=exc)
    elif not isinstance(exc, (DispatchError, NotFoundError, LockTimeoutError, ActionError)):
        logger.error("the handler for action %r failed", action_type, exc_info=exc)
