"""Widgets' ActionConfigs, typed: built from a handler (``action_config``), checked against a router.

A widget fires ``{"type": ..., "payload": ..., "streaming": false, ...}``. Written
by hand, a typo in the type or the payload, or a wrong ``streaming`` flag, is
found only when a user clicks (a 404, a 422, ``action.mode_mismatch``).
``action_config(handler, payload)`` builds the config from the handler itself,
validated as the endpoint will validate it; ``check_widget(router, widget)``
walks a widget tree and lists every action config the router would refuse.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Literal

import msgspec

from .._action.decorator import specs_of
from .._action.match import parse_type
from .._wire.coerce import as_widget_root
from ..errors import ActionConfigError, DispatchError
from .payloads import payload_decoder
from .route import Route
from .signature import inspect_handler, qualname

__all__ = ["LoadingBehavior", "action_config", "check_widget", "remember_routes"]

LoadingBehavior = Literal["auto", "self", "container", "none"]

# handler -> the routes it is registered under, in every router compiled so far
_ROUTES: weakref.WeakKeyDictionary[Callable[..., Any], list[Route]] = weakref.WeakKeyDictionary()


def remember_routes(routes: list[Route]) -> None:
    """Note the routes of a compiled router table, for ``action_config`` to find by handler."""
    for route in routes:
        known = _ROUTES.setdefault(route.handler, [])
        if all(other.type != route.type for other in known):
            known.append(route)


def _encode_hook(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)  # a pydantic model
    if dump is not None:
        return dump(mode="json", by_alias=True, exclude_none=True)
    raise NotImplementedError(f"cannot encode {type(obj).__name__} as an action payload")


_encode = msgspec.json.Encoder(enc_hook=_encode_hook).encode


def action_config(
    handler: Callable[..., Any],
    payload: Any = None,
    *,
    type: str | None = None,
    loading_behavior: LoadingBehavior | None = None,
    form: bool = False,
) -> dict[str, Any]:
    """The ActionConfig a widget fires to reach ``handler``, its payload validated now.

    ``{"type": ..., "payload": ...}``, with ``"streaming": False`` exactly when
    the handler is sync and ``"loadingBehavior"`` when given::

        {"type": "Button", "label": "+1", "onClickAction": action_config(increment, Increment(by=1))}

    Args:
        handler: an ``@on_action`` function.
        payload: a Struct, a pydantic model, a dict...: encoded as JSON and
            validated against the handler's payload type.
        type: the action type, where the handler answers several (registered
            under several types or prefixes) or a pattern (``"cart.*"``).
        loading_behavior: ChatKit's ``loadingBehavior``.
        form: the config of a ``Form``'s ``onSubmitAction``: ChatKit merges the
            form's values into the payload when it is submitted, so fields the
            inputs fill may be missing from ``payload`` (any other problem is
            still one).

    Raises:
        ActionConfigError: ``handler`` is no registered handler, the type is
            ambiguous or not one it answers, or the payload does not validate.
    """
    route, action_type, streaming = _target(handler, type)
    data = b"null" if payload is None else _encode(payload)
    try:
        if route is not None:
            route.decode_payload(msgspec.Raw(data))
        else:
            _decode_for(handler, data)
    except DispatchError as exc:
        if not (form and _form_fills(exc)):
            raise ActionConfigError(f"action_config({qualname(handler)}): {exc.message}") from None
    config: dict[str, Any] = {"type": action_type}
    if payload is not None:
        config["payload"] = msgspec.json.decode(data)
    if not streaming:
        config["streaming"] = False
    if loading_behavior is not None:
        config["loadingBehavior"] = loading_behavior
    return config


def _target(handler: Callable[..., Any], wanted: str | None) -> tuple[Route | None, str, bool]:
    """The route (if a router compiled one), the action type and the mode ``handler`` answers."""
    routes = _ROUTES.get(handler, [])
    specs = specs_of(handler)
    if not routes and not specs:
        raise ActionConfigError(f"{qualname(handler)} has no @on_action decorator")
    # (route or None, the type as shown, its pattern or None, streaming)
    choices: list[tuple[Route | None, str, re.Pattern[str] | None, bool]] = [
        (route, route.type, route.pattern, route.streaming) for route in routes
    ]
    if not choices:
        for spec in specs:
            matcher = parse_type(spec.type)
            choices.append((None, matcher.text, matcher.pattern, spec.streaming))
    named = ", ".join(repr(choice[1]) for choice in choices)
    if wanted is not None:
        for route, text, pattern, streaming in choices:
            if pattern is None and text == wanted:
                return route, text, streaming
            if pattern is not None and pattern.fullmatch(wanted):
                return route, wanted, streaming
        raise ActionConfigError(f"{qualname(handler)} does not answer {wanted!r}; it answers {named}")
    if len(choices) == 1 and choices[0][2] is None:
        route, text, _, streaming = choices[0]
        return route, text, streaming
    raise ActionConfigError(f"{qualname(handler)} answers {named}: say which with type=...")


def _decode_for(handler: Callable[..., Any], data: bytes) -> None:
    """Validate ``data`` against the payload type ``handler`` declares (no router has compiled it yet)."""
    groups = {group for spec in specs_of(handler) for group in parse_type(spec.type).groups}
    payload_type = inspect_handler(handler, groups=groups).payload_type
    if payload_type is None:
        if data not in (b"null", b"{}"):
            raise DispatchError(422, "payload.invalid", "the handler declares no payload parameter")
        return
    try:
        payload_decoder(payload_type).decode(b"{}" if data == b"null" else data)
    except msgspec.ValidationError as exc:
        raise DispatchError(422, "payload.invalid", f"invalid payload: {exc}") from None


# ------------------------------------------------------------------ checking widgets


def check_widget(lookup: Callable[[str], Route | None], widget: Any) -> list[str]:
    """The problems of every server action config in ``widget`` (empty when each would be answered).

    ``widget`` is a widget root (a dict or a chatkit widget) or a widget item.
    Each ``onClickAction``/``onSubmitAction``/``onChangeAction`` (and a Card's
    ``confirm``/``cancel`` actions) not handled in the browser must have a
    route, the route's ``streaming`` flag, and a payload that validates (a
    form's ``onSubmitAction``: before the form's values are merged in, so
    fields the inputs fill may be missing).
    """
    root = getattr(widget, "widget", widget)
    problems: list[str] = []
    for path, config, submitted in _actions(as_widget_root(root), "$"):
        problem = _check(lookup, config, submitted)
        if problem is not None:
            problems.append(f"{path}: {problem}")
    return problems


def _actions(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any], bool]]:
    if isinstance(node, list):
        for i, child in enumerate(node):
            yield from _actions(child, f"{path}[{i}]")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key.startswith("on") and key.endswith("Action") and isinstance(value, dict):
            yield f"{path}.{key}", value, key == "onSubmitAction"
        elif (
            key in ("confirm", "cancel") and isinstance(value, dict) and isinstance(value.get("action"), dict)
        ):
            yield f"{path}.{key}.action", value["action"], False
        elif isinstance(value, dict | list):
            yield from _actions(value, f"{path}.{key}")


def _check(lookup: Callable[[str], Route | None], config: dict[str, Any], submitted: bool) -> str | None:
    if config.get("handler") == "client":
        return None
    action_type = config.get("type")
    if not isinstance(action_type, str):
        return f"an action config without a type: {config!r}"
    route = lookup(action_type)
    if route is None:
        return f"no handler for action {action_type!r}"
    sync = config.get("streaming", True) is False
    if sync and route.streaming:
        return f"action {action_type!r} is streaming: remove `streaming: false`"
    if not sync and not route.streaming:
        return f"action {action_type!r} is sync: set `streaming: false`"
    try:
        route.decode_payload(msgspec.Raw(_encode(config.get("payload"))))
    except DispatchError as exc:
        if submitted and _form_fills(exc):
            return None
        return exc.message
    return None


def _form_fills(exc: DispatchError) -> bool:
    """Whether the payload only lacks fields, which a form's inputs fill when it is submitted."""
    return "missing required field" in exc.message
