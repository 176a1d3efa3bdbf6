"""``@on_action``: mark a function as the handler of one action type.

The decorator only records what was asked (the action type and the dispatch
mode) on the function and returns the very same function, so a handler module
imports cleanly and every handler can be called directly in a unit test.
Registration, signature inspection and validation happen when a router
``include``s the function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["ActionSpec", "on_action", "specs_of"]

F = TypeVar("F", bound=Callable[..., Any])

_ATTR = "__chatkit_actions__"


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """What ``@on_action`` recorded: the action type and how it is answered."""

    type: str
    streaming: bool = True


def on_action(type: str, *, streaming: bool = True) -> Callable[[F], F]:
    """Declare ``fn`` the handler of actions whose ``type`` equals ``type``.

    Args:
        type: the action type, matched exactly (``"cart.add"``).
        streaming: ``True`` (the default, as in ChatKit) answers
            ``threads.custom_action`` with a stream of events: the handler is an
            async generator. ``False`` answers ``threads.sync_custom_action``
            with one JSON response: the handler returns a new widget root, a
            whole item, or ``None``. The widget's ActionConfig must then set
            ``streaming: false``.

    Example::

        @on_action("counter.increment", streaming=False)
        async def increment(payload: Increment, ctx: ActionContext) -> dict:
            ...

    The function is returned unchanged; stacking decorators registers it for
    several types.
    """
    if not isinstance(type, str) or not type:
        raise TypeError(f"on_action() takes a non-empty action type string, got {type!r}")

    def mark(fn: F) -> F:
        existing: tuple[ActionSpec, ...] = getattr(fn, _ATTR, ())
        setattr(fn, _ATTR, (*existing, ActionSpec(type, streaming)))
        return fn

    return mark


def specs_of(fn: object) -> tuple[ActionSpec, ...]:
    """The ``ActionSpec``s recorded on ``fn`` (empty for an undecorated object)."""
    specs = getattr(fn, _ATTR, ())
    return specs if isinstance(specs, tuple) else ()
