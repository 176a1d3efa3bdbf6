"""The one place a handler is invoked with guards, middleware, providers, a timeout and error handlers.

Routes that have none of these (the common case) never come here: ``Route``
calls the handler directly. Otherwise the order is::

    middleware (router, outermost first; then the handler's own)
      -> guards (router guards, then the handler's)
        -> providers (resolved lazily, once per request)
          -> the handler, bounded by its timeout

and whatever escapes the middleware is mapped by the route's error handlers
(``_errorhandlers.translate``) into what the dispatcher answers.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

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


def _scope(route: Route, ctx: ActionContext[Any], payload: Any, extras: Extras | None) -> Scope:
    return Scope(ctx, payload, route._providers, route._groups, extras)


async def call_sync(route: Route, ctx: ActionContext[Any], payload: Any, extras: Extras | None) -> Any:
    """Run a ``streaming=False`` handler through its pipeline; return its (or a middleware's) result."""
    scope = _scope(route, ctx, payload, extras)

    async def innermost() -> Any:
        await run_guards(route._guards, scope)
        kwargs = await scope.arguments(route._signature)
        timeout = route.timeout
        if timeout is None:
            return await _run(route, kwargs, abandon=False)
        with anyio.CancelScope(deadline=anyio.current_time() + timeout) as deadline:
            # A plain-def handler's thread cannot be stopped: it is abandoned (it runs on, unheard).
            result = await _run(route, kwargs, abandon=True)
        if deadline.cancelled_caught:
            raise ActionTimeoutError(route.type, timeout)
        return result

    failure: BaseException | None = None
    try:
        return await link(route.middleware, innermost, ctx)
    except Exception as exc:
        failure = exc
        mapped = await translate(exc, ctx, route._errors)
        if mapped is exc:
            raise
        raise mapped from exc
    finally:
        await scope.close(failure)


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
        kwargs = await scope.arguments(route._signature)
        async with aclosing(route.handler(**kwargs)) as events:
            timeout = route.timeout
            if timeout is None:
                async for event in events:
                    await emit(event)
                return
            deadline = anyio.current_time() + timeout
            while True:
                # The scope covers the handler's work only, never a yield to the client.
                with anyio.CancelScope(deadline=deadline) as limit:
                    try:
                        event = await events.__anext__()
                    except StopAsyncIteration:
                        return
                if limit.cancelled_caught:
                    raise ActionTimeoutError(route.type, timeout)
                await emit(event)

    failure: BaseException | None = None
    try:
        async with aclosing(drive(link(route.middleware, innermost, ctx))) as events:
            async for event in events:
                yield event
    except Exception as exc:
        failure = exc
        mapped = await translate(exc, ctx, route._errors)
        if mapped is exc:
            raise
        raise mapped from exc
    finally:
        await scope.close(failure)
