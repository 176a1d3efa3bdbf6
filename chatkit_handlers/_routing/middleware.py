"""Around-style middleware: ``async def mw(call_next, ctx)``.

A middleware runs code before and after the rest of the chain, which it enters
by awaiting ``call_next()``; not calling it short-circuits (the handler never
runs). Router middleware wraps handler middleware; within a level the first
registered is the outermost. Guards and the handler run inside the chain, so a
middleware sees a guard's refusal and the handler's exceptions as exceptions
raised by ``call_next()``.

* Sync action: ``call_next()`` returns the handler's result; the middleware
  returns the result to answer (the same, or another).
* Stream: ``call_next()`` returns once the whole stream has ended, while the
  events flow to the client as the handler yields them, so timing, logging and
  tracing code around ``call_next()`` observes the whole stream. A middleware
  that short-circuits may return an event (or a list of events) to send.

The events reach the client without a task or a queue: the chain runs as one
coroutine that this module steps by hand, handing each event out to the SSE
writer and passing everything else through to the event loop, so context
variables set by a middleware are seen by the handler, and backpressure is
kept. Hence ``call_next()`` must be awaited by the middleware itself, not in a
task it spawns.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

from ..errors import RegistrationError
from .signature import qualname

if TYPE_CHECKING:
    from .._action.context import ActionContext

__all__ = ["Middleware", "check_middleware", "drive", "emit", "link"]

Middleware = Callable[[Callable[[], Awaitable[Any]], "ActionContext[Any]"], Awaitable[Any]]
"""``async def mw(call_next, ctx) -> Any``."""


def check_middleware(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse at registration what cannot be a middleware."""
    if not inspect.iscoroutinefunction(fn) and not inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - a callable object's async __call__
    ):
        raise RegistrationError(
            f"middleware {qualname(fn)} must be an async function: async def mw(call_next, ctx)"
        )
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        raise RegistrationError(f"middleware {qualname(fn)} must take (call_next, ctx)") from None
    return fn


class _Next:
    """The ``call_next`` handed to one middleware: enters the rest of the chain once."""

    __slots__ = ("_called", "_inner", "_owner")

    def __init__(self, inner: Callable[[], Awaitable[Any]], owner: Callable[..., Any]) -> None:
        self._inner = inner
        self._owner = owner
        self._called = False

    def __call__(self) -> Awaitable[Any]:
        if self._called:
            raise RuntimeError(f"middleware {qualname(self._owner)} called call_next() twice")
        self._called = True
        return self._inner()


def link(
    middleware: tuple[Callable[..., Any], ...],
    innermost: Callable[[], Awaitable[Any]],
    ctx: ActionContext[Any],
) -> Awaitable[Any]:
    """Start the chain: the first middleware wraps all others, the last wraps ``innermost``."""
    call = innermost
    for mw in reversed(middleware):
        call = _bind(mw, _Next(call, mw), ctx)
    return call()


def _bind(mw: Callable[..., Any], call_next: _Next, ctx: ActionContext[Any]) -> Callable[[], Awaitable[Any]]:
    return lambda: mw(call_next, ctx)


class _Emit:
    """Awaited by the innermost link to hand one event out of the coroutine."""

    __slots__ = ("event",)

    def __init__(self, event: Any) -> None:
        self.event = event

    def __await__(self) -> Generator[Any, None, None]:
        yield self


def emit(event: Any) -> Awaitable[None]:
    """Hand ``event`` to the stream (resumes once the consumer took it)."""
    return _Emit(event)


class _Forward:
    """Re-yield what the chain yielded to the real driver (the event loop), and return its answer."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self.value)


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


async def drive(awaitable: Awaitable[Any]) -> AsyncGenerator[Any, None]:
    """Run ``awaitable``, yielding each event it emits and, at the end, the events it returned."""
    chain = awaitable if inspect.iscoroutine(awaitable) else _as_coroutine(awaitable)
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        try:
            yielded = chain.send(to_send) if to_throw is None else chain.throw(to_throw)
        except StopIteration as stop:
            for event in _returned_events(stop.value):
                yield event
            return
        to_send = to_throw = None
        if isinstance(yielded, _Emit):
            try:
                yield yielded.event
            except GeneratorExit:
                await _unwind(chain, GeneratorExit())
                raise
        else:
            try:
                to_send = await _Forward(yielded)
            except BaseException as exc:  # cancellation included: it belongs to the chain
                to_throw = exc


async def _unwind(chain: Coroutine[Any, Any, Any], exc: BaseException) -> None:
    """Close ``chain`` (the stream was closed): it may still await, but not emit."""
    to_send: Any = None
    to_throw: BaseException | None = exc
    while True:
        try:
            yielded = chain.send(to_send) if to_throw is None else chain.throw(to_throw)
        except (StopIteration, GeneratorExit):
            return
        to_send = to_throw = None
        if isinstance(yielded, _Emit):
            to_throw = RuntimeError(
                "a middleware or handler kept emitting events after the stream was closed"
            )
            continue
        try:
            to_send = await _Forward(yielded)
        except BaseException as raised:
            to_throw = raised


def _returned_events(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]
