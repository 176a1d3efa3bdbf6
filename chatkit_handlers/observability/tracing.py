"""A span per action (OpenTelemetry), a child of the HTTP request's span.

Needs ``opentelemetry-api`` (``pip install "chatkit-handlers[otel]"``); the
spans go wherever the app's tracer provider sends them (Litestar's
``OpenTelemetryPlugin`` makes the HTTP span they nest under).
"""

from __future__ import annotations

from contextlib import AbstractContextManager

try:
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'chatkit_handlers.observability.tracing needs opentelemetry-api: pip install "chatkit-handlers[otel]"'
    ) from exc

from .._execution.observe import ActionObserver, ActionRecord

__all__ = ["ActionSpans"]


class ActionSpans(ActionObserver):
    """Starts a span named ``chatkit.action <route>`` per action, current while its code runs.

    The name is the route's type (a pattern route's pattern) or
    ``chatkit.action <unknown>``: clients cannot mint span names. Attributes:
    ``chatkit.action.type`` (the route), ``chatkit.action.mode``,
    ``chatkit.thread.id``, ``chatkit.item.id``, ``chatkit.action.outcome`` (``ok``
    or the error code), ``http.response.status_code``,
    ``chatkit.action.lock_wait_ms`` and ``chatkit.action.handler_ms``. A
    server-side failure (5xx: a handler's error, a store outage) sets the
    span's status to error and records the exception.

    Args:
        tracer_provider: where spans go (the global provider by default).
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer("chatkit_handlers", tracer_provider=tracer_provider)

    def action_started(self, record: ActionRecord) -> None:
        attributes: dict[str, str] = {
            "chatkit.action.type": record.action,
            "chatkit.action.mode": record.mode,
        }
        if record.thread_id is not None:
            attributes["chatkit.thread.id"] = record.thread_id
        if record.item_id is not None:
            attributes["chatkit.item.id"] = record.item_id
        record.notes[self] = self._tracer.start_span(
            f"chatkit.action {record.action}", kind=SpanKind.INTERNAL, attributes=attributes
        )

    def current(self, record: ActionRecord) -> AbstractContextManager[None] | None:
        span = record.notes.get(self)
        if span is None:
            return None
        # Ended, and marked failed or not, by action_ended: an exception passing through here may
        # be a client's error (a 4xx) rather than the server's.
        return trace.use_span(  # type: ignore[return-value]  # yields the span
            span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        )

    def action_ended(self, record: ActionRecord) -> None:
        span = record.notes.pop(self, None)
        if span is None:
            return
        span.set_attribute("chatkit.action.outcome", record.outcome)
        span.set_attribute("http.response.status_code", record.status)
        if record.lock_wait is not None:
            span.set_attribute("chatkit.action.lock_wait_ms", record.lock_wait * 1000)
        if record.handler_time is not None:
            span.set_attribute("chatkit.action.handler_ms", record.handler_time * 1000)
        if record.faulted:
            if record.error is not None:
                span.record_exception(record.error)
            span.set_status(Status(StatusCode.ERROR, record.outcome))
        span.end()
