"""One structured log record per action, on a documented logger."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .._execution.observe import ActionObserver, ActionRecord

__all__ = ["ActionLog"]


class ActionLog(ActionObserver):
    """Logs every action once, when its answer is complete, with its fields as the record's attributes.

    The message reads ``counter.increment sync 200 ok 1.9 ms``; the record
    carries ``action``, ``action_type``, ``mode``, ``thread_id``, ``item_id``,
    ``outcome``, ``status``, ``duration_ms``, ``lock_wait_ms``, ``handler_ms``
    and ``user`` as attributes (``extra``), which a structured formatter (Litestar's
    structlog plugin, a JSON formatter) renders as fields.

    Levels: ``INFO`` for an action that succeeded or that the request got wrong
    (a 4xx); ``ERROR`` with the traceback for a handler's own error;
    ``WARNING`` with the cause for a store outage. Those two failures are then
    logged here only: the dispatcher does not log them again.

    Args:
        logger: the logger, or its name (``chatkit_handlers.actions`` by default).
        user: derives the user's id from the request context (e.g.
            ``lambda user: user.id``); without it no ``user`` is logged.
    """

    logs_failures = True

    def __init__(
        self,
        logger: logging.Logger | str = "chatkit_handlers.actions",
        *,
        user: Callable[[Any], str | None] | None = None,
    ) -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self._user = user

    def action_ended(self, record: ActionRecord) -> None:
        error = record.error
        if record.faulted and error is not None:
            level = logging.ERROR if record.outcome in ("handler.error", "stream.error") else logging.WARNING
        else:
            level, error = logging.INFO, None
        if not self.logger.isEnabledFor(level):
            return
        fields = {
            "action": record.action,
            "action_type": record.action_type,
            "mode": record.mode,
            "thread_id": record.thread_id,
            "item_id": record.item_id,
            "outcome": record.outcome,
            "status": record.status,
            "duration_ms": _ms(record.duration),
            "lock_wait_ms": _ms(record.lock_wait),
            "handler_ms": _ms(record.handler_time),
            "user": self._user(record.context) if self._user is not None else None,
        }
        self.logger.log(
            level,
            "%s %s %d %s %.1f ms",
            record.action,
            record.mode,
            record.status,
            record.outcome,
            fields["duration_ms"],
            exc_info=error,
            extra=fields,
        )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
