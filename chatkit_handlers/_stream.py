"""Running a streaming handler: events in, SSE-framed bytes out.

Framing follows chatkit exactly: every event is ``data: <json>\\n\\n`` with no
``event:``/``id:`` lines and no end marker, and the first event is
``stream_options``. Errors raised by the handler end the stream with an
``error`` event (never a traceback); the store is written only if the handler
finished cleanly (see ``_persist``). With a ``StreamLock`` (see ``_locking``),
the handler runs only once the thread is free, and the lock is released
however the stream ends (finished, error, cancelled by a client disconnect).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec

from ._coerce import EVENT_CLASSES, to_event
from ._context import thread_change
from ._errorhandlers import Reply
from ._locking import StreamLock, busy_event
from ._persist import WriteBuffer
from .errors import ActionError, DispatchError, LockTimeoutError
from .types import (
    HIDDEN_ITEM_TYPES,
    ErrorEvent,
    StreamOptions,
    StreamOptionsEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadResponse,
    ThreadUpdatedEvent,
)

if TYPE_CHECKING:
    from ._context import ActionContext
    from ._providers import Extras
    from ._router import Route

__all__ = ["STREAM_OPTIONS", "frame", "run_stream"]

logger = logging.getLogger("chatkit_handlers")

_encode = msgspec.json.Encoder().encode


CHATKIT_ERROR_CODES = frozenset({"custom", "stream.error"})
"""The only ``code`` values chatkit's ``ErrorEvent`` (and so its client) accepts."""


def client_error(event: ErrorEvent) -> ErrorEvent:
    """``event`` as the client may receive it: a precise code becomes ``custom``.

    Our own codes (``thread.busy``, ``action.forbidden``...) are kept for JSON
    error bodies, but chatkit's ``ErrorEvent`` accepts only ``custom`` and
    ``stream.error``, so in a stream they travel as ``custom`` with the message.
    """
    if event.code in CHATKIT_ERROR_CODES:
        return event
    return ErrorEvent(code="custom", message=event.message or event.code, allow_retry=event.allow_retry)


def frame(event: msgspec.Struct) -> bytes:
    """One Server-Sent Event: ``data: <json>\\n\\n``."""
    if type(event) is ErrorEvent:
        event = client_error(event)
    # One join: ~0.25 µs less than encoding into a bytearray and copying it out.
    return b"".join((b"data: ", _encode(event), b"\n\n"))


STREAM_OPTIONS = frame(StreamOptionsEvent(stream_options=StreamOptions(allow_cancel=True)))


async def run_stream(
    route: Route,
    ctx: ActionContext[Any],
    payload: Any,
    first: bytes = STREAM_OPTIONS,
    extras: Extras | None = None,
    lock: StreamLock | None = None,
) -> AsyncIterator[bytes]:
    """Run ``route``'s handler and yield the framed events of its stream.

    With a ``lock`` not yet held, the stream waits for it and the handler gets
    the context ``lock.acquire()`` reloaded. With a ``lock`` already held, the
    stream's first chunk is an empty one, for whoever started it (the
    dispatcher) to consume at once: from then on the generator is inside its
    ``try``, so closing it (or its garbage collection) releases the lock even if
    nobody ever reads a chunk of it.
    """
    try:
        if lock is not None and lock.held:
            yield b""
        yield first
        if lock is not None and not lock.held:
            ctx = await lock.acquire()
        writes = WriteBuffer(ctx._thread.id, ctx.sender)  # (not a look at it: see thread_change)
        events = route.call_stream(ctx, payload, extras)  # an async generator
        try:
            async for produced in events:
                event = produced if type(produced) in EVENT_CLASSES else to_event(produced)
                writes.record(event)
                if type(event) is ThreadItemUpdatedEvent or not (  # (the usual event: no isinstance miss)
                    isinstance(event, ThreadItemDoneEvent) and isinstance(event.item, HIDDEN_ITEM_TYPES)
                ):
                    yield frame(event)
                if ctx._seen is not None:  # the handler looked at the thread (see thread_change)
                    thread = thread_change(ctx)
                    if thread is not None:
                        writes.save_thread(thread)
                        yield frame(ThreadUpdatedEvent(thread=ThreadResponse.of(thread)))
        finally:
            # What ``aclosing`` does, minus its two coroutines: close the handler's generator
            # unless it ran to its end (or raised), which leaves nothing to close; an iterator
            # that is no native generator is closed whenever it can be.
            if getattr(events, "ag_frame", events) is not None and hasattr(events, "aclose"):
                await events.aclose()
        thread = None if ctx._seen is None else thread_change(ctx)
        if thread is not None:  # changed after the last event
            writes.save_thread(thread)
            yield frame(ThreadUpdatedEvent(thread=ThreadResponse.of(thread)))
        if writes:
            store = ctx._store  # the store or its view: either holds the lock's keys
            assert store is not None
            if lock is None:
                await writes.flush(store, ctx.context)
            else:
                await writes.flush(store, ctx.context, lock_timeout=lock.timeout, held=lock.keys)
    except LockTimeoutError as exc:
        yield frame(busy_event(exc))
    except DispatchError as exc:  # the thread or the widget vanished while waiting for the lock
        yield frame(ErrorEvent(code=exc.code, message=exc.message))
    except Reply as exc:  # a guard's refusal, a timeout, an error handler's answer
        yield frame(exc.event)
    except ActionError as exc:
        yield frame(ErrorEvent(code="custom", message=exc.message, allow_retry=exc.allow_retry))
    except Exception:
        logger.exception("streaming handler for action %r failed", route.type)
        yield frame(ErrorEvent(code="stream.error", allow_retry=True))
    finally:
        ctx._holds = ()  # a ctx kept past the stream: no view claims the keys
        if lock is not None and not lock.release_now():  # per-process locks: no coroutine
            await lock.release()
