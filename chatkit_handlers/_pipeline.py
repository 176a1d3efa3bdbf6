"""The one place a handler is invoked with guards, middleware, providers, a timeout and error handlers.

Routes that have none of these (the common case) never come here: ``Route``
calls the handler directly. Otherwise the order is::

    middleware (router, outermost first; then the handler's own)
      -> guards (router guards, then the handler's)
        -> providers (resolved lazily, once per request)  } bounded together
          -> the handler                                  } by its timeout

and whatever escapes the middleware is mapped by the route's error handlers
(``_errorhandlers.translate``) into what the dispatcher answers.

A timeout is one deadline, set once the guards have passed. A sync handler runs
under one cancel scope together with its providers. A stream's deadline bounds
each step of the handler's own work (the first step: with the providers), never
a yield to the client, so a stream enters a scope per step.

This runs on every request of such a route, hence a few shortcuts, each
commented with what it saves.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, NoReturn

import anyio
import anyio.to_thread

from ._errorhandlers import ActionTimeoutError, translate
from ._guards import run_guards
from ._middleware import drive, emit, link
from ._providers import Extras, Scope
from ._signature import HandlerSignature, Source

if TYPE_CHECKING:
    from ._context import ActionContext
    from ._router import Route

__all__ = ["call_stream", "call_sync"]


def _asks_provided(sig: HandlerSignature) -> bool:
    """Whether ``sig`` has a provided parameter.

    When it has none, the handler's arguments come from ``Route.arguments`` (its
    binder, made once) rather than ``Scope.arguments``, which looks the binder up
    and walks the parameters again: ~0.8 µs less.
    """
    # ``keys`` holds the provided and pattern-group parameters: empty for most handlers.
    return bool(sig.keys) and any(source is Source.DEPENDENCY for _, source in sig.params)


async def _reraise(exc: Exception, route: Route, ctx: ActionContext[Any]) -> NoReturn:
    """Raise what the route's error handlers make of ``exc`` (``exc`` itself when none applies)."""
    mapped = await translate(exc, ctx, route._errors)
    if mapped is exc:
        raise exc
    raise mapped from exc


# ------------------------------------------------------------------ sync


async def call_sync(route: Route, ctx: ActionContext[Any], payload: Any, extras: Extras | None) -> Any:
    """Run a ``streaming=False`` handler through its pipeline; return its (or a middleware's) result."""
    scope = Scope(ctx, payload, route._providers, route._groups, extras)
    failure: Exception | None = None
    # A try statement rather than an @asynccontextmanager: saves its generator (~1.5 µs).
    try:
        if not route.middleware:  # nothing to link: saves the chain's partial and link()
            return await _innermost_sync(route, scope)
        return await link(route.middleware, functools.partial(_innermost_sync, route, scope), ctx)
    except Exception as exc:
        failure = exc
        await _reraise(exc, route, ctx)
    finally:
        await scope.close(failure)


async def _innermost_sync(route: Route, scope: Scope) -> Any:
    """The end of a sync action's chain: guards, then providers and the handler, under the timeout."""
    if route._guards:
        await run_guards(route._guards, scope)
    timeout = route.timeout
    if timeout is None:
        return await _call(route, await _arguments(route, scope), abandon=False)
    # One scope over the providers and the handler, which run back to back: one deadline
    # timer per request instead of two (a deadline scope costs ~8 µs on asyncio).
    with anyio.CancelScope(deadline=anyio.current_time() + timeout):
        # A plain-def handler's thread cannot be stopped: past the deadline it is abandoned.
        return await _call(route, await _arguments(route, scope), abandon=True)
    raise ActionTimeoutError(route.type, timeout)  # reached only if the scope caught its cancellation


async def _arguments(route: Route, scope: Scope) -> dict[str, Any]:
    """The handler's keyword arguments, provided values included."""
    sig = route._signature
    if _asks_provided(sig):
        return await scope.arguments(sig)
    return route.arguments(scope.ctx, scope.payload)


def _call(route: Route, kwargs: dict[str, Any], *, abandon: bool) -> Awaitable[Any]:
    """Call the handler: an async one directly, a plain ``def`` in a worker thread."""
    if route._is_async:
        # Its coroutine is returned to be awaited by the caller: no coroutine of our own.
        call: Awaitable[Any] = route.handler(**kwargs)
        return call
    return anyio.to_thread.run_sync(functools.partial(route.handler, **kwargs), abandon_on_cancel=abandon)


# ------------------------------------------------------------------ streams


async def call_stream(
    route: Route, ctx: ActionContext[Any], payload: Any, extras: Extras | None
) -> AsyncIterator[Any]:
    """Run a streaming handler through its pipeline, yielding the events it (or a middleware) produced."""
    scope = Scope(ctx, payload, route._providers, route._groups, extras)
    failure: Exception | None = None
    # A try statement rather than an @asynccontextmanager: saves its generator (~1.5 µs).
    try:
        if route.middleware:
            chain = link(route.middleware, functools.partial(_innermost_stream, route, scope), ctx)
            async with aclosing(drive(chain)) as events:
                async for event in events:
                    yield event
        else:
            # No chain to step by hand (drive) when there is no middleware: the events are
            # yielded straight from here, which saves an async generator and drive's stepping.
            async with aclosing(await _start_stream(route, scope)) as events:
                async for event in events:
                    yield event
    except Exception as exc:
        failure = exc
        await _reraise(exc, route, ctx)
    finally:
        await scope.close(failure)


async def _innermost_stream(route: Route, scope: Scope) -> None:
    """The end of a stream's middleware chain: hands each of the handler's events out of it."""
    async with aclosing(await _start_stream(route, scope)) as events:
        async for event in events:
            await emit(event)


async def _start_stream(route: Route, scope: Scope) -> AsyncGenerator[Any, None] | _Bounded:
    """Run the guards, then start the handler: its events (with a timeout, bounded step by step)."""
    if route._guards:
        await run_guards(route._guards, scope)
    if route.timeout is None:
        events: AsyncGenerator[Any, None] = route.handler(**await _arguments(route, scope))
        return events
    deadline = anyio.current_time() + route.timeout
    # One scope over the providers and the handler's first step, which run back to back:
    # a deadline timer less per request (~8 µs). The first step runs now, when the first
    # event is asked for anyway; a provider's exception, StopAsyncIteration included, is
    # raised from here as it was, not taken for the end of the stream.
    with anyio.CancelScope(deadline=deadline):
        events = route.handler(**await _arguments(route, scope))
        try:
            first = await events.__anext__()
        except StopAsyncIteration:
            first = _END
        return _Bounded(route, events, deadline, first)
    raise ActionTimeoutError(route.type, route.timeout)  # reached only if the scope caught its cancellation


_END: Any = object()
"""The first step of a stream ended it (the handler yielded nothing)."""
_TAKEN: Any = object()
"""The first step's event was handed out."""


class _Bounded:
    """A streaming handler's events after its first step, each step of its own work bounded by the deadline.

    Each step runs the handler up to its next event, or its end; nothing bounds
    the time the consumer takes between steps.
    """

    __slots__ = ("_deadline", "_events", "_first", "_route")

    def __init__(self, route: Route, events: AsyncGenerator[Any, None], deadline: float, first: Any) -> None:
        self._route = route
        self._events = events
        self._deadline = deadline
        self._first = first

    def __aiter__(self) -> _Bounded:
        return self

    async def __anext__(self) -> Any:
        first = self._first
        if first is not _TAKEN:
            self._first = _TAKEN
            if first is _END:
                raise StopAsyncIteration
            return first
        with anyio.CancelScope(deadline=self._deadline):
            # StopAsyncIteration (the handler ended) passes through the scope and ends the loop.
            return await self._events.__anext__()
        # Reached only if the scope caught its own cancellation.
        route = self._route
        assert route.timeout is not None
        raise ActionTimeoutError(route.type, route.timeout)

    async def aclose(self) -> None:
        await self._events.aclose()
