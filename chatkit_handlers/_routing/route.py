"""``Route``: one registered handler, with everything its requests need precomputed.

A route is built once per registration; the router that compiles a tree derives
a copy per place it appears (namespace, guards, middleware, providers and error
handlers of the routers above applied), and a pattern route is bound to each
concrete type it matches. ``call_sync``/``call_stream`` call the handler
directly when nothing runs around it, and go through ``_pipeline`` otherwise.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio.to_thread
import msgspec
import msgspec.inspect

from .._action.context import ActionContext
from .._action.decorator import ActionSpec
from .._action.match import TypeMatcher, parse_type
from ..errors import DispatchError, RegistrationError
from .errorhandlers import ErrorHandler
from .guards import Guard
from .middleware import check_middleware
from .pipeline import call_stream, call_sync
from .providers import Extras, Provider
from .signature import HandlerSignature, Source, arguments, qualname

__all__ = ["Route", "duplicate_error"]

_NULL = b"null"
_EMPTY_PAYLOADS = frozenset({b"null", b"{}"})
_decode_any = msgspec.json.Decoder().decode
_OBJECT_TYPES = (
    msgspec.inspect.StructType,
    msgspec.inspect.DictType,
    msgspec.inspect.TypedDictType,
    msgspec.inspect.DataclassType,
)
NO_ERRORS: Mapping[type, ErrorHandler] = {}
NO_PROVIDERS: Mapping[type, Provider] = {}


class Route:
    """One registered handler: its action type, mode, metadata, and everything precomputed.

    Attributes:
        type: the action type it answers (for a pattern route, the pattern as
            written, ``"cart.*"``; once matched, the concrete type).
        handler: the decorated function, unchanged.
        streaming: ``True`` for ``threads.custom_action``, ``False`` for
            ``threads.sync_custom_action``.
        payload_type: the type the payload is validated into (``None``: no payload).
        pattern: ``None`` for an exact type; else the compiled expression (fullmatch).
        description: from ``description=`` or the handler's docstring (first line).
        timeout: seconds the handler may run, or ``None``.
        guards: the guard functions that run before it, outermost router first.
        middleware: the middleware that wraps it, outermost first.
    """

    __slots__ = (
        "_decoder",
        "_errors",
        "_groups",
        "_guards",
        "_is_async",
        "_matcher",
        "_null_as_empty",
        "_own_guards",
        "_own_middleware",
        "_params",
        "_plain",
        "_providers",
        "_signature",
        "description",
        "guards",
        "handler",
        "middleware",
        "pattern",
        "payload_type",
        "sender_required",
        "streaming",
        "timeout",
        "type",
    )

    def __init__(
        self,
        spec: ActionSpec,
        handler: Callable[..., Any],
        sig: HandlerSignature,
        *,
        matcher: TypeMatcher | None = None,
        guards: tuple[Guard, ...] = (),
    ) -> None:
        _check_mode(spec, handler)
        self._matcher = matcher if matcher is not None else parse_type(spec.type)
        self.type = self._matcher.text
        self.pattern = self._matcher.pattern
        self.streaming = spec.streaming
        self.handler = handler
        self.payload_type = sig.payload_type
        self.sender_required = sig.sender_required
        self.timeout = spec.timeout
        self.description = spec.description if spec.description is not None else _doc_line(handler)
        self._signature = sig
        self._params = sig.params
        self._is_async = inspect.iscoroutinefunction(handler)
        self._decoder = msgspec.json.Decoder(sig.payload_type) if sig.payload_type is not None else None
        self._null_as_empty = self._decoder is not None and _null_as_empty(self._decoder)
        self._own_guards = guards
        self._own_middleware = tuple(check_middleware(m) for m in spec.middleware)
        self._guards = guards
        self.guards = tuple(g.fn for g in guards)
        self.middleware = self._own_middleware
        self._providers = NO_PROVIDERS
        self._errors = NO_ERRORS
        self._groups: Mapping[str, str] | None = None
        self._plain = self._is_plain()

    @property
    def mode(self) -> str:
        """``"streaming"`` or ``"sync"``."""
        return "streaming" if self.streaming else "sync"

    def __repr__(self) -> str:
        return f"Route({self.type!r}, {qualname(self.handler)}, {self.mode})"

    def _is_plain(self) -> bool:
        """Nothing to do but call the handler: no pipeline, no Scope."""
        return not (
            self._guards
            or self.middleware
            or self.timeout is not None
            or self._errors
            or any(source is Source.DEPENDENCY for _, source in self._params)
        )

    def _copy(self) -> Route:
        clone = Route.__new__(Route)
        for name in Route.__slots__:
            setattr(clone, name, getattr(self, name))
        return clone

    def _derive(
        self,
        prefix: str,
        guards: tuple[Guard, ...],
        middleware: tuple[Callable[..., Any], ...],
        providers: Mapping[type, Provider],
        errors: Mapping[type, ErrorHandler],
    ) -> Route:
        """This route as seen from a router above it (namespace and chain applied)."""
        if not (prefix or guards or middleware or providers or errors):
            return self
        route = self._copy()
        route._matcher = self._matcher.prefixed(prefix)
        route.type = route._matcher.text
        route.pattern = route._matcher.pattern
        route._guards = guards + self._own_guards
        route.guards = tuple(g.fn for g in route._guards)
        route.middleware = middleware + self._own_middleware
        route._providers = providers or NO_PROVIDERS
        route._errors = errors or NO_ERRORS
        route._plain = route._is_plain()
        return route

    def _bind(self, action_type: str, groups: Mapping[str, str]) -> Route:
        """This pattern route for one concrete action type."""
        route = self._copy()
        route.type = action_type
        route._groups = groups
        return route

    def decode_payload(self, raw: msgspec.Raw) -> Any:
        """Validate the raw payload; raise ``DispatchError(422)`` naming the problem."""
        if self._decoder is None:
            data = bytes(raw)
            if data in _EMPTY_PAYLOADS or _decode_any(data) in (None, {}):
                return None
            raise DispatchError(
                422,
                "payload.invalid",
                f"action {self.type!r} takes no payload, but one was sent; "
                f"handler {qualname(self.handler)} declares no payload parameter",
            )
        if self._null_as_empty and len(raw) == 4 and bytes(raw) == _NULL:
            # An absent payload means "all defaults" for a Struct or mapping payload.
            raw = msgspec.Raw(b"{}")
        try:
            return self._decoder.decode(raw)  # a Raw is a buffer: decoded in place, not copied first
        except msgspec.ValidationError as exc:
            raise DispatchError(
                422, "payload.invalid", f"invalid payload for action {self.type!r}: {exc}"
            ) from None
        except msgspec.DecodeError as exc:  # unreachable for a Raw from a valid envelope
            raise DispatchError(422, "payload.invalid", f"malformed payload: {exc}") from None

    def arguments(self, ctx: ActionContext[Any], payload: Any) -> dict[str, Any]:
        """The keyword arguments for the handler, looked up from ``ctx`` (a route without provided types)."""
        return arguments(self._params, ctx, payload, self._groups)

    def call_sync(
        self, ctx: ActionContext[Any], payload: Any, extras: Extras | None = None
    ) -> Awaitable[Any]:
        """Run a ``streaming=False`` handler (await the result); a plain ``def`` runs in a worker thread.

        A route with nothing around its handler (``plain``) calls it directly;
        any other goes through its pipeline (``_pipeline``).
        """
        if not self._plain:
            return call_sync(self, ctx, payload, extras)
        kwargs = arguments(self._params, ctx, payload, self._groups)
        if self._is_async:
            result: Awaitable[Any] = self.handler(**kwargs)
            return result
        return anyio.to_thread.run_sync(functools.partial(self.handler, **kwargs))

    def call_stream(self, ctx: ActionContext[Any], payload: Any, extras: Extras | None = None) -> Any:
        """Start a streaming handler: returns the async iterator of its events."""
        if not self._plain:
            return call_stream(self, ctx, payload, extras)
        return self.handler(**arguments(self._params, ctx, payload, self._groups))


def _doc_line(fn: Callable[..., Any]) -> str | None:
    doc = inspect.getdoc(fn)
    return doc.strip().split("\n\n")[0].replace("\n", " ") if doc else None


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


def duplicate_error(existing: Route, route: Route) -> RegistrationError:
    if existing.handler is route.handler:
        return RegistrationError(
            f"action {route.type!r}: handler {qualname(route.handler)} is already "
            "registered (was its module or router included twice?)"
        )
    return RegistrationError(
        f"action {route.type!r} has two handlers: {qualname(existing.handler)} and {qualname(route.handler)}"
    )
