"""Watching actions: one ``ActionRecord`` per action, handed to the app's ``ActionObserver``\\ s.

Every action reaches a handler through one HTTP route, so the HTTP layer's
traces, metrics and access log see one name for all of them. The dispatcher
fills a record per action (what it was, how it ended, where its time went) and
hands it to the observers it was given: a span, a metric, a log line each
(``chatkit_handlers.observability``). Without observers none of this runs: the
dispatcher takes its unobserved path and the runners skip every clock reading.

Labels are bounded: ``action`` is the *route's* type (a pattern route's
pattern), or ``UNKNOWN`` for a request no route answered, so that a client
cannot mint new span names or metric series by sending new types.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from time import perf_counter
from typing import Any, Literal

from ..types import ErrorEvent
from .answers import classify

__all__ = ["UNKNOWN", "ActionObserver", "ActionRecord", "Mode", "Observers"]

UNKNOWN = "<unknown>"
"""The ``action`` label of a request no route answered (malformed, or an unknown type)."""

Mode = Literal["sync", "stream", "unknown"]

_NOTHING = nullcontext()


class ActionRecord:
    """What one action was and how it went, filled in as it runs.

    Attributes:
        action: the route's type (its pattern for a pattern route), or ``UNKNOWN``.
        action_type: the type the client sent (``None`` if the request was unreadable);
            unbounded, so not for labels.
        mode: ``"sync"``, ``"stream"``, or ``"unknown"`` for an unreadable request.
        thread_id, item_id: the action's thread and sender, when the request had them.
        context: the per-request context (the user, for most apps).
        status: the HTTP status of the answer (``200`` for a stream that started,
            whatever it later sent), set when the action ends.
        outcome: ``"ok"``, the error code the client received (``payload.invalid``,
            ``item.busy``, ``store.unavailable``...), or ``"disconnected"`` for a
            stream whose client went away before it ended.
        error: the exception that ended the action, if one did (its cause, for logs).
        error_status: the status that exception answers (a stream that failed
            after it started still answered 200: this says whether it was the
            client's doing, 4xx, or the server's, 5xx).
        started: ``time.perf_counter()`` when the request reached the dispatcher.
        locked: when the action held its locks (``None`` if it never did).
        handled: when its handler returned or its stream's handler finished.
        ended: when the answer was complete (a stream: its last event).
        notes: observers' own state for this action (e.g. a span), by observer.
    """

    __slots__ = (
        "action",
        "action_type",
        "context",
        "ended",
        "error",
        "error_status",
        "handled",
        "item_id",
        "locked",
        "mode",
        "notes",
        "outcome",
        "started",
        "status",
        "thread_id",
    )

    def __init__(self, context: Any, started: float) -> None:
        self.action = UNKNOWN
        self.action_type: str | None = None
        self.mode: Mode = "unknown"
        self.thread_id: str | None = None
        self.item_id: str | None = None
        self.context = context
        self.status = 0
        self.outcome = "ok"
        self.error: BaseException | None = None
        self.error_status: int | None = None
        self.started = started
        self.locked: float | None = None
        self.handled: float | None = None
        self.ended: float | None = None
        self.notes: dict[object, Any] = {}

    def failed(self, exc: Exception) -> None:
        """The action raised ``exc``: its outcome is the error code the client gets for it."""
        self.error = exc
        self.error_status, event = classify(self.action, exc, in_stream=self.mode == "stream")
        self.outcome = event.code if isinstance(event, ErrorEvent) else "notice"

    @property
    def duration(self) -> float:
        """Seconds from the request to the end of the answer."""
        return (self.ended if self.ended is not None else perf_counter()) - self.started

    @property
    def faulted(self) -> bool:
        """Whether the server, not the request, failed (a handler's error, a store outage: 5xx)."""
        return max(self.status, self.error_status or 0) >= 500

    @property
    def lock_wait(self) -> float | None:
        """Seconds before the action held its locks (reading the request included); ``None``: it never did."""
        return None if self.locked is None else self.locked - self.started

    @property
    def handler_time(self) -> float | None:
        """Seconds from holding the locks to the handler's end (loading the thread included)."""
        if self.locked is None or self.handled is None:
            return None
        return self.handled - self.locked

    def __repr__(self) -> str:
        return f"ActionRecord({self.action!r}, {self.mode}, {self.status} {self.outcome})"


class ActionObserver:
    """Hears of every action a dispatcher runs; override what you need.

    ``action_started`` is called once the action is known (its route, mode and
    ids; not for a request refused before that), ``action_ended`` once for
    every request, when its answer is complete. Both run in the request's task
    and must not raise or block. ``current`` may return a context manager the
    action's code runs inside (a span made current, so that the handler's own
    spans nest under it): entered around the handler and around each step of a
    stream.

    ``logs_failures`` says that this observer logs failed actions with their
    cause, so the dispatcher does not log them a second time.
    """

    logs_failures = False

    def action_started(self, record: ActionRecord) -> None:
        """The action is known and about to run."""

    def action_ended(self, record: ActionRecord) -> None:
        """The action's answer is complete (``record.status`` and ``record.outcome`` are set)."""

    def current(self, record: ActionRecord) -> AbstractContextManager[None] | None:
        """What the action's code runs inside, or ``None``."""
        return None


class Observers:
    """The observers of one dispatcher, called together."""

    __slots__ = ("_all", "_current", "logs_failures")

    def __init__(self, observers: Sequence[ActionObserver]) -> None:
        self._all = tuple(observers)
        self._current = tuple(o for o in self._all if type(o).current is not ActionObserver.current)
        self.logs_failures = any(o.logs_failures for o in self._all)

    def started(self, record: ActionRecord) -> None:
        for observer in self._all:
            observer.action_started(record)

    def ended(self, record: ActionRecord, status: int, outcome: str = "ok") -> None:
        record.status = status
        record.outcome = outcome
        record.ended = perf_counter()
        for observer in self._all:
            observer.action_ended(record)

    def current(self, record: ActionRecord) -> AbstractContextManager[object]:
        """What the action's code runs inside: what each observer makes current."""
        if not self._current:
            return _NOTHING
        stack = ExitStack()
        for observer in self._current:
            manager = observer.current(record)
            if manager is not None:
                stack.enter_context(manager)
        return stack

    async def watch(self, record: ActionRecord, stream: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
        """``stream``, ending ``record`` when it ends: finished, failed (the runner set the outcome) or abandoned."""
        ending = "disconnected"
        try:
            while True:
                with self.current(record):
                    try:
                        frame = await anext(stream)
                    except StopAsyncIteration:
                        break
                yield frame
            ending = record.outcome
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
            self.ended(record, 200, ending)
