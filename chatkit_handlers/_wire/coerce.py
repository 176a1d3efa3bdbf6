"""Turning what handlers return or yield into wire Structs.

Handlers may produce our Structs, plain dicts shaped like the wire, or
openai-chatkit's own pydantic objects: its events (``ThreadItemDoneEvent``…),
items (``WidgetItem``…), widgets (``Card(...)``, ``WidgetTemplate(...).build(...)``)
and ``SyncCustomActionResponse``. Everything is converted here, once, at the
boundary. pydantic objects are recognised by their ``model_dump_json`` method,
so this module never imports pydantic.
"""

from __future__ import annotations

import typing
from typing import Any

import msgspec

from ..types import (
    EVENT_TYPES,
    SyncCustomActionResponse,
    ThreadItem,
    ThreadStreamEvent,
    WidgetItem,
    WidgetRoot,
)

__all__ = ["EVENT_CLASSES", "as_widget_root", "to_event", "to_item", "to_updated_item"]

_ITEM_STRUCTS: tuple[type[msgspec.Struct], ...] = typing.get_args(ThreadItem)
_ITEM_TYPES = frozenset(cls.__struct_config__.tag for cls in _ITEM_STRUCTS)
_WIDGET_ROOT_TYPES = frozenset({"Card", "ListView", "Basic"})
EVENT_CLASSES = frozenset(EVENT_TYPES)
"""Our event Structs: ``type(obj) in EVENT_CLASSES`` is what ``to_event`` checks first."""

_event_decoder: msgspec.json.Decoder[ThreadStreamEvent] = msgspec.json.Decoder(ThreadStreamEvent)
_item_decoder: msgspec.json.Decoder[ThreadItem] = msgspec.json.Decoder(ThreadItem)


def as_widget_root(root: Any) -> WidgetRoot:
    """A widget root as plain JSON, from a dict or a chatkit (pydantic) widget."""
    if isinstance(root, dict):
        return root
    dump = getattr(root, "model_dump", None)
    if dump is not None:
        # chatkit widgets are pydantic models; serialize them the way chatkit does.
        dumped = dump(mode="json", by_alias=True, exclude_none=True)
        if isinstance(dumped, dict):
            return dumped
    raise TypeError(
        f"expected a widget root (a dict like {{'type': 'Card', ...}} or a chatkit widget), "
        f"got {type(root).__name__}"
    )


def _pydantic_json(obj: Any) -> bytes | None:
    """chatkit's serialization of a pydantic model (aliases, no ``None``), or ``None``."""
    if isinstance(obj, msgspec.Struct):
        return None
    dump_json = getattr(obj, "model_dump_json", None)
    if dump_json is None:
        return None
    data = dump_json(by_alias=True, exclude_none=True)
    return data.encode() if isinstance(data, str) else None


def _convert(obj: Any, decoder: msgspec.json.Decoder[Any], union: Any) -> Any:
    """``obj`` (a pydantic model or a dict) as a Struct of ``union``; ``None`` for anything else.

    Raises ``msgspec.ValidationError`` when it has the right form but not the right shape.
    """
    data = _pydantic_json(obj)
    if data is not None:
        return decoder.decode(data)
    if isinstance(obj, dict):
        return msgspec.convert(obj, union)
    return None


def _type_of(obj: Any) -> Any:
    return obj.get("type") if isinstance(obj, dict) else getattr(obj, "type", None)


def to_event(obj: Any) -> ThreadStreamEvent:
    """A stream event Struct from whatever a streaming handler yielded."""
    # The exact type first: an isinstance() miss on a Struct class goes through its
    # metaclass's __instancecheck__, once per class in the tuple.
    if type(obj) in EVENT_CLASSES or isinstance(obj, EVENT_TYPES):
        return obj  # type: ignore[no-any-return]
    try:
        event: ThreadStreamEvent | None = _convert(obj, _event_decoder, ThreadStreamEvent)
        if event is not None:
            return event
    except msgspec.ValidationError as exc:
        kind = _type_of(obj)
        if kind in _WIDGET_ROOT_TYPES:
            raise TypeError(_yielded_widget(kind)) from None
        raise TypeError(f"handler yielded an invalid event {kind!r}: {exc}") from None
    raise TypeError(
        f"handler yielded {type(obj).__name__}; yield events (ctx.progress(...), "
        "ctx.update_widget(...), a Struct from chatkit_handlers.types, a chatkit event, "
        "or a dict with 'type')"
    )


def _yielded_widget(kind: str) -> str:
    return (
        f"handler yielded a widget root ({kind}), not an event; yield ctx.add_widget(root) "
        "to add it, ctx.update_widget(root) to replace the sender, or the events of "
        "`async for event in ctx.stream_widget(...)`"
    )


def to_item(obj: Any) -> ThreadItem:
    """A thread item Struct from an item Struct, a dict shaped like one, or a chatkit item.

    A ``WidgetItem`` Struct holding a chatkit widget (``Card(...)``, a template's
    build) gets it as plain JSON: a Struct does not convert what it is given.
    """
    if isinstance(obj, WidgetItem) and type(obj.widget) is not dict:
        return msgspec.structs.replace(obj, widget=as_widget_root(obj.widget))
    if isinstance(obj, _ITEM_STRUCTS):
        return obj  # type: ignore[return-value]
    try:
        item: ThreadItem | None = _convert(obj, _item_decoder, ThreadItem)
        if item is not None:
            return item
    except msgspec.ValidationError as exc:
        raise TypeError(f"invalid thread item of type {_type_of(obj)!r}: {exc}") from None
    raise TypeError(f"expected a thread item, got {type(obj).__name__}")


def to_updated_item(result: Any, sender: WidgetItem | None, action_type: str) -> ThreadItem | None:
    """The ``updated_item`` for a sync handler's return value.

    ``None`` (or an empty ``SyncCustomActionResponse``) → no update; a widget
    root → the sender with that widget; an item → that item; a
    ``SyncCustomActionResponse`` (ours or chatkit's) → its ``updated_item``.
    """
    if type(result) is dict and sender is not None and result.get("type") in _WIDGET_ROOT_TYPES:
        return msgspec.structs.replace(sender, widget=result)  # the usual answer, checked first
    if result is None:
        return None
    if isinstance(result, SyncCustomActionResponse):
        return result.updated_item
    if isinstance(result, msgspec.Struct):
        if isinstance(result, _ITEM_STRUCTS):
            return to_item(result)
        raise TypeError(f"sync handler returned a {type(result).__name__}, not an item or widget")
    kind = _type_of(result)
    if kind in _ITEM_TYPES:
        return to_item(result)
    if kind is None and _is_sync_response(result):
        updated = getattr(result, "updated_item", None)
        if isinstance(result, dict):
            updated = result.get("updated_item")
        return None if updated is None else to_item(updated)
    root = as_widget_root(result)
    if root.get("type") not in _WIDGET_ROOT_TYPES:
        raise TypeError(
            f"sync handler for {action_type!r} returned a dict of type {root.get('type')!r}; "
            "return a widget root (type Card, ListView or Basic), a thread item, or None"
        )
    if sender is None:
        raise TypeError(
            f"sync handler for {action_type!r} returned a widget root, but the action has no "
            "sender item to update (sent without an itemId); return None or a whole item"
        )
    return msgspec.structs.replace(sender, widget=root)


def _is_sync_response(result: Any) -> bool:
    """``{}``, ``{"updated_item": ...}``, or chatkit's ``SyncCustomActionResponse``."""
    if isinstance(result, dict):
        return set(result) <= {"updated_item"}
    return hasattr(result, "model_dump_json") and hasattr(result, "updated_item")
