"""Providers: user-registered factories for injected types, resolved per request.

``router.provide(Db, open_session)`` makes every handler, guard or provider
parameter annotated ``Db`` receive ``open_session(...)``'s value. A factory is
itself injected (it may ask for the ``ActionContext``, the payload, another
provided type, or — with the Litestar adapter — the Litestar ``Request``), may be
sync or async, and may be a generator (sync or async) whose code after
``yield`` runs once the handler has finished (a stream: once it has ended).

Values are computed lazily, at most once per request, and only for routes that
ask for them: a route without provided parameters never builds a ``Scope``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from .signature import HandlerSignature, Source, arguments

if TYPE_CHECKING:
    from .._action.context import ActionContext

__all__ = ["Extras", "Provider", "Scope"]

Extras = Mapping[type, Callable[[], Any]]
"""Values an adapter can supply by type, built on demand (e.g. ``{Request: lazy_request}``)."""


class Provider:
    """One ``router.provide(type, factory)`` registration, inspected once.

    Attributes:
        type: the type it provides.
        factory: the function (or class) called to build the value.
        signature: what the factory asks for.
    """

    __slots__ = ("_kind", "factory", "signature", "type")

    def __init__(self, type: type, factory: Callable[..., Any], signature: HandlerSignature) -> None:
        self.type = type
        self.factory = factory
        self.signature = signature
        if inspect.isasyncgenfunction(factory):
            self._kind = "agen"
        elif inspect.isgeneratorfunction(factory):
            self._kind = "gen"
        elif inspect.iscoroutinefunction(factory):
            self._kind = "async"
        else:
            self._kind = "call"

    def __repr__(self) -> str:
        return f"Provider({self.type.__qualname__}, {getattr(self.factory, '__qualname__', self.factory)!r})"


class Scope:
    """What one request has resolved so far: provided values, cached; teardowns to run."""

    __slots__ = ("_cache", "_exits", "ctx", "extras", "groups", "payload", "providers")

    def __init__(
        self,
        ctx: ActionContext[Any],
        payload: Any,
        providers: Mapping[type, Provider],
        groups: Mapping[str, str] | None,
        extras: Extras | None,
    ) -> None:
        self.ctx = ctx
        self.payload = payload
        self.providers = providers
        self.groups = groups
        self.extras = extras
        self._cache: dict[type, Any] = {}
        self._exits: contextlib.AsyncExitStack | None = None

    async def arguments(self, sig: HandlerSignature) -> dict[str, Any]:
        """The keyword arguments for a callable with signature ``sig``."""
        kwargs = arguments(sig.params, self.ctx, self.payload, self.groups)
        for name, source in sig.params:
            if source is Source.DEPENDENCY:
                kwargs[name] = await self.get(sig.keys[name])
        return kwargs

    async def get(self, key: type) -> Any:
        """The value of type ``key`` for this request, built on first use."""
        try:
            return self._cache[key]
        except KeyError:
            pass
        provider = self.providers.get(key)
        if provider is not None:
            value = await self._build(provider)
        else:
            make = self.extras.get(key) if self.extras is not None else None
            if make is None:  # check() refuses such routes; reached only without it
                raise LookupError(
                    f"nothing provides {key.__qualname__} for action {self.ctx.action_type!r}: register "
                    f"router.provide({key.__qualname__}, factory), or serve the router with an "
                    "adapter that supplies it"
                )
            value = make()
            if inspect.isawaitable(value):
                value = await value
        self._cache[key] = value
        return value

    async def _build(self, provider: Provider) -> Any:
        kwargs = await self.arguments(provider.signature)
        kind = provider._kind
        if kind == "call":
            return provider.factory(**kwargs)
        if kind == "async":
            return await provider.factory(**kwargs)
        if self._exits is None:
            self._exits = contextlib.AsyncExitStack()
        if kind == "agen":
            return await self._exits.enter_async_context(
                contextlib.asynccontextmanager(provider.factory)(**kwargs)
            )
        return self._exits.enter_context(contextlib.contextmanager(provider.factory)(**kwargs))

    async def close(self, exc: BaseException | None = None) -> None:
        """Run the generator providers' teardown (shielded: it runs even on cancellation)."""
        exits, self._exits = self._exits, None
        if exits is not None:
            with anyio.CancelScope(shield=True):
                if exc is None:
                    await exits.aclose()
                else:
                    await exits.__aexit__(type(exc), exc, exc.__traceback__)
