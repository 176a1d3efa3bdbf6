"""Running a streaming action (``threads.custom_action``): events out, writes after.

The runner holds the stream's locks (its thread's and its sender's) while the
handler runs, turns what the handler yields into events, and records what they
mean for the store (``WriteBuffer``), written once the handler has finished
without an error. How events leave is the adapter's: an ``Emitter`` turns each
into what its consumer reads (SSE frames over HTTP, chatkit's pydantic events
under a ``ChatKitServer``) and says how a failure ends the stream.

Locks are released however the stream ends (finished, error, cancelled by a
client disconnect), and when an adapter closes (or drops) a stream it never read.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from time import perf_counter
from typing import Any, Protocol, TypeVar

from .._action.context import ActionContext, thread_change
from .._routing.pipeline import call_stream
from .._routing.providers import Extras
from .._routing.route import Route
from .._wire.coerce import EVENT_CLASSES, to_event
from .._wire.encode import STREAM_OPENINGS, frame
from ..stores import Features, Store
from ..types import (
    HIDDEN_ITEM_TYPES,
    CustomActionParams,
    ThreadItemDoneEvent,
    ThreadMetadata,
    ThreadResponse,
    ThreadStreamEvent,
    ThreadUpdatedEvent,
)
from .answers import failure_event
from .loading import ActionRunner
from .locks import ActionLocks, stream_keys
from .observe import ActionRecord
from .persist import Replayed, WriteBuffer

logger = logging.getLogger("chatkit_handlers")

__all__ = ["AllowCancel", "Emitter", "SSEEmitter", "StreamRunner"]

AllowCancel = Callable[[ThreadMetadata, Any], bool]
"""Whether a stream may be stopped when its route does not say: given the action's thread and context."""

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Emitter(Protocol[T_co]):
    """How a stream's events leave: what its adapter's consumer reads.

    Attributes:
        persist_items: ``False`` when the consumer itself stores the items of
            ``thread.item.done``/``replaced``/``removed`` events as they pass
            (chatkit does): the runner then writes only widget updates and the
            thread.
    """

    persist_items: bool

    @property
    def openings(self) -> Mapping[bool, T_co | None]:
        """What a stream starts with (its ``stream_options``; ``None``: nothing), by whether the user may stop it."""

    def event(self, event: ThreadStreamEvent) -> T_co | None:
        """One event as the consumer reads it (``None``: not sent)."""

    def thread_updated(self, thread: ThreadMetadata) -> T_co | None:
        """The handler changed the thread: what to send after the event it changed it with (``None``: nothing)."""

    def failed(self, action_type: str, exc: Exception) -> T_co:
        """What ends a stream that raised ``exc`` (or raise, to end it with an exception)."""


_NO_NEW_ITEM = EVENT_CLASSES - {ThreadItemDoneEvent}


class SSEEmitter:
    """Server-Sent Events bytes, as chatkit frames them: the HTTP adapters' emitter."""

    def __init__(self, *, log_failures: bool = True) -> None:
        # Instance attributes, not class attributes: each stream reads both once, and Python
        # 3.11 reads an object's own attributes far faster (bench/README.md, section 7).
        self.persist_items = True
        self.openings = STREAM_OPENINGS
        self._log_failures = log_failures  # False: an observer logs failed actions instead

    def event(self, event: ThreadStreamEvent) -> bytes | None:
        # (Most events are of a class that never carries a new item: no isinstance() check for
        # those, since one that fails on a Struct class costs as much as this whole method.)
        hidden = (
            type(event) not in _NO_NEW_ITEM
            and isinstance(event, ThreadItemDoneEvent)
            and isinstance(event.item, HIDDEN_ITEM_TYPES)
        )
        return None if hidden else frame(event)  # hidden context: stored for the model, never sent

    def thread_updated(self, thread: ThreadMetadata) -> bytes:
        return frame(ThreadUpdatedEvent(thread=ThreadResponse.of(thread)))

    def failed(self, action_type: str, exc: Exception) -> bytes:
        return frame(failure_event(action_type, exc, log=self._log_failures))


class StreamRunner(ActionRunner):
    """Runs streaming actions on one store; shared by every adapter, each with its ``Emitter``.

    ``allow_cancel`` decides for the routes that set no ``allow_cancel`` (the
    one-endpoint mode asks its ``ChatKitServer``'s ``get_stream_options()``);
    without it they may be stopped, as in ChatKit.
    """

    __slots__ = ("_allow_cancel",)

    def __init__(
        self,
        store: Store,
        features: Features,
        lock_timeout: float | None,
        allow_cancel: AllowCancel | None = None,
    ) -> None:
        super().__init__(store, features, lock_timeout)
        self._allow_cancel = allow_cancel

    async def open(
        self,
        params: CustomActionParams,
        route: Route,
        payload: Any,
        context: Any,
        extras: Extras | None,
        emitter: Emitter[T],
        record: ActionRecord | None = None,
    ) -> tuple[AsyncGenerator[T, None], bool]:
        """Take the locks if they are free and load the context: a missing thread or widget raises here.

        Returns the stream and whether the user may stop it (``allow_cancel``:
        the route's, else the runner's default); an adapter runs a stream that
        may not be stopped to its end even when its client disconnects.

        A refusal before the stream starts is a ``DispatchError`` the adapter
        answers with a 4xx. When the thread is busy the context is loaded now
        without the locks, only to refuse a missing thread or widget; the stream
        then waits for the locks and loads it again, since the action holding
        them may change both.

        The stream is returned started: it owns the locks from here on, and
        releases them however it ends, closed (``aclose()``) or collected
        unread. An observed action's ``record`` hears when the locks were held,
        when the handler finished and what ended the stream.
        """
        keys = stream_keys(params.thread_id, params.item_id)
        locks = ActionLocks(self._store, keys, self.lock_timeout, context, self._features.locks_in_process)
        if not locks.take_now():
            await locks.take(wait=False)
        try:
            ctx = await self.load(locks.store, params, route, context, locks.lease)
            allow_cancel = route.allow_cancel
            if allow_cancel is None:
                allow_cancel = self._allow_cancel is None or self._allow_cancel(ctx.thread, context)
        except BaseException:
            await locks.release()
            raise
        events = self._run(params, route, payload, context, extras, emitter, locks, ctx, allow_cancel, record)
        await anext(events)  # its first step, into the block that releases the locks
        return events, allow_cancel  # type: ignore[return-value]  # past its one None

    async def _run(
        self,
        params: CustomActionParams,
        route: Route,
        payload: Any,
        context: Any,
        extras: Extras | None,
        emitter: Emitter[T],
        locks: ActionLocks,
        ctx: ActionContext[Any],
        allow_cancel: bool,
        record: ActionRecord | None,
    ) -> AsyncGenerator[T | None, None]:
        try:
            yield None  # the first step, taken by open(): the stream owns the locks from here on
            opening = emitter.openings[allow_cancel]
            if opening is not None:
                yield opening
            if not locks.held:
                await locks.take(wait=True)
                ctx = await self.load(locks.store, params, route, context, locks.lease)
            if record is not None:
                record.locked = perf_counter()
            writes = WriteBuffer(params.thread_id, ctx.sender, persist_items=emitter.persist_items)
            if route.once:
                if await self.replayed(locks.store, route, ctx):
                    return  # a replay: the opening was all it sends
                writes.consume(route.registered_type)
            events: AsyncIterator[Any] = call_stream(route, ctx, payload, extras)
            try:
                async for produced in events:
                    event = produced if type(produced) in EVENT_CLASSES else to_event(produced)
                    writes.record(event)
                    # The emitter hears of a thread change before the event leaves (chatkit
                    # looks for one right after each event); it is sent after the event.
                    thread = thread_change(ctx)
                    note = None
                    if thread is not None:
                        writes.save_thread(thread)
                        note = emitter.thread_updated(thread)
                    out = emitter.event(event)
                    if out is not None:
                        yield out
                    if note is not None:
                        yield note
            except BaseException:  # stopped early (an error, a disconnect): stop the handler too
                aclose = getattr(events, "aclose", None)
                if aclose is not None:
                    try:
                        await aclose()
                    except Exception:  # its own clean-up failed: say so, and stop as we were stopping
                        logger.exception("the handler for action %r failed while it was stopped", route.type)
                raise
            if record is not None:
                record.handled = perf_counter()
            thread = thread_change(ctx)
            if thread is not None:  # changed after the last event
                writes.save_thread(thread)
                out = emitter.thread_updated(thread)
                if out is not None:
                    yield out
            try:
                await writes.flush(
                    locks.store,
                    ctx.context,
                    held=locks.keys,
                    lock_timeout=self.lock_timeout,
                    shield=not self._features.never_suspends,
                )
            except Replayed:  # another process's action on the widget recorded it first
                logger.warning(
                    "action %r: widget %r was consumed by another action first; this one's writes "
                    "were dropped (its events were sent)",
                    route.type,
                    params.item_id,
                )
        except Exception as exc:
            if record is not None:
                record.failed(exc)
            yield emitter.failed(route.type, exc)
        finally:
            if locks.lease is not None:  # taken with try_lock: given back at once
                locks.lease.release()
            else:
                await locks.release()
