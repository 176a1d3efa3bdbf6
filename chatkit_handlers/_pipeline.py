"""The one place a handler is invoked with guards, middleware, providers, a timeout and error handlers.

Routes that have none of these (the common case) never come here: ``Route``
calls the handler directly. Otherwise the order is::

    middleware (router, outermost first; then the handler's own)
      -> guards (router guards, then the handler's)
        -> providers (resolved lazily, once per request)  } bounded together
          -> the handler                                  } by its timeout

and whatever escapes the middleware is mapped by the route's error handlers
(``_errorhandlers.translate``) into what the dispatcher answers.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread

from ._errorhandlers import ActionTimeoutError, translate
from ._guards import run_guards
from ._middleware import drive, emit, link
from ._providers import Extras, Scope

if TYPE_CHECKING:
    from ._context import ActionContext
    from ._router import Route

__all__ = ["call_stream", "call_sync"]

T = TypeVar("T")


def _scope(route: Route, ctx: ActionContext[Any], payload: Any, extras: Extras | None) -> Scope:
    return Scope(ctx, payload, route._providers, route._groups, extras)


async def _within(route: Route, deadline: float | None, step: Callable[[], Awaitable[T]]) -> T:
    """Await ``step()``, cancelled at ``deadline`` (then ``ActionTimeoutError``)."""
    if deadline is None:
        return await step()
    # Each scope covers the handler's own work only, never a yield to the client.
    with anyio.CancelScope(deadline=deadline) as limit:
        result = await step()
    if limit.cancelled_caught:
        assert route.timeout is not None
        raise ActionTimeoutError(route.type, route.timeout)
    return result


@asynccontextmanager
async def _answered(route: Route, scope: Scope) -> AsyncIterator[None]:
    """Map what escapes the chain to what the dispatcher answers; close the scope whatever happens."""
    failure: BaseException | None = None
    try:
        yield
    except Exception as exc:
        failure = exc
        mapped = await translate(exc, scope.ctx, route._errors)
        if mapped is exc:
            raise
        raise mapped from exc
    finally:
        await scope.close(failure)


def _deadline(route: Route) -> float | None:
    return anyio.current_time() + route.timeout if route.timeout is not None else None


async def call_sync(route: Route, ctx: ActionContext[Any], payload: Any, extras: Extras | None) -> Any:
    """Run a ``streaming=False`` handler through its pipeline; return its (or a middleware's) result."""
    scope = _scope(route, ctx, payload, extras)

    async def innermost() -> Any:
        await run_guards(route._guards, scope)
        deadline = _deadline(route)
        kwargs = await _within(route, deadline, lambda: scope.arguments(route._signature))
        # A plain-def handler's thread cannot be stopped: past a deadline it is abandoned.
        return await _within(route, deadline, lambda: _run(route, kwargs, abandon=deadline is not None))

    async with _answered(route, scope):
        return await link(route.middleware, innermost, ctx)


async def _run(route: Route, kwargs: dict[str, Any], *, abandon: bool) -> Any:
    if route._is_async:
        return await route.handler(**kwargs)
    return await anyio.to_thread.run_sync(
        functools.partial(route.handler, **kwargs), abandon_on_cancel=abandon
    )


async def call_stream(
    route: Route, ctx: ActionContext[Any], payload: Any, extras: Extras | None
) -> AsyncIterator[Any]:
    """Run a streaming handler through its pipeline, yielding the events it (or a middleware) produced."""
    scope = _scope(route, ctx, payload, extras)

    async def innermost() -> None:
        await run_guards(route._guards, scope)
        deadline = _deadline(route)
        kwargs = await _within(route, deadline, lambda: scope.arguments(route._signature))
        async with aclosing(route.handler(**kwargs)) as events:
            if deadline is None:
                async for event in events:
                    await emit(event)
                return
            while True:
                try:
                    event = await _within(route, deadline, events.__anext__)
                except StopAsyncIteration:
                    return
                await emit(event)

    async with _answered(route, scope), aclosing(drive(link(route.middleware, innermost, ctx))) as events:
        async for event in events:
            yield event
