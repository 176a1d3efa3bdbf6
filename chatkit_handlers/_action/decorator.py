"""``@on_action``: mark a function as the handler of one action type.

The decorator only records what was asked (the action type, the dispatch mode
and the handler's metadata) on the function and returns the very same function,
so a handler module imports cleanly and every handler can be called directly in
a unit test. Registration, signature inspection and validation happen when a
router ``include``s the function.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

from typing_extensions import Unpack

from ..errors import RegistrationError
from .match import parse_type

__all__ = ["ActionOptions", "ActionSpec", "on_action", "specs_of"]

F = TypeVar("F", bound=Callable[..., Any])

_ATTR = "__chatkit_actions__"


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """What ``@on_action`` recorded: the action type, how it is answered, and its metadata."""

    type: str | re.Pattern[str]
    streaming: bool = True
    guards: tuple[Callable[..., Any], ...] = ()
    middleware: tuple[Callable[..., Any], ...] = ()
    timeout: float | None = None
    description: str | None = None
    allow_cancel: bool | None = None
    once: bool = False


class ActionOptions(TypedDict, total=False):
    """The keyword options of ``on_action`` (and ``ActionRouter.on_action``); see ``on_action``."""

    streaming: bool
    guards: Sequence[Callable[..., Any]]
    middleware: Sequence[Callable[..., Any]]
    timeout: float | None
    description: str | None
    allow_cancel: bool | None
    once: bool


def make_spec(
    type: str | re.Pattern[str],
    *,
    streaming: bool = True,
    guards: Sequence[Callable[..., Any]] = (),
    middleware: Sequence[Callable[..., Any]] = (),
    timeout: float | None = None,
    description: str | None = None,
    allow_cancel: bool | None = None,
    once: bool = False,
) -> ActionSpec:
    """Validate what ``on_action`` was given (errors point at the decorator line)."""
    if not isinstance(type, str | re.Pattern) or not type:
        raise RegistrationError(
            f"on_action() takes a non-empty action type string (or a compiled re.Pattern), got {type!r}"
        )
    try:
        parse_type(type)
    except ValueError as exc:
        raise RegistrationError(f"on_action(): {exc}") from None
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not (0 < timeout < math.inf)
    ):
        raise RegistrationError(f"on_action(): timeout must be a positive number of seconds, got {timeout!r}")
    if allow_cancel is not None and not isinstance(allow_cancel, bool):
        raise RegistrationError(
            f"on_action(): allow_cancel must be True, False or None, got {allow_cancel!r}"
        )
    if allow_cancel is not None and not streaming:
        raise RegistrationError(
            "on_action(): allow_cancel applies to streaming actions only (a sync action is one request)"
        )
    if not isinstance(once, bool):
        raise RegistrationError(f"on_action(): once must be True or False, got {once!r}")
    for kind, items in (("guards", guards), ("middleware", middleware)):
        if isinstance(items, str) or not all(callable(item) for item in items):
            raise RegistrationError(f"on_action(): {kind} must be a list of callables, got {items!r}")
    return ActionSpec(
        type, streaming, tuple(guards), tuple(middleware), timeout, description, allow_cancel, once
    )


def on_action(type: str | re.Pattern[str], **options: Unpack[ActionOptions]) -> Callable[[F], F]:
    """Declare ``fn`` the handler of actions whose ``type`` matches ``type``.

    Args:
        type: the action type, matched exactly (``"cart.add"``) — a plain string
            is never a pattern. Opt in to patterns explicitly: a trailing
            wildcard (``"cart.*"``) or a compiled ``re.Pattern`` (matched against
            the whole type; its named groups are injectable by parameter name).
        streaming: ``True`` (the default, as in ChatKit) answers
            ``threads.custom_action`` with a stream of events: the handler is an
            async generator. ``False`` answers ``threads.sync_custom_action``
            with one JSON response: the handler returns a new widget root, a
            whole item, or ``None``. The widget's ActionConfig must then set
            ``streaming: false``.
        guards: checks run before the handler, after the router's own guards
            (see :meth:`ActionRouter.guard`).
        middleware: around-style wrappers, inside the router's middleware
            (see :meth:`ActionRouter.middleware`).
        timeout: seconds the handler may run; a sync action then answers 504, a
            stream ends with an ``error`` event.
        description: shown by ``router.routes()``, the CLI and the schemas
            (defaults to the first line of the handler's docstring).
        allow_cancel: streaming only. ``False`` makes the action one the user
            cannot stop: the stream opens with ``allow_cancel: false`` (ChatKit.js
            shows no stop button) and, over HTTP, a client that disconnects
            anyway does not stop the handler: it runs to its end (bounded by
            ``timeout``) and its writes are committed. ``True`` is ChatKit's
            default (a disconnect cancels the handler, nothing is written).
            ``None`` (the default): the router's ``allow_cancel``, else the
            server's ``get_stream_options()`` in the one-endpoint mode and the
            bridge, else ``True``.
        once: the action takes effect once per sender widget: the first
            action of this route from a widget that completes (key: thread,
            widget, route) is recorded with its writes, in the same
            transaction; a replay or a concurrent double click runs no handler
            (a sync one answers the stored widget as ``updated_item``, a
            streaming one sends only ``stream_options``). A handler that
            raises consumes nothing. The action needs its sender: a request
            without ``item_id`` is refused ``400 item.required``. The store
            must record consumption (every store here does).

    Example::

        @on_action("counter.increment", streaming=False)
        async def increment(payload: Increment, ctx: ActionContext) -> dict:
            ...

    The function is returned unchanged; stacking decorators registers it for
    several types.
    """
    spec = make_spec(type, **options)

    def mark(fn: F) -> F:
        existing: tuple[ActionSpec, ...] = getattr(fn, _ATTR, ())
        setattr(fn, _ATTR, (*existing, spec))
        return fn

    return mark


def specs_of(fn: object) -> tuple[ActionSpec, ...]:
    """The ``ActionSpec``s recorded on ``fn`` (empty for an undecorated object)."""
    specs = getattr(fn, _ATTR, ())
    return specs if isinstance(specs, tuple) else ()
