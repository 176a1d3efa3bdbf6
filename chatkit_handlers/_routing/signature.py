"""Signature inspection for handlers, guards and providers, done once at registration.

A callable asks for what it needs by annotation (or, for the payload and the
request context, by name). This module turns a signature into a tuple of
``(parameter name, source)`` pairs (plus, for pattern groups and provided
types, the key to look up) and a payload decoder, so that a request only has to
look values up, never to inspect anything.
"""

from __future__ import annotations

import enum
import inspect
import operator
import types
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import msgspec
import msgspec.inspect

from .._action.context import ActionContext
from ..errors import RegistrationError
from ..stores import Store
from ..types import ThreadMetadata, WidgetItem
from .payloads import is_pydantic_model

__all__ = [
    "HandlerSignature",
    "Source",
    "Sources",
    "arguments",
    "dependency_key",
    "inspect_callable",
    "inspect_handler",
    "qualname",
    "reader",
]


class Source(enum.Enum):
    """Where the value of an injected parameter comes from."""

    PAYLOAD = "payload"
    CONTEXT = "ActionContext"
    THREAD = "thread"
    SENDER = "sender"
    STORE = "store"
    REQUEST_CONTEXT = "request context"
    MATCH = "pattern group"
    """A named group of the action type pattern (key: the group name)."""
    DEPENDENCY = "provided"
    """A provider's value or a value the adapter supplies (key: the type)."""


@dataclass(frozen=True, slots=True)
class HandlerSignature:
    """What a handler (or guard, or provider) asks for, computed from its signature."""

    params: tuple[tuple[str, Source], ...]
    payload_type: Any
    """The payload parameter's type, or ``None`` when the handler takes no payload."""
    sender_required: bool
    """``True`` when a parameter is annotated ``WidgetItem`` (not ``WidgetItem | None``)."""
    keys: Mapping[str, Any] = field(default_factory=dict)
    """For ``MATCH`` and ``DEPENDENCY`` parameters: the group name or the type, by parameter name."""
    positional: bool = False
    """Every parameter is injected and may be passed by position, in the order of ``params``."""


Role = Literal["handler", "guard", "provider"]

# Classes nobody should register a provider for: a parameter annotated with one
# is a mistake we can report at registration rather than wait for a provider.
_NEVER_PROVIDED = frozenset(
    {int, float, complex, str, bytes, bytearray, bool, list, dict, tuple, set, frozenset, object, type}
)


def arguments(
    params: tuple[tuple[str, Source], ...],
    ctx: ActionContext[Any],
    payload: Any,
    groups: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The keyword arguments looked up from ``ctx`` (all but provided types, which a ``Scope`` adds)."""
    kwargs: dict[str, Any] = {}
    for name, source in params:
        if source is _PAYLOAD:
            kwargs[name] = payload
        elif source is _CONTEXT:
            kwargs[name] = ctx
        elif source is _SENDER:
            kwargs[name] = ctx.sender
        elif source is _THREAD:
            kwargs[name] = ctx.thread
        elif source is _REQUEST_CONTEXT:
            kwargs[name] = ctx.context
        elif source is _STORE:
            kwargs[name] = ctx.store
        elif source is _MATCH:  # a pattern group is named as the parameter
            kwargs[name] = groups[name] if groups is not None else None
    return kwargs


class Sources(msgspec.Struct, gc=False):  # refers to nothing that refers back to it
    """What a handler's arguments are read from: the action's payload and context (see ``reader``)."""

    payload: Any
    ctx: Any


_PATHS = {
    Source.PAYLOAD: "payload",
    Source.CONTEXT: "ctx",
    Source.SENDER: "ctx.sender",
    Source.THREAD: "ctx.thread",
    Source.REQUEST_CONTEXT: "ctx.context",
    Source.STORE: "ctx.store",
}


def reader(sig: HandlerSignature) -> Callable[[Sources], tuple[Any, ...]] | None:
    """For a handler of two or more parameters, all read from the payload and the context and
    passed by position: a function reading them all at once, in order, from ``Sources``.

    Made once, at registration (``operator.attrgetter`` over each parameter's path,
    ``"payload"``, ``"ctx.sender"``...): a handler's arguments are read on every
    action, and this reads them in one call where ``arguments`` loops over them.
    ``None`` for other handlers (``arguments`` serves them).
    """
    if not sig.positional or len(sig.params) < 2 or any(source not in _PATHS for _, source in sig.params):
        return None
    read: Callable[[Sources], tuple[Any, ...]] = operator.attrgetter(
        *(_PATHS[source] for _, source in sig.params)
    )
    return read


_PAYLOAD, _CONTEXT, _SENDER, _THREAD = Source.PAYLOAD, Source.CONTEXT, Source.SENDER, Source.THREAD
_REQUEST_CONTEXT, _STORE, _MATCH = Source.REQUEST_CONTEXT, Source.STORE, Source.MATCH


def qualname(fn: Callable[..., Any]) -> str:
    """``module.function`` for messages that must point at code."""
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None`` / ``Optional[X]``; ``(annotation, False)`` otherwise."""
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return args[0], True
    return annotation, False


def _is_struct(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)


def dependency_key(annotation: Any) -> type | None:
    """The class a provider is registered for: ``Request[User, Token, Any]`` -> ``Request``."""
    bare = typing.get_origin(annotation) or annotation
    if isinstance(bare, type) and bare not in _NEVER_PROVIDED and bare is not type(None):
        return bare
    return None


def _source_of(
    name: str,
    annotation: Any,
    *,
    struct_payload: bool,
    context_type: Any,
    provided: Collection[type],
    groups: Collection[str],
) -> tuple[Source, bool] | None:
    """The source for one parameter and whether it is optional, or None if unknown."""
    if name in groups:
        return Source.MATCH, False
    if annotation is inspect.Parameter.empty:
        annotation = Any
    bare, optional = _strip_optional(annotation)
    origin = typing.get_origin(bare) or bare
    if isinstance(origin, type) and issubclass(origin, ActionContext):
        return Source.CONTEXT, optional
    if bare is ThreadMetadata:
        return Source.THREAD, optional
    if bare is WidgetItem:
        return Source.SENDER, optional
    if context_type is not None and bare is context_type:
        return Source.REQUEST_CONTEXT, optional
    if isinstance(bare, type) and not _is_struct(bare) and _is_store_type(bare):
        return Source.STORE, optional
    if dependency_key(bare) in provided:
        return Source.DEPENDENCY, optional
    if name == "context":
        return Source.REQUEST_CONTEXT, optional
    if name == "payload" or (struct_payload and (_is_struct(bare) or is_pydantic_model(bare))):
        return Source.PAYLOAD, optional
    if dependency_key(bare) is not None:
        # Resolved when the route table is compiled: by a provider of this router
        # or of one that includes it, or by the adapter (the Litestar Request).
        return Source.DEPENDENCY, optional
    return None


def _is_store_type(cls: type) -> bool:
    if cls is Store:
        return True
    try:
        return issubclass(cls, Store)
    except TypeError:
        return False


def _custom_class(info: Any, seen: set[int]) -> type | None:
    """A class inside ``info`` that msgspec would only decode with a ``dec_hook``
    (every payload would then fail validation), e.g. a pydantic model."""
    if id(info) in seen:  # recursive Structs
        return None
    seen.add(id(info))
    if isinstance(info, msgspec.inspect.CustomType):
        cls: type = info.cls
        return cls
    for value in msgspec.structs.astuple(info):
        for child in value if isinstance(value, tuple) else (value,):
            if isinstance(child, (msgspec.inspect.Type, msgspec.inspect.Field)):
                found = _custom_class(child, seen)
                if found is not None:
                    return found
    return None


def _annotated(fn: Callable[..., Any]) -> Any:
    """What holds ``fn``'s parameter annotations: a class is called, so its ``__init__``
    (a Struct or a class without a Python ``__init__`` annotates its fields instead)."""
    if isinstance(fn, type):
        for klass in fn.__mro__:
            init = vars(klass).get("__init__")
            if init is not None:
                return init if inspect.isfunction(init) else fn
    return fn


def _two_payloads(owner: str, first: str, second: str) -> RegistrationError:
    return RegistrationError(
        f"{owner}: two payload parameters, {first!r} and {second!r}; an action has one payload "
        "(name it 'payload'; other Struct-annotated parameters are then provided types)"
    )


def inspect_handler(
    fn: Callable[..., Any],
    *,
    context_type: Any = None,
    provided: Collection[type] = (),
    groups: Collection[str] = (),
) -> HandlerSignature:
    """Inspect a handler once; raise ``RegistrationError`` naming what cannot be injected.

    Args:
        context_type: the router's request-context type.
        provided: types that providers visible at registration offer (a
            Struct-annotated parameter of such a type is not the payload).
        groups: the named groups of the handler's action type pattern.
    """
    return inspect_callable(
        fn,
        role="handler",
        owner=f"handler {qualname(fn)}",
        context_type=context_type,
        provided=provided,
        groups=groups,
    )


def inspect_callable(
    fn: Callable[..., Any],
    *,
    role: Role,
    owner: str,
    context_type: Any = None,
    provided: Collection[type] = (),
    groups: Collection[str] = (),
) -> HandlerSignature:
    """Inspect a handler, guard or provider (``owner`` names it in errors).

    Only a handler has a decoded payload: a parameter named ``payload``, or else
    the one parameter annotated with a ``msgspec.Struct`` (beside a parameter
    named ``payload``, a Struct-annotated parameter is a provided type). A guard
    or provider gets the validated payload through a parameter named ``payload``.
    """
    try:
        hints = typing.get_type_hints(_annotated(fn))
    except Exception as exc:  # an unresolvable forward reference names itself in exc
        raise RegistrationError(f"cannot resolve the annotations of {owner}: {exc}") from exc
    params: list[tuple[str, Source]] = []
    keys: dict[str, Any] = {}
    payload_type: Any = None
    payload_name: str | None = None
    sender_required = False
    positional = True
    signature = inspect.signature(fn)
    named = "payload" in signature.parameters and "payload" not in groups
    struct_payload = role == "handler" and not named
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise RegistrationError(
                f"{owner}: parameter {param.name!r} must be a plain named "
                "parameter (no *args, **kwargs or positional-only parameters)"
            )
        annotation = hints.get(param.name, param.annotation)
        found = _source_of(
            param.name,
            annotation,
            struct_payload=struct_payload,
            context_type=context_type,
            provided=provided,
            groups=groups,
        )
        if found is None and param.default is not param.empty:
            positional = False
            continue  # left to its default
        if found is None:
            raise RegistrationError(
                f"{owner}: cannot inject parameter {param.name!r} "
                f"(annotated {annotation!r}). Ask for ActionContext, ThreadMetadata, "
                "WidgetItem, Store, the request context (named 'context'), the payload "
                "(a msgspec.Struct, or a parameter named 'payload'), a named group of the "
                "action type pattern, or a type registered with router.provide(Type, factory)"
            )
        source, optional = found
        if source is Source.PAYLOAD:
            if payload_name is not None:
                raise _two_payloads(owner, payload_name, param.name)
            payload_name = param.name
            payload_type = Any if annotation is inspect.Parameter.empty else annotation
        elif source is Source.SENDER and not optional:
            sender_required = True
        elif source is Source.MATCH:
            keys[param.name] = param.name
        elif source is Source.DEPENDENCY:
            bare, _ = _strip_optional(annotation)
            keys[param.name] = dependency_key(bare)
        params.append((param.name, source))
        positional = positional and param.kind is param.POSITIONAL_OR_KEYWORD
    if role != "handler":
        return HandlerSignature(tuple(params), None, False, keys)
    if named and payload_type is not None:
        for name, key in keys.items():
            if key is not None and key is dependency_key(_strip_optional(payload_type)[0]):
                raise _two_payloads(owner, "payload", name)
    if payload_type is not None and not is_pydantic_model(payload_type):
        try:
            msgspec.json.Decoder(payload_type)
            custom = _custom_class(msgspec.inspect.type_info(payload_type), set())
        except (TypeError, ValueError) as exc:
            raise RegistrationError(
                f"{owner}: payload type {payload_type!r} cannot be decoded by msgspec: {exc}"
            ) from exc
        if custom is not None:
            raise RegistrationError(
                f"{owner}: payload type {payload_type!r} cannot be decoded by msgspec: "
                f"{custom.__qualname__} is not a msgspec-decodable type (use a msgspec.Struct, or "
                "annotate the payload with the pydantic model itself)"
            )
    return HandlerSignature(tuple(params), payload_type, sender_required, keys, positional)
