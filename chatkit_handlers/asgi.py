"""Serve a router from any ASGI framework: ``ChatKitApp``, a plain ASGI application.

Mount it where your framework mounts ASGI apps; it answers every request that
reaches it as the ChatKit endpoint::

    from fastapi import FastAPI
    from chatkit_handlers.asgi import ChatKitApp

    app = FastAPI()
    app.add_route("/chatkit", ChatKitApp(router, store=SQLiteStore("chatkit.sqlite3")))

(Starlette: ``Route("/chatkit", ChatKitApp(...))``. Mounted instead, with
``app.mount("/chatkit", ...)`` or ``Mount``, it answers ``/chatkit/``, and
the framework redirects ``/chatkit`` there.) The wire, the errors,
the body limit, the locks and a client's disconnect cancelling its stream are
the Litestar plugin's, through the same dispatcher. What it knows of the HTTP
request is a ``RequestView``: ``context=`` derives the per-request context from
it, and guards, providers and handlers ask for it by annotation.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._execution.asgi import Receive, Send, read_post, send_result
from ._execution.dispatcher import Dispatcher
from ._execution.locks import DEFAULT_LOCK_TIMEOUT
from ._execution.observe import ActionObserver
from ._execution.request import DEFAULT_MAX_BODY_SIZE, RequestView
from ._routing.router import ActionRouter
from .stores import Store

__all__ = ["ChatKitApp", "RequestContext"]

RequestContext = Callable[[RequestView], Any]
"""Derives the per-request context from the request (sync or async): ``lambda request: request.user``."""


class ChatKitApp:
    """An ASGI application answering ChatKit action requests with ``router``'s handlers.

    Args:
        router: the action handlers.
        store: where threads and items live.
        context: derives the per-request context handlers receive (``ctx.context``)
            from the ``RequestView``, e.g. the user an authentication
            middleware put in ``scope["user"]``; sync or async. Without it the
            context is ``None``.
        max_body_size: larger bodies are refused with 413 (1 MiB by default).
        lock_timeout: seconds an action waits for another on the same widget
            or thread before it is refused as busy (see ``Dispatcher``).
        observers: per-action spans, metrics and log records
            (``chatkit_handlers.observability``); none by default.

    Attributes:
        dispatcher: the dispatch core it serves.
    """

    __slots__ = ("_context", "dispatcher")

    def __init__(
        self,
        router: ActionRouter,
        *,
        store: Store,
        context: RequestContext | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
        observers: Sequence[ActionObserver] = (),
    ) -> None:
        self.dispatcher = Dispatcher(
            router, store, max_body_size=max_body_size, lock_timeout=lock_timeout, observers=observers
        )
        self._context = context

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # served as a top-level app: nothing to start or stop
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"ChatKitApp answers HTTP requests, not {scope['type']!r}")
        body = await read_post(scope, receive, send, self.dispatcher.max_body_size)
        if body is None:  # answered: not a POST, or too large
            return
        request = RequestView(scope)
        context = await self._derive(request) if self._context is not None else None
        await send_result(await self.dispatcher.dispatch(body, context, request=request), receive, send)

    async def _derive(self, request: RequestView) -> Any:
        assert self._context is not None
        value = self._context(request)
        return await value if inspect.isawaitable(value) else value


async def _lifespan(receive: Callable[[], Awaitable[Any]], send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
