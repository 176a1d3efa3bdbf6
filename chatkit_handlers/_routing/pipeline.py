"""The one place a handler is invoked with guards, middleware, providers, a timeout and error handlers.

Routes that have none of these (the common case) never come here: ``Route``
calls the handler directly. Otherwise the order is::

    middleware (router, outermost first; then the handler's own)
      -> guards (router guards, then the handler's)
        -> providers (resolved lazily, once per request)  } bounded together
          -> the handler                                  } by its timeout

and whatever escapes the middleware is mapped by the route's error handlers
(``errorhandlers.translate``) into what the dispatcher answers.

A timeout is one deadline, set once the guards have passed. A sync handler runs
under one cancel scope together with its providers. A stream's deadline bounds
each step of the handler's own work (the first step: with the providers), never
a yield to the client, so a stream enters a scope per step.

"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, NoReturn

import anyio
import anyio.to_thread

from ..errors import ActionTimeoutError
from .errorhandlers import translate
from .guards import run_guards
from .middleware import drive, emit, link
from .providers import Extras, Scope
from .route import Route
from .signature import Sources, arguments

if TYPE_CHECKING:
    from .._action.context import ActionContext

__all__ = ["call_stream", "call_sync"]


async def _reraise(exc: Exception, route: Route, ctx: ActionContext[Any]) -> NoReturn:
    """Raise what the route's error handlers make of ``exc`` (``exc`` itself when none applies)."""
    mapped = await translate(exc, ctx, route._errors)
    if mapped is exc:
        raise exc
    raise mapped from exc


# ------------------------------------------------------------------ sync


def call_sync(
    route: Route, ctx: ActionContext[Any], payload: Any, extras: Extras | None = None
) -> Awaitable[Any]:
    """Run a ``streaming=False`` handler (await the result); a plain ``def`` runs in a worker thread.

    A route with nothing around its handler (``route.plain``) calls it directly.
    """
    if not route.plain:
        return _call_sync_through_pipeline(route, ctx, payload, extras)
    if not route.is_async:  # never on the event loop
        kwargs = arguments(route.params, ctx, payload, route.groups)
        return anyio.to_thread.run_sync(functools.partial(route.handler, **kwargs))
    if route.read is not None:  # every parameter read in one go (see signature.reader)
        result: Awaitable[Any] = route.handler(*route.read(Sources(payload, ctx)))
    else:
        result = route.handler(**arguments(route.params, ctx, payload, route.groups))
    return result


def call_stream(route: Route, ctx: ActionContext[Any], payload: Any, extras: Extras | None = None) -> Any:
    """Start a streaming handler: the async iterator of its events (or of its pipeline's)."""
    if not route.plain:
        return _call_stream_through_pipeline(route, ctx, payload, extras)
    if route.read is not None:  # every parameter read in one go (see signature.reader)
        return route.handler(*route.read(Sources(payload, ctx)))
    return route.handler(**arguments(route.params, ctx, payload, route.groups))


async def _call_sync_through_pipeline(
    route: Route, ctx: ActionContext[Any], payload: Any, extras: Extras | None
) -> Any:
    """Run a ``streaming=False`` handler through its pipeline; return its (or a middleware's) result."""
    scope = Scope(ctx, payload, route._providers, route.groups, extras)
    failure: Exception | None = None
    try:
        if not route.middleware:
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
    # One deadline over the providers and the handler, which run back to back.
    with anyio.CancelScope(deadline=anyio.current_time() + timeout):
        # A plain-def handler's thread cannot be stopped: past the deadline it is abandoned.
        return await _call(route, await _arguments(route, scope), abandon=True)
    raise ActionTimeoutError(route.type, timeout)  # reached only if the scope caught its cancellation


async def _arguments(route: Route, scope: Scope) -> dict[str, Any]:
    """The handler's keyword arguments, provided values included."""
    return await scope.arguments(route._signature)


def _call(route: Route, kwargs: dict[str, Any], *, abandon: bool) -> Awaitable[Any]:
    """Call the handler: an async one directly, a plain ``def`` in a worker thread."""
    if route.is_async:
        call: Awaitable[Any] = route.handler(**kwargs)
        return call
    return anyio.to_thread.run_sync(functools.partial(route.handler, **kwargs), abandon_on_cancel=abandon)


# ------------------------------------------------------------------ streams


async def _call_stream_through_pipeline(
    route: Route, ctx: ActionContext[Any], payload: Any, extras: Extras | None
) -> AsyncIterator[Any]:
    """Run a streaming handler through its pipeline, yielding the events it (or a middleware) produced."""
    scope = Scope(ctx, payload, route._providers, route.groups, extras)
    failure: Exception | None = None
    try:
        source: AsyncGenerator[Any, None] | _Bounded
        if route.middleware:
            chain = link(route.middleware, functools.partial(_innermost_stream, route, scope), ctx)
            source = drive(chain)
        else:
            source = await _start_stream(route, scope)
        async with aclosing(source) as events:
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
    # One deadline over the providers and the handler's first step, which run back to back.
    # The first step runs now, when the first event is asked for anyway; a provider's
    # exception, StopAsyncIteration included, is raised from here as it was, not taken for
    # the end of the stream.
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
