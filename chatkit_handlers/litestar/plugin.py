"""Mount chatkit-handlers in a Litestar app.

>>> app = Litestar(plugins=[ChatKitPlugin(router, store=MemoryStore(), path="/chatkit")])  # doctest: +SKIP

The endpoint is a Litestar ASGI route: it reads and answers the raw request
itself (the dispatch core decodes, validates and encodes), so it does not pay
for Litestar's per-request signature and response pipeline, while the app's
middleware, the route's guards, authentication (``scope["user"]``), exception
handling and lifespan all apply as to any other route.

Handlers (and their guards and providers) may ask for the Litestar ``Request``:
it is built only for requests whose handler needs it. Being an ASGI route, the
endpoint is not in Litestar's generated OpenAPI document on its own; the plugin
adds it, with the request body as a discriminated union of the registered actions.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import TYPE_CHECKING, Any

from litestar import Request
from litestar.config.app import AppConfig
from litestar.handlers import asgi
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import OpenAPI
from litestar.plugins import CLIPlugin, InitPlugin
from litestar.types import Empty, Guard, Middleware, Receive, Scope, Send
from litestar.utils.scope.state import CONNECTION_STATE_KEY, ScopeState

if TYPE_CHECKING:
    from click import Group

from .._execution.asgi import read_post, send_json, send_stream
from .._execution.dispatcher import Dispatcher
from .._execution.locks import DEFAULT_LOCK_TIMEOUT
from .._execution.observe import ActionObserver
from .._execution.request import DEFAULT_MAX_BODY_SIZE, RequestView
from .._routing.providers import Extras
from .._routing.router import ActionRouter
from .._routing.schema import openapi_operation
from ..errors import RegistrationError
from ..stores import Store
from ._playground import Playground, TemplateSource, load_templates, playground_path
from .forward import ChatKitServerLike, Forwarder

__all__ = ["ChatKitPlugin", "ContextFactory"]

ContextFactory = Callable[[Request[Any, Any, Any]], Any]
"""Derives the per-request context from the Litestar request (sync or async)."""


class ChatKitPlugin(InitPlugin, CLIPlugin):
    """Adds one POST endpoint that answers ChatKit action requests.

    With ``server=`` (an openai-chatkit ``ChatKitServer``) it answers the whole
    ChatKit protocol at that one endpoint: the two action request types take
    the router's fast path, every other type (``threads.create``,
    ``threads.list``...) is handed to ``server.process()`` and its SSE or JSON
    result passed on unchanged::

        ChatKitPlugin(router, server=MyChatKitServer(store=my_chatkit_store))

    Args:
        router: the action handlers.
        store: where threads and items live. Optional with ``server=``: it
            defaults to ``ChatKitStoreAdapter(server.store)``, so both paths see
            the same data.
        server: a ``ChatKitServer`` answering the non-action request types,
            and the actions the router has no handler for if the server
            implements ``action()``/``sync_action()`` itself (to move actions
            to handlers one at a time).
        path: the endpoint's path (``/chatkit``).
        context: derives the per-request context handlers receive from the
            Litestar ``Request`` (e.g. ``lambda request: request.user``); sync
            or async. Without it the context is ``None``.
        max_body_size: larger bodies are refused with 413 (1 MiB by default).
        lock_timeout: seconds an action waits for another action on the same
            widget or thread before it is refused as busy (see ``Dispatcher``).
        guards: Litestar guards for the endpoint.
        middleware: Litestar middleware for the endpoint only (app middleware
            applies too, outside it).
        opt: Litestar ``opt`` for the route handler.
        include_in_schema: add the endpoint to the app's OpenAPI document
            (when the app has one).
        playground: serve the widget playground, a development page, at
            ``{path}/playground`` (``True``) or at the path given; off
            (``False``, the default) it does not exist (404). It goes through
            the same context, guards and middleware as the endpoint. A
            development tool: see docs/playground.md.
        playground_templates: the app's widget templates, offered by the
            playground under "Try a widget" (rendered with their sample data,
            or data typed in the page): ``WidgetTemplate`` objects, ``.widget``
            files, or folders of them; read now. Needs ``playground``.
        observers: per-action spans, metrics and log records
            (``chatkit_handlers.observability``); none by default.
    """

    __slots__ = (
        "_context",
        "_forwarder",
        "_wants_request",
        "_wants_view",
        "dispatcher",
        "guards",
        "include_in_schema",
        "middleware",
        "opt",
        "path",
        "playground",
        "playground_templates",
        "server",
    )

    def __init__(
        self,
        router: ActionRouter,
        *,
        store: Store | None = None,
        server: ChatKitServerLike | None = None,
        path: str = "/chatkit",
        context: ContextFactory | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
        guards: Sequence[Guard] | None = None,
        middleware: Sequence[Middleware] | None = None,
        opt: dict[str, Any] | None = None,
        include_in_schema: bool = True,
        playground: bool | str = False,
        playground_templates: Sequence[TemplateSource] = (),
        observers: Sequence[ActionObserver] = (),
    ) -> None:
        if store is None:
            if server is None:
                raise TypeError("ChatKitPlugin() needs store= (where threads and items live) or server=")
            from ..stores.chatkit import ChatKitStoreAdapter  # chatkit only for server= users

            store = ChatKitStoreAdapter(server.store)
        self.server = server
        self._forwarder = Forwarder(server, router) if server is not None else None
        self.dispatcher = Dispatcher(
            router,
            store,
            max_body_size=max_body_size,
            provides=(Request,),
            lock_timeout=lock_timeout,
            allow_cancel=self._forwarder.allow_cancel() if self._forwarder is not None else None,
            observers=observers,
        )
        self.path = path
        self.guards = list(guards or ())
        self.middleware = list(middleware or ())
        self.opt = dict(opt or {})
        self.include_in_schema = include_in_schema
        self.playground = playground_path(path, playground)
        if playground_templates and self.playground is None:
            raise RegistrationError(
                "playground_templates= are shown by the playground: set playground=True too"
            )
        self.playground_templates = load_templates(playground_templates)
        self._context = context
        self._wants_request = Request in self.dispatcher.needs
        self._wants_view = RequestView in self.dispatcher.needs

    def on_cli_init(self, cli: Group) -> None:
        """Add ``litestar chatkit routes|schema|typescript`` for this plugin's router."""
        from .cli import chatkit_group  # click only when the CLI runs

        cli.add_command(chatkit_group(lambda: self.dispatcher.router))

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Register the endpoint with the app (and in its OpenAPI document)."""
        # Handlers registered since the plugin was made are checked now, at app creation.
        self.dispatcher.check()
        self._wants_request = Request in self.dispatcher.needs
        self._wants_view = RequestView in self.dispatcher.needs
        if self.include_in_schema and app_config.openapi_config is not None:
            app_config.openapi_config = _documented(
                app_config.openapi_config, self.path, self.dispatcher.router
            )
        app_config.route_handlers.append(
            _EndpointHandler(
                self.dispatcher.max_body_size,
                self.path,
                guards=self.guards,
                middleware=self.middleware,
                opt=self.opt,
                copy_scope=False,
                name="chatkit",
            )(self._endpoint)
        )
        if self.playground is not None:
            app_config.route_handlers.append(
                _EndpointHandler(
                    self.dispatcher.max_body_size,
                    self.playground,
                    is_mount=True,
                    guards=self.guards,
                    middleware=self.middleware,
                    opt=self.opt,
                    copy_scope=False,
                    name="chatkit-playground",
                )(self._playground())
            )
        return app_config

    def _playground(self) -> Playground:
        assert self.playground is not None
        return Playground(
            path=self.playground,
            endpoint=self.path,
            store=self.dispatcher.store,
            context=self._context_of,
            max_body_size=self.dispatcher.max_body_size,
            # With a server, the actions the router has no handler for may be the server's own.
            check_widget=self.dispatcher.router.check_widget if self.server is None else None,
            templates=self.playground_templates,
        )

    async def _endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A body a middleware read already (see _body.py), looked up here rather than through
        # body_read_before(): one call less on every request keeps the instruction gate.
        state: ScopeState | None = scope["state"].get(CONNECTION_STATE_KEY)
        if state is not None and state.body is not Empty and scope.get("method") == "POST":
            body: bytes | None = state.body
        else:
            body = await read_post(scope, receive, send, self.dispatcher.max_body_size)
        if body is None:  # answered: not a POST, or too large
            return
        context: Any = None
        extras: Extras | None = None
        if self._context is not None or self._wants_request:
            request = _LazyRequest(scope, receive, body)
            if self._context is not None:
                context = await self._derive_context(request.get())
            if self._wants_request:
                extras = {Request: request.get}
        forwarder = self._forwarder
        kind = forwarder.request_type(body) if forwarder is not None else None
        if kind is not None:
            assert forwarder is not None
            result = await forwarder.forward(body, kind, context)
        else:
            view = RequestView(scope) if self._wants_view else None
            result = await self.dispatcher.dispatch(body, context, extras=extras, request=view)
        if result.stream is None:  # send_result(), without one call per request (the instruction gate)
            await send_json(send, result.status_code, result.body or b"")
        else:
            await send_stream(result, receive, send)

    async def _context_of(self, scope: Scope, receive: Receive, body: bytes) -> Any:
        """The context of a playground request, derived as the endpoint's is."""
        if self._context is None:
            return None
        return await self._derive_context(_LazyRequest(scope, receive, body).get())

    async def _derive_context(self, request: Request[Any, Any, Any]) -> Any:
        assert self._context is not None
        value = self._context(request)
        return await value if inspect.isawaitable(value) else value


class _EndpointHandler(asgi):
    """Litestar's ASGI route handler, answering what Litestar asks of an HTTP one: the body size limit.

    Litestar's ``Request.stream()`` asks the route handler for it, so a
    middleware reading the body (the LoggingMiddleware) would fail on a plain
    ASGI handler.
    """

    __slots__ = ("_max_body_size",)

    def __init__(self, max_body_size: int, path: str, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self._max_body_size = max_body_size

    def resolve_request_max_body_size(self) -> int:
        return self._max_body_size


class _BufferedRequest(Request[Any, Any, Any]):
    """A Litestar ``Request`` whose body the endpoint has already read."""

    __slots__ = ("_buffered",)
    _buffered: bytes

    async def body(self) -> bytes:
        return self._buffered

    async def stream(self) -> AsyncGenerator[bytes, None]:
        yield self._buffered


class _LazyRequest:
    """The Litestar ``Request`` of one call, built on first use."""

    __slots__ = ("_body", "_receive", "_request", "_scope")

    def __init__(self, scope: Scope, receive: Receive, body: bytes) -> None:
        self._scope = scope
        self._receive = receive
        self._body = body
        self._request: _BufferedRequest | None = None

    def get(self) -> Request[Any, Any, Any]:
        if self._request is None:
            self._request = _BufferedRequest(self._scope, self._receive)
            self._request._buffered = self._body
        return self._request


class _DocumentedOpenAPI(OpenAPI):
    """Litestar's OpenAPI document plus the ChatKit endpoints, which as ASGI routes it leaves out."""

    chatkit_endpoints: list[tuple[str, ActionRouter]]

    def to_schema(self) -> dict[str, Any]:
        result = super().to_schema()
        for path, router in self.chatkit_endpoints:
            # Built when the document is, so routes registered after app creation are in it too.
            operation, components = openapi_operation(router.routes())
            result.setdefault("paths", {}).setdefault(path, {})["post"] = operation
            schemas = result.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in components.items():
                schemas.setdefault(name, schema)
        return result


def _documented(config: OpenAPIConfig, path: str, router: ActionRouter) -> OpenAPIConfig:
    """A copy of ``config`` whose documents include ``path``'s operation."""
    config = copy.copy(config)
    build = config.to_openapi_schema

    def to_openapi_schema() -> OpenAPI:
        openapi = build()
        if not isinstance(openapi, _DocumentedOpenAPI):
            fields = {f.name: getattr(openapi, f.name) for f in dataclasses.fields(openapi) if f.init}
            openapi = _DocumentedOpenAPI(**fields)
            openapi.chatkit_endpoints = []
        openapi.chatkit_endpoints.append((path, router))
        return openapi

    # Litestar's OpenAPI plugin builds its document through this method; there is no public
    # hook to add an ASGI route's operation, so the copy's method is replaced.
    vars(config)["to_openapi_schema"] = to_openapi_schema
    return config
