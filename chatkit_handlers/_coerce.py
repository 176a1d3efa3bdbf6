"""Turning what handlers return or yield into wire Structs.

Handlers may produce our Structs, plain dicts shaped like the wire, or (through
``model_dump``) chatkit's pydantic objects; everything is converted here, once,
at the boundary.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._context import as_widget_root
from .types import EVENT_TYPES, ThreadItem, ThreadStreamEvent, WidgetItem

__all__ = ["to_event", "to_updated_item"]

_ITEM_TYPES = frozenset(
    {
        "widget",
        "assistant_message",
        "user_message",
        "hidden_context_item",
        "sdk_hidden_context",
        "end_of_turn",
    }
)
_WIDGET_ROOT_TYPES = frozenset({"Card", "ListView", "Basic"})


def _plain(obj: Any) -> Any:
    """A dict from a pydantic model (chatkit's types), or ``obj`` unchanged."""
    dump = getattr(obj, "model_dump", None)
    if dump is not None and not isinstance(obj, msgspec.Struct):
        return dump(mode="json", by_alias=True, exclude_none=True)
    return obj


def to_event(obj: Any) -> ThreadStreamEvent:
    """A stream event Struct from whatever a streaming handler yielded."""
    if isinstance(obj, EVENT_TYPES):
        return obj  # type: ignore[return-value]
    data = _plain(obj)
    if isinstance(data, dict):
        try:
            event: ThreadStreamEvent = msgspec.convert(data, ThreadStreamEvent)
            return event
        except msgspec.ValidationError as exc:
            raise TypeError(f"handler yielded an invalid event {data.get('type')!r}: {exc}") from None
    raise TypeError(
        f"handler yielded {type(obj).__name__}; yield events (ctx.progress(...), "
        "ctx.update_widget(...), a Struct from chatkit_handlers.types, or a dict with 'type')"
    )


def to_updated_item(result: Any, sender: WidgetItem | None, action_type: str) -> ThreadItem | None:
    """The ``updated_item`` for a sync handler's return value.

    ``None`` → no update; a widget root → the sender with that widget; an item
    (Struct or dict with an item ``type``) → that item.
    """
    if result is None:
        return None
    if isinstance(result, msgspec.Struct):
        if isinstance(result, WidgetItem) or type(result).__struct_config__.tag in _ITEM_TYPES:
            return result  # type: ignore[return-value]
        raise TypeError(f"sync handler returned a {type(result).__name__}, not an item or widget")
    data = _plain(result)
    if isinstance(data, dict) and data.get("type") in _ITEM_TYPES:
        item: ThreadItem = msgspec.convert(data, ThreadItem)
        return item
    root = as_widget_root(data)
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
