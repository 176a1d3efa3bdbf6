"""``ActionRouter``: registration, namespaces, matching by action type, payload validation.

Routers form a tree (``include``); the root compiles it, once, into a flat
table: exact types in a dict, patterns in a list tried after, in registration
order. Each compiled ``Route`` carries everything its requests need — the
effective type, guards, middleware, providers and error handlers of every
router above it — so a request never walks the tree.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar, overload

from typing_extensions import Unpack

from .._action.decorator import ActionOptions, ActionSpec, make_spec, specs_of
from .._action.match import parse_type
from ..errors import RegistrationError
from .configs import check_widget, remember_routes
from .discovery import defined_handlers, import_package, module_objects
from .errorhandlers import ErrorHandler
from .guards import Guard
from .middleware import check_middleware
from .patterns import PatternTable
from .providers import Provider
from .route import NO_ERRORS, NO_PROVIDERS, Route, check_routes, duplicate_error
from .signature import HandlerSignature, Source, dependency_key, inspect_callable, inspect_handler, qualname
from .suggest import NearNames

__all__ = ["ActionRouter", "Route"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class _Include:
    """An included router and the prefix it was included under."""

    __slots__ = ("prefix", "router")

    def __init__(self, router: ActionRouter, prefix: str) -> None:
        self.router = router
        self.prefix = prefix


class _Table:
    """The compiled routes of a router tree."""

    __slots__ = ("_near", "exact", "ordered", "patterns")

    def __init__(self, ordered: list[Route]) -> None:
        self.ordered = ordered
        self.exact: dict[str, Route] = {}
        patterns: list[Route] = []
        self._near: NearNames | None = None
        seen: dict[tuple[str, bool], Route] = {}
        for route in ordered:
            key = (route.type, route.pattern is None)
            existing = seen.get(key)
            if existing is not None:
                raise duplicate_error(existing, route)
            seen[key] = route
            if route.pattern is None:
                self.exact[route.type] = route
            else:
                patterns.append(route)
        self.patterns = PatternTable(patterns)

    def near(self, action_type: str, n: int) -> list[str]:
        """The exact types closest to ``action_type``; the index is built on the first miss."""
        if self._near is None:
            self._near = NearNames(self.exact)
        return self._near.near(action_type, n)


def _context_provider(context_type: type) -> Provider:
    """The router's ``context_type`` as a provided type: the request context itself."""

    def request_context(context: Any) -> Any:
        return context

    return Provider(
        context_type, request_context, HandlerSignature((("context", Source.REQUEST_CONTEXT),), None, False)
    )


class ActionRouter:
    """A table of action handlers: exact types, namespaces, patterns, and what runs around them.

    Example::

        router = ActionRouter(context_type=User)
        router.provide(Db, open_session)          # injected wherever a parameter is annotated Db
        router.include("myapp.actions")           # every handler of a package
        router.include(cart_router, prefix="shop.")

        @router.on_action("cart.clear", guards=[require_role("admin")])
        async def clear(ctx: ActionContext, db: Db): ...

    Args:
        prefix: a namespace for every type registered on (or included into) this
            router: ``ActionRouter(prefix="cart.")`` turns ``"add"`` into ``"cart.add"``.
        context_type: the type of the per-request context your app derives
            (e.g. ``User``); parameters annotated with it receive it.
        guards: router-level guards (see :meth:`guard`).
        middleware: router-level middleware (see :meth:`middleware`).
        allow_cancel: the default of ``on_action(allow_cancel=...)`` for the
            streaming handlers registered on (or included into) this router;
            a handler's own setting wins, then the nearest router's.
    """

    __slots__ = (
        "_allow_cancel",
        "_context_type",
        "_entries",
        "_errors",
        "_guards",
        "_local",
        "_middleware",
        "_parent",
        "_prefix",
        "_providers",
        "_sources",
        "_table",
    )

    def __init__(
        self,
        *,
        prefix: str = "",
        context_type: Any = None,
        guards: Sequence[Callable[..., Any]] = (),
        middleware: Sequence[Callable[..., Any]] = (),
        allow_cancel: bool | None = None,
    ) -> None:
        if not isinstance(prefix, str) or "*" in prefix:
            raise TypeError(f"ActionRouter(prefix=...) takes a plain string, got {prefix!r}")
        if allow_cancel is not None and not isinstance(allow_cancel, bool):
            raise TypeError(f"ActionRouter(allow_cancel=...) takes True, False or None, got {allow_cancel!r}")
        self._prefix = prefix
        self._allow_cancel = allow_cancel
        self._context_type = context_type
        self._entries: list[Route | _Include] = []
        self._local: dict[tuple[str, bool], Route] = {}
        self._sources: set[str] = set()
        self._providers: dict[type, Provider] = {}
        self._errors: dict[type, ErrorHandler] = {}
        self._guards: tuple[Guard, ...] = ()
        self._middleware: tuple[Callable[..., Any], ...] = ()
        self._parent: ActionRouter | None = None
        self._table: _Table | None = None
        for fn in guards:
            self.guard(fn)
        for fn in middleware:
            self.middleware(fn)

    @property
    def prefix(self) -> str:
        """The namespace in front of every type registered on or included into this router."""
        return self._prefix

    def __repr__(self) -> str:
        prefix = f"prefix={self.prefix!r}, " if self.prefix else ""
        return f"ActionRouter({prefix}{len(self)} routes)"

    def __contains__(self, action_type: object) -> bool:
        return action_type in self._compile().exact

    def __len__(self) -> int:
        return len(self._compile().ordered)

    # ----------------------------------------------------------- registration

    def on_action(self, type: str | re.Pattern[str], **options: Unpack[ActionOptions]) -> Callable[[F], F]:
        """Like :func:`chatkit_handlers.on_action`, registering on this router at once.

        The function is not marked for module discovery: it belongs to this router only.
        """
        spec = make_spec(type, **options)

        def register(fn: F) -> F:
            self._register(spec, fn)
            return fn

        return register

    def add(self, fn: Callable[..., Any]) -> None:
        """Register every ``@on_action`` recorded on ``fn``."""
        specs = specs_of(fn)
        if not specs:
            raise RegistrationError(f"{qualname(fn)} has no @on_action decorator")
        for spec in specs:
            self._register(spec, fn)

    def include(
        self, source: str | types.ModuleType | ActionRouter | Callable[..., Any], *, prefix: str = ""
    ) -> None:
        """Register the handlers of a package, a module, another router, or one function.

        Args:
            source: a dotted package name (``"myapp.actions"``: the package and
                every module below it, imported in sorted order); a module (the
                ``@on_action`` functions it defines — not those it imports — and
                its module-level routers no other router includes); a router (it
                stays live: handlers registered on it later are seen too); or an
                ``@on_action`` function.
            prefix: a namespace for what is included (``"shop."``), in front of
                the included router's own prefix.

        A router can be included once (in one router); including a router into
        itself or into one of its descendants is a cycle; both are errors, as
        is including the same module or package twice.
        """
        if not isinstance(prefix, str) or "*" in prefix:
            raise TypeError(f"include(prefix=...) takes a plain string, got {prefix!r}")
        if isinstance(source, ActionRouter):
            self._include_router(source, prefix)
        elif isinstance(source, str):
            modules = import_package(source)
            if not self._include_modules(modules, prefix):
                raise RegistrationError(f"package {source!r} defines no @on_action handler")
        elif isinstance(source, types.ModuleType):
            if not self._include_modules([source], prefix):
                raise RegistrationError(f"module {source.__name__!r} defines no @on_action handler")
        elif callable(source):
            specs = specs_of(source)
            if not specs:
                raise RegistrationError(f"{qualname(source)} has no @on_action decorator")
            for spec in specs:
                self._register(spec, source, prefix)
        else:
            raise TypeError(
                f"include() takes a module, a dotted package name, an ActionRouter or a handler, got {source!r}"
            )
        self._root()._compile()  # duplicates across the tree are reported here, at include time

    @overload
    def provide(self, type: type[T], factory: Callable[..., Any]) -> None: ...
    @overload
    def provide(self, type: type[T], factory: None = None) -> Callable[[F], F]: ...

    def provide(self, type: type[T], factory: Callable[..., Any] | None = None) -> Callable[[F], F] | None:
        """Inject ``factory(...)``'s value wherever a parameter is annotated ``type``.

        ``factory`` is injected like a handler (it may ask for the ``ActionContext``,
        the payload by the name ``payload``, another provided type, or the
        Litestar ``Request`` when served by the Litestar adapter); it may be sync,
        async, or a (sync or async) generator whose code after ``yield`` runs
        when the handler is done. It is called at most once per request, and only
        when a handler, guard or provider of that request asks for ``type``.
        A router's providers apply to its handlers and to those of the routers
        it includes; the innermost router's provider wins.

        Usable as a decorator: ``@router.provide(Db)``.
        """
        key = dependency_key(type)
        if key is None:
            raise RegistrationError(
                f"provide(): {type!r} cannot be provided; use a class of your own (not a builtin type)"
            )

        def register(fn: F) -> F:
            if not callable(fn):
                raise TypeError(f"provide({key.__qualname__}, ...) takes a callable factory, got {fn!r}")
            sig = inspect_callable(
                fn,
                role="provider",
                owner=f"provider {qualname(fn)} of {key.__qualname__}",
                context_type=self._context_type,
                provided=self._visible_types(),
            )
            self._providers[key] = Provider(key, fn, sig)
            self._invalidate()
            return fn

        if factory is None:
            return register
        register(factory)
        return None

    def guard(self, fn: F) -> F:
        """Add a router-level guard: it runs before every handler of this router and those it includes.

        A guard is injected like a handler and returns ``False`` to refuse (403
        / an ``error`` event), or raises ``ActionError``. Usable as a decorator.
        """
        self._guards = (*self._guards, self._make_guard(fn))
        self._invalidate()
        return fn

    def middleware(self, fn: F) -> F:
        """Add a router-level middleware ``async def mw(call_next, ctx)``; usable as a decorator.

        It wraps every handler of this router and of those it includes; the
        first added is the outermost.
        """
        self._middleware = (*self._middleware, check_middleware(fn))
        self._invalidate()
        return fn

    @overload
    def on_error(
        self, exc_type: type[Exception], handler: Callable[..., Any], *, status_code: int = 400
    ) -> None: ...
    @overload
    def on_error(
        self, exc_type: type[Exception], handler: None = None, *, status_code: int = 400
    ) -> Callable[[F], F]: ...

    def on_error(
        self,
        exc_type: type[Exception],
        handler: Callable[..., Any] | None = None,
        *,
        status_code: int = 400,
    ) -> Callable[[F], F] | None:
        """Map exceptions of ``exc_type`` raised by handlers to an answer; usable as a decorator.

        ``handler(exc, ctx)`` (sync or async) returns an ``ActionError``, an
        ``ErrorEvent``, a ``NoticeEvent`` or ``None`` (see the module
        ``errorhandlers``); ``status_code`` is the HTTP status of a sync
        action's answer for an event. The most specific type wins.
        """
        if not (isinstance(exc_type, type) and issubclass(exc_type, Exception)):
            raise TypeError(
                f"on_error() takes an exception class (a subclass of Exception), got {exc_type!r}"
            )

        def register(fn: F) -> F:
            self._errors[exc_type] = ErrorHandler(fn, status_code)
            self._invalidate()
            return fn

        if handler is None:
            return register
        register(handler)
        return None

    # ------------------------------------------------------------------ lookup

    def lookup(self, action_type: str) -> Route | None:
        """The route for ``action_type``: an exact type first, then patterns in registration order."""
        table = self._table or self._compile()
        route = table.exact.get(action_type)
        if route is not None or not table.patterns:
            return route
        found = table.patterns.match(action_type)
        return found[0]._bind(action_type, found[1]) if found is not None else None

    def check_widget(self, widget: Any) -> list[str]:
        """The problems of every server action config in ``widget``: empty when each would be answered.

        ``widget``: a widget root (dict or chatkit widget) or a widget item.
        Each problem names where it is (``$.children[1].onClickAction``) and
        what is wrong: no handler, the wrong ``streaming`` flag, a payload that
        does not validate. See ``chatkit_handlers.action_config`` to build them.
        """
        return check_widget(self.lookup, widget)

    def routes(self) -> list[Route]:
        """Every registered route (of this router and those it includes), in registration order."""
        return list(self._compile().ordered)

    def suggest(self, action_type: str, n: int = 3) -> list[str]:
        """The registered types closest to ``action_type`` (for "did you mean")."""
        return (self._table or self._compile()).near(action_type, n)

    def check(self, *, provided: Collection[type] = ()) -> frozenset[type]:
        """Compile the table and verify that everything asked for can be injected.

        ``provided`` are the types the adapter supplies per request (the Litestar
        adapter: its ``Request``). Raises ``RegistrationError`` naming the
        parameter and the handler, guard or provider that asks for a type
        nothing provides, or a provider cycle. Returns the ``provided`` types
        that some route does ask for. The dispatcher calls this when it is created.
        """
        return check_routes(self._compile().ordered, frozenset(provided))

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of every action's payload, keyed by action type (see ``_schema``)."""
        from .schema import json_schema

        return json_schema(self.routes())

    def typescript(self) -> str:
        """TypeScript declarations of every action and its payload (see ``_schema``)."""
        from .schema import typescript

        return typescript(self.routes())

    # ---------------------------------------------------------------- internals

    def _root(self) -> ActionRouter:
        router = self
        while router._parent is not None:
            router = router._parent
        return router

    def _invalidate(self) -> None:
        router: ActionRouter | None = self
        while router is not None:
            router._table = None
            router = router._parent

    def _visible_types(self) -> set[type]:
        """Types provided here or above, known now (they decide which Struct is the payload)."""
        found: set[type] = set()
        router: ActionRouter | None = self
        while router is not None:
            found.update(router._providers)
            router = router._parent
        return found

    def _make_guard(self, fn: Callable[..., Any]) -> Guard:
        if not callable(fn):
            raise TypeError(f"a guard must be callable, got {fn!r}")
        sig = inspect_callable(
            fn,
            role="guard",
            owner=f"guard {qualname(fn)}",
            context_type=self._context_type,
            provided=self._visible_types(),
        )
        return Guard(fn, sig)

    def _register(self, spec: ActionSpec, fn: Callable[..., Any], prefix: str = "") -> None:
        matcher = parse_type(spec.type).prefixed(prefix)
        sig = inspect_handler(
            fn, context_type=self._context_type, provided=self._visible_types(), groups=matcher.groups
        )
        route = Route(spec, fn, sig, matcher=matcher, guards=tuple(self._make_guard(g) for g in spec.guards))
        key = (route.type, route.pattern is None)
        existing = self._local.get(key)
        if existing is not None:
            raise duplicate_error(existing, route)
        self._local[key] = route
        self._entries.append(route)
        self._invalidate()

    def _include_router(self, router: ActionRouter, prefix: str) -> None:
        if router is self:
            raise RegistrationError("a router cannot include itself")
        ancestor = self._parent
        while ancestor is not None:
            if ancestor is router:
                raise RegistrationError(
                    f"including {router!r} here is a cycle: it already includes this router"
                )
            ancestor = ancestor._parent
        if router._parent is self:
            raise RegistrationError(f"{router!r} is already included in this router")
        if router._parent is not None:
            raise RegistrationError(
                f"{router!r} is already included in {router._parent!r}; a router can be included once"
            )
        entry = _Include(router, prefix)
        self._entries.append(entry)
        router._parent = self
        self._invalidate()
        try:
            self._root()._compile()
        except RegistrationError:
            self._entries.remove(entry)
            router._parent = None
            self._invalidate()
            raise

    def _include_modules(self, modules: list[types.ModuleType], prefix: str) -> bool:
        for module in modules:
            if module.__name__ in self._sources:
                raise RegistrationError(
                    f"module {module.__name__!r} is already included in this router (included twice?)"
                )
        found = False
        for module in modules:
            self._sources.add(module.__name__)
            for spec, fn in defined_handlers(module):
                self._register(spec, fn, prefix)
                found = True
            for router in module_objects(module, ActionRouter):
                if router._parent is None and router is not self._root():
                    self._include_router(router, prefix)
                    found = True
        return found

    def _compile(self) -> _Table:
        if self._table is None:
            ordered: list[Route] = []
            self._collect(ordered, "", (), (), NO_PROVIDERS, NO_ERRORS, None)
            self._table = _Table(ordered)
            remember_routes(ordered)
        return self._table

    def _collect(
        self,
        out: list[Route],
        prefix: str,
        guards: tuple[Guard, ...],
        middleware: tuple[Callable[..., Any], ...],
        providers: Mapping[type, Provider],
        errors: Mapping[type, ErrorHandler],
        allow_cancel: bool | None,
    ) -> None:
        prefix += self._prefix
        if self._allow_cancel is not None:  # the nearest router's default wins
            allow_cancel = self._allow_cancel
        guards += self._guards
        middleware += self._middleware
        if self._context_type is not None and dependency_key(self._context_type) is not None:
            providers = {**providers, self._context_type: _context_provider(self._context_type)}
        if self._providers:
            providers = {**providers, **self._providers}
        if self._errors:
            errors = {**errors, **self._errors}
        for entry in self._entries:
            if isinstance(entry, Route):
                out.append(entry._derive(prefix, guards, middleware, providers, errors, allow_cancel))
            else:
                entry.router._collect(
                    out, prefix + entry.prefix, guards, middleware, providers, errors, allow_cancel
                )
