"""Finding things in a widget tree, as a test (or a browser) would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from .._wire.coerce import as_widget_root
from .._wire.widget_tree import children, find_component
from ..types import SyncCustomActionResponse, WidgetItem, WidgetRoot

__all__ = ["component", "descendants", "dump", "first_form", "root_of", "set_path"]

_sorted_keys = msgspec.json.Encoder(order="sorted")


def component(widget: Any, component_id: str) -> dict[str, Any]:
    """The component with ``id == component_id`` in a widget root, item or sync response.

    >>> component({"type": "Card", "children": [{"type": "Text", "id": "n", "value": "2"}]}, "n")["value"]
    '2'
    """
    root = root_of(widget)
    found = root if root.get("id") == component_id else find_component(root, component_id)
    if found is None:
        raise AssertionError(f"no component with id {component_id!r} in widget:\n{dump(root)}")
    return found


def root_of(widget: Any) -> WidgetRoot:
    """The widget root of a root, a widget item or a sync answer's updated item."""
    if isinstance(widget, SyncCustomActionResponse):
        widget = widget.updated_item
    if isinstance(widget, WidgetItem):
        return widget.widget
    return as_widget_root(widget)


def descendants(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every component below ``node``, depth first."""
    for child in children(node):
        if isinstance(child, dict):
            yield child
            yield from descendants(child)


def first_form(root: dict[str, Any]) -> dict[str, Any]:
    """The first ``Form`` in the widget."""
    for node in (root, *descendants(root)):
        if node.get("type") == "Form":
            return node
    raise AssertionError(f"the widget has no Form:\n{dump(root)}")


def set_path(payload: dict[str, Any], name: str, value: Any) -> None:
    """Put ``value`` at input name ``name`` (``"todo.title"`` nests), as ChatKit's forms do."""
    *parents, leaf = name.split(".")
    for key in parents:
        payload = payload.setdefault(key, {})
    payload[leaf] = value


def dump(obj: Any) -> str:
    """Indented JSON with sorted keys, for failure messages and diffs."""
    return msgspec.json.format(_sorted_keys.encode(obj), indent=2).decode()
