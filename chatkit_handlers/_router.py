"""``ActionRouter``: registration, matching by action type, payload validation."""

from __future__ import annotations

import difflib
import functools
import inspect
import types
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
import msgspec
import msgspec.inspect

from ._context import ActionContext
from ._decorator import ActionSpec, on_action, specs_of
from ._signature import HandlerSignature, Source, inspect_handler, qualname
from .errors import DispatchError, RegistrationError

__all__ = ["ActionRouter", "Route"]

F = TypeVar("F", bound=Callable[..., Any])

_NULL = b"null"
_EMPTY_PAYLOADS = frozenset({b"null", b"{}"})
_decode_any = msgspec.json.Decoder().decode
_OBJECT_TYPES = (
    msgspec.inspect.StructType,
    msgspec.inspect.DictType,
    msgspec.inspect.TypedDictType,
    msgspec.inspect.DataclassType,
)


class Route:
    """One registered handler: its action type, mode, and everything precomputed.

    Attributes:
        type: the action type it answers.
        handler: the decorated function, unchanged.
        streaming: ``True`` for ``threads.custom_action``, ``False`` for
            ``threads.sync_custom_action``.
        payload_type: the type the payload is validated into (``None``: no payload).
    """

    __slots__ = (
        "_decoder",
        "_is_async",
        "_null_as_empty",
        "_params",
        "handler",
        "payload_type",
        "sender_required",
        "streaming",
        "type",
    )

    def __init__(self, spec: ActionSpec, handler: Callable[..., Any], sig: HandlerSignature) -> None:
        self.type = spec.type
        self.streaming = spec.streaming
        self.handler = handler
        self.payload_type = sig.payload_type
        self.sender_required = sig.sender_required
        self._params = sig.params
        self._is_async = inspect.iscoroutinefunction(handler)
        self._decoder = msgspec.json.Decoder(sig.payload_type) if sig.payload_type is not None else None
        self._null_as_empty = self._decoder is not None and _null_as_empty(self._decoder)
        _check_mode(spec, handler)

    def __repr__(self) -> str:
        mode = "streaming" if self.streaming else "sync"
        return f"Route({self.type!r}, {qualname(self.handler)}, {mode})"

    def decode_payload(self, raw: msgspec.Raw) -> Any:
        """Validate the raw payload; raise ``DispatchError(422)`` naming the problem."""
        data = bytes(raw)
        if self._decoder is None:
            if data in _EMPTY_PAYLOADS or _decode_any(data) in (None, {}):
                return None
            raise DispatchError(
                422,
                "payload.invalid",
                f"action {self.type!r} takes no payload, but one was sent; "
                f"handler {qualname(self.handler)} declares no payload parameter",
            )
        if data == _NULL and self._null_as_empty:
            # An absent payload means "all defaults" for a Struct or mapping payload.
            data = b"{}"
        try:
            return self._decoder.decode(data)
        except msgspec.ValidationError as exc:
            raise DispatchError(
                422, "payload.invalid", f"invalid payload for action {self.type!r}: {exc}"
            ) from None
        except msgspec.DecodeError as exc:  # unreachable for a Raw from a valid envelope
            raise DispatchError(422, "payload.invalid", f"malformed payload: {exc}") from None

    def arguments(self, ctx: ActionContext[Any], payload: Any) -> dict[str, Any]:
        """The keyword arguments for the handler, looked up from ``ctx``."""
        kwargs: dict[str, Any] = {}
        for name, source in self._params:
            if source is Source.CONTEXT:
                kwargs[name] = ctx
            elif source is Source.PAYLOAD:
                kwargs[name] = payload
            elif source is Source.SENDER:
                kwargs[name] = ctx.sender
            elif source is Source.THREAD:
                kwargs[name] = ctx.thread
            elif source is Source.REQUEST_CONTEXT:
                kwargs[name] = ctx.context
            else:
                kwargs[name] = ctx.store
        return kwargs

    async def call_sync(self, ctx: ActionContext[Any], payload: Any) -> Any:
        """Run a ``streaming=False`` handler; a plain ``def`` runs in a worker thread."""
        kwargs = self.arguments(ctx, payload)
        if self._is_async:
            return await self.handler(**kwargs)
        return await anyio.to_thread.run_sync(functools.partial(self.handler, **kwargs))

    def call_stream(self, ctx: ActionContext[Any], payload: Any) -> Any:
        """Start a streaming handler: returns its async generator."""
        return self.handler(**self.arguments(ctx, payload))


def _null_as_empty(decoder: msgspec.json.Decoder[Any]) -> bool:
    """Whether an absent (null) payload is decoded as ``{}``: only for object-shaped types
    that refuse null, so that a scalar payload's error still says it got ``null``."""
    try:
        decoder.decode(_NULL)
    except msgspec.ValidationError:
        info = msgspec.inspect.type_info(decoder.type)
        members = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
        return any(isinstance(m, _OBJECT_TYPES) for m in members)
    return False


def _check_mode(spec: ActionSpec, fn: Callable[..., Any]) -> None:
    is_agen = inspect.isasyncgenfunction(fn)
    if spec.streaming and not is_agen:
        raise RegistrationError(
            f"handler {qualname(fn)} for {spec.type!r} is registered with streaming=True "
            "(the default), so it must be an async generator (async def with yield). "
            "For a handler that returns one result, use @on_action(..., streaming=False)"
        )
    if not spec.streaming and (is_agen or inspect.isgeneratorfunction(fn)):
        raise RegistrationError(
            f"handler {qualname(fn)} for {spec.type!r} is registered with streaming=False "
            "but is a generator; a sync action returns one widget root, item or None. "
            "Drop streaming=False to stream events instead"
        )


class ActionRouter:
    """A table of action handlers, matched by exact action type.

    Example::

        router = ActionRouter()
        router.include(handlers)          # a module: all its @on_action functions

        @router.on_action("cart.clear")   # or register directly
        async def clear(ctx: ActionContext): ...

    Args:
        context_type: the type of the per-request context your app derives
            (e.g. ``User``); handler parameters annotated with it receive it.
    """

    __slots__ = ("_context_type", "_included", "_routes")

    def __init__(self, *, context_type: Any = None) -> None:
        self._context_type = context_type
        self._routes: dict[str, Route] = {}
        self._included: set[int] = set()

    def __repr__(self) -> str:
        return f"ActionRouter({len(self._routes)} routes)"

    def __contains__(self, action_type: object) -> bool:
        return action_type in self._routes

    def __len__(self) -> int:
        return len(self._routes)

    def on_action(self, type: str, *, streaming: bool = True) -> Callable[[F], F]:
        """Like :func:`chatkit_handlers.on_action`, registering on this router at once."""
        mark = on_action(type, streaming=streaming)

        def register(fn: F) -> F:
            mark(fn)
            self._register(specs_of(fn)[-1], fn)
            return fn

        return register

    def add(self, fn: Callable[..., Any]) -> None:
        """Register every ``@on_action`` recorded on ``fn``."""
        specs = specs_of(fn)
        if not specs:
            raise RegistrationError(f"{qualname(fn)} has no @on_action decorator")
        for spec in specs:
            self._register(spec, fn)

    def include(self, source: types.ModuleType | ActionRouter | Callable[..., Any]) -> None:
        """Register the handlers of a module, of another router, or one function.

        A module contributes the ``@on_action`` functions it defines (not those it
        imports from elsewhere), in definition order.
        """
        if isinstance(source, ActionRouter):
            if source is self:
                raise RegistrationError("a router cannot include itself")
            if id(source) in self._included:
                raise RegistrationError(f"{source!r} is already included in this router")
            self._included.add(id(source))
            for route in source._routes.values():
                self._add_route(route)
        elif isinstance(source, types.ModuleType):
            found = False
            for value in list(vars(source).values()):
                if callable(value) and getattr(value, "__module__", None) == source.__name__:
                    for spec in specs_of(value):
                        self._register(spec, value)
                        found = True
            if not found:
                raise RegistrationError(f"module {source.__name__!r} defines no @on_action handler")
        elif callable(source):
            self.add(source)
        else:
            raise TypeError(f"include() takes a module, an ActionRouter or a handler, got {source!r}")

    def lookup(self, action_type: str) -> Route | None:
        """The route for ``action_type``, or ``None``."""
        return self._routes.get(action_type)

    def routes(self) -> list[Route]:
        """Every registered route, in registration order."""
        return list(self._routes.values())

    def suggest(self, action_type: str, n: int = 3) -> list[str]:
        """The registered types closest to ``action_type`` (for "did you mean")."""
        return difflib.get_close_matches(action_type, self._routes, n=n, cutoff=0.5)

    def _register(self, spec: ActionSpec, fn: Callable[..., Any]) -> None:
        self._add_route(Route(spec, fn, inspect_handler(fn, context_type=self._context_type)))

    def _add_route(self, route: Route) -> None:
        existing = self._routes.get(route.type)
        if existing is not None:
            if existing.handler is route.handler:
                raise RegistrationError(
                    f"action {route.type!r}: handler {qualname(route.handler)} is already "
                    "registered (was its module or router included twice?)"
                )
            raise RegistrationError(
                f"action {route.type!r} has two handlers: {qualname(existing.handler)} and "
                f"{qualname(route.handler)}"
            )
        self._routes[route.type] = route
