"""Widget trees as plain JSON: find a component by ``id``, apply a widget update."""

from __future__ import annotations

from typing import Any

import msgspec

from ..types import (
    WidgetComponentUpdated,
    WidgetRoot,
    WidgetRootUpdated,
    WidgetStreamingTextValueDelta,
    WidgetUpdate,
)

__all__ = ["apply_widget_update", "children", "find_component", "replace_component"]


def apply_widget_update(root: WidgetRoot, update: WidgetUpdate) -> WidgetRoot:
    """The widget ``root`` after ``update`` (``root`` itself is left untouched)."""
    if isinstance(update, WidgetRootUpdated):
        return update.widget
    copy: WidgetRoot = msgspec.json.decode(msgspec.json.encode(root))
    target = update.component_id
    if isinstance(update, WidgetComponentUpdated):
        if copy.get("id") == target:
            return update.component
        replace_component(copy, target, update.component)
    elif isinstance(update, WidgetStreamingTextValueDelta):
        node = copy if copy.get("id") == target else find_component(copy, target)
        if node is not None:
            node["value"] = str(node.get("value") or "") + update.delta
            if update.done:
                node.pop("streaming", None)
    return copy


def children(node: dict[str, Any]) -> list[Any]:
    """A component's children as a list (``children`` may hold one component or a list)."""
    found = node.get("children")
    if isinstance(found, list):
        return found
    if isinstance(found, dict):
        return [found]
    return []


def find_component(node: dict[str, Any], component_id: str) -> dict[str, Any] | None:
    """The descendant of ``node`` whose ``id`` is ``component_id`` (depth first), or ``None``."""
    for child in children(node):
        if isinstance(child, dict):
            if child.get("id") == component_id:
                return child
            found = find_component(child, component_id)
            if found is not None:
                return found
    return None


def replace_component(node: dict[str, Any], component_id: str, new: dict[str, Any]) -> bool:
    """Put ``new`` in place of ``node``'s descendant ``component_id``; ``False`` if there is none."""
    children = node.get("children")
    if isinstance(children, dict):
        if children.get("id") == component_id:
            node["children"] = new
            return True
        return replace_component(children, component_id, new)
    if isinstance(children, list):
        for i, child in enumerate(children):
            if isinstance(child, dict):
                if child.get("id") == component_id:
                    children[i] = new
                    return True
                if replace_component(child, component_id, new):
                    return True
    return False
