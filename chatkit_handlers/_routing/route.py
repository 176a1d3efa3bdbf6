"""``Route``: one registered handler, with everything its requests need precomputed.

A route is built once per registration; the router that compiles a tree derives
a copy per place it appears (namespace, guards, middleware, providers and error
handlers of the routers above applied), and a pattern route is bound to each
concrete type it matches. ``pipeline.call_sync``/``call_stream`` call its handler.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
import msgspec.inspect

from .._action.context import ActionContext
from .._action.decorator import ActionSpec
from .._action.match import TypeMatcher, parse_type
from ..errors import DispatchError, RegistrationError
from .errorhandlers import ErrorHandler
from .guards import Guard
from .middleware import check_middleware
from .payloads import PayloadDecoder, payload_decoder
from .providers import Provider
from .signature import HandlerSignature, Source, arguments, qualname, reader

__all__ = ["Route", "check_routes", "duplicate_error", "too_deep"]

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
        params: what each handler parameter gets: ``(name, Source)`` pairs.
        groups: for a pattern route bound to a concrete type, its named groups' values.
        description: from ``description=`` or the handler's docstring (first line).
        timeout: seconds the handler may run, or ``None``.
        allow_cancel: whether the user may stop the stream (``None``: nothing
            said by the handler or its routers; the adapter's default applies).
        once: the action takes effect once per sender widget (``on_action(once=True)``).
        plain: nothing runs around the handler (no guards, middleware, timeout,
            error handlers or provided parameters): it is called directly.
        is_async: the handler is an ``async def`` (sync handlers only).
        read: reads a plain handler's arguments, in order, from ``Sources``
            (``signature.reader``); ``None`` where ``arguments`` does.
        guards: the guard functions that run before it, outermost router first.
        middleware: the middleware that wraps it, outermost first.
    """

    __slots__ = (
        "_decoder",
        "_errors",
        "_guards",
        "_matcher",
        "_null_as_empty",
        "_own_allow_cancel",
        "_own_guards",
        "_own_middleware",
        "_providers",
        "_signature",
        "allow_cancel",
        "description",
        "groups",
        "guards",
        "handler",
        "is_async",
        "middleware",
        "once",
        "params",
        "pattern",
        "payload_type",
        "plain",
        "read",
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
        self.once = spec.once
        self.sender_required = sig.sender_required or spec.once  # consumed per sender widget
        self.timeout = spec.timeout
        self._own_allow_cancel = spec.allow_cancel
        self.allow_cancel = spec.allow_cancel
        self.description = spec.description if spec.description is not None else _doc_line(handler)
        self._signature = sig
        self.params = sig.params
        self.read = reader(sig)
        self.is_async = inspect.iscoroutinefunction(handler)
        self._decoder = payload_decoder(sig.payload_type) if sig.payload_type is not None else None
        self._null_as_empty = self._decoder is not None and _null_as_empty(self._decoder)
        self._own_guards = guards
        self._own_middleware = tuple(check_middleware(m) for m in spec.middleware)
        self._guards = guards
        self.guards = tuple(g.fn for g in guards)
        self.middleware = self._own_middleware
        self._providers = NO_PROVIDERS
        self._errors = NO_ERRORS
        self.groups: Mapping[str, str] | None = None
        self.plain = self._is_plain()

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
            or any(source is Source.DEPENDENCY for _, source in self.params)
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
        allow_cancel: bool | None = None,
    ) -> Route:
        """This route as seen from a router above it (namespace, chain and defaults applied)."""
        inherits = self._own_allow_cancel is None and allow_cancel is not None and self.streaming
        if not (prefix or guards or middleware or providers or errors or inherits):
            return self
        route = self._copy()
        if inherits:
            route.allow_cancel = allow_cancel
        route._matcher = self._matcher.prefixed(prefix)
        route.type = route._matcher.text
        route.pattern = route._matcher.pattern
        route._guards = guards + self._own_guards
        route.guards = tuple(g.fn for g in route._guards)
        route.middleware = middleware + self._own_middleware
        route._providers = providers or NO_PROVIDERS
        route._errors = errors or NO_ERRORS
        route.plain = route._is_plain()
        return route

    @property
    def registered_type(self) -> str:
        """The type as registered: a pattern route's pattern (``"cart.*"``) even once bound to a concrete type.

        A label clients cannot multiply (span names, metric labels).
        """
        return self._matcher.text

    def _bind(self, action_type: str, groups: Mapping[str, str]) -> Route:
        """This pattern route for one concrete action type."""
        route = self._copy()
        route.type = action_type
        route.groups = groups
        return route

    def decode_payload(self, raw: msgspec.Raw) -> Any:
        """Validate the raw payload; raise ``DispatchError`` naming the problem.

        422 ``payload.invalid`` for a payload of the wrong shape; 400
        ``request.malformed`` for one that is no JSON at all (invalid UTF-8, say,
        which the envelope's decoding leaves inside the raw payload) or that is
        nested too deeply to decode.
        """
        try:
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
            return self._decoder.decode(raw)  # a Raw is a buffer: decoded in place, not copied first
        except msgspec.ValidationError as exc:
            raise DispatchError(
                422, "payload.invalid", f"invalid payload for action {self.type!r}: {exc}"
            ) from None
        except msgspec.DecodeError as exc:
            raise DispatchError(
                400, "request.malformed", f"the payload of action {self.type!r} is not valid JSON: {exc}"
            ) from None
        except RecursionError:
            raise too_deep(f"the payload of action {self.type!r}") from None

    def arguments(self, ctx: ActionContext[Any], payload: Any) -> dict[str, Any]:
        """The keyword arguments for the handler, looked up from ``ctx`` (a route without provided types)."""
        return arguments(self.params, ctx, payload, self.groups)


def too_deep(what: str) -> DispatchError:
    """400 ``request.malformed`` for JSON nested deeper than msgspec decodes."""
    return DispatchError(
        400,
        "request.malformed",
        f"{what} is nested too deeply to decode (arrays and objects within each other, "
        "about a thousand levels deep); send a flatter structure",
    )


def _doc_line(fn: Callable[..., Any]) -> str | None:
    """The docstring's first paragraph, on one line, its reST literals (````x````) as Markdown's (```x```)."""
    doc = inspect.getdoc(fn)
    if not doc:
        return None
    return _REST_LITERAL.sub(r"`\1`", doc.strip().split("\n\n")[0].replace("\n", " "))


_REST_LITERAL = re.compile(r"``(.+?)``")


def _null_as_empty(decoder: PayloadDecoder) -> bool:
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


def check_routes(routes: Sequence[Route], provided: frozenset[type]) -> frozenset[type]:
    """Verify every provided type a route asks for (transitively) is provided; return the adapter types used."""
    used: set[type] = set()
    for route in routes:
        owners = [(f"handler {qualname(route.handler)}", route._signature)]
        owners += [(f"guard {guard.name}", guard.signature) for guard in route._guards]
        for owner, sig in owners:
            _check(owner, sig, route, provided, used, ())
    return frozenset(used)


def _check(
    owner: str,
    sig: HandlerSignature,
    route: Route,
    provided: frozenset[type],
    used: set[type],
    stack: tuple[type, ...],
) -> None:
    for name, source in sig.params:
        if source is not Source.DEPENDENCY:
            continue
        key: type = sig.keys[name]
        provider = route._providers.get(key)
        if provider is not None:
            if key in stack:
                cycle = " -> ".join(k.__qualname__ for k in (*stack[stack.index(key) :], key))
                raise RegistrationError(f"providers form a cycle: {cycle}")
            inner = f"provider {qualname(provider.factory)} of {key.__qualname__}"
            _check(inner, provider.signature, route, provided, used, (*stack, key))
        elif key in provided:
            used.add(key)
        else:
            raise RegistrationError(
                f"{owner}: cannot inject parameter {name!r}: nothing provides {key.__qualname__} for "
                f"action {route.type!r}. Register one with router.provide({key.__qualname__}, factory) "
                "on the router that holds the handler or on one that includes it"
                + (
                    f" (the adapter supplies {', '.join(sorted(p.__qualname__ for p in provided))})"
                    if provided
                    else ""
                )
            )
