"""The updates that turn one widget root into the next, over plain JSON.

``ctx.stream_widget`` sends a widget that changes while it streams: each new
root is compared with the previous one. When the only changes are text
appended to the ``value`` of ``Text``/``Markdown`` components that carry an
``id``, the client gets one ``widget.streaming_text.value_delta`` per changed
component (the delta, not the whole text again); any other change replaces the
root (``widget.root.updated``). This is chatkit's ``diff_widget`` rule, written
over dicts so that no pydantic model is needed, with one correction: an
appended value on a text component *without* an id (which no delta can
address) replaces the root instead of being silently dropped.
"""

from __future__ import annotations

from typing import Any

from ..types import WidgetRoot, WidgetRootUpdated, WidgetStreamingTextValueDelta, WidgetUpdate

__all__ = ["diff_widget"]

_TEXT_TYPES = frozenset({"Text", "Markdown"})
_IDENTITY = ("type", "id", "key")


def _is_streaming_text(node: dict[str, Any]) -> bool:
    """A component whose ``value`` may grow by deltas: a Text/Markdown with an id."""
    return (
        node.get("type") in _TEXT_TYPES
        and isinstance(node.get("value"), str)
        and isinstance(node.get("id"), str)
    )


def _is_component(value: Any) -> bool:
    return isinstance(value, dict) and "type" in value


def _needs_replace(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether ``after`` differs from ``before`` in more than appended streaming text."""
    if any(before.get(key) != after.get(key) for key in _IDENTITY):
        return True
    text = _is_streaming_text(before) and _is_streaming_text(after)
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if text and key == "value" and str(new).startswith(str(old)):
            continue
        if _value_differs(old, new):
            return True
    return False


def _value_differs(old: Any, new: Any) -> bool:
    if isinstance(old, list) and isinstance(new, list):
        return len(old) != len(new) or any(_value_differs(o, n) for o, n in zip(old, new, strict=True))
    if _is_component(old) and _is_component(new):
        return old != new and _needs_replace(old, new)
    return bool(old != new)


def _text_nodes(node: Any, found: dict[str, dict[str, Any]]) -> bool:
    """Collect streaming text components by id; ``False`` if an id occurs twice."""
    if isinstance(node, list):
        return all(_text_nodes(child, found) for child in node)
    if not isinstance(node, dict):
        return True
    if _is_streaming_text(node):
        if node["id"] in found:
            return False
        found[node["id"]] = node
    return all(_text_nodes(value, found) for value in node.values() if isinstance(value, dict | list))


def diff_widget(before: WidgetRoot, after: WidgetRoot) -> list[WidgetUpdate]:
    """The updates that bring a client showing ``before`` to ``after``.

    An empty list when nothing changed; text deltas when only streaming text
    grew; otherwise a single ``widget.root.updated`` carrying ``after``.

    >>> card = {"type": "Card", "children": [{"type": "Text", "id": "t", "value": "Hel", "streaming": True}]}
    >>> grown = {"type": "Card", "children": [{"type": "Text", "id": "t", "value": "Hello", "streaming": True}]}
    >>> diff_widget(card, grown)
    [WidgetStreamingTextValueDelta(component_id='t', delta='lo', done=False)]
    """
    if _needs_replace(before, after):
        return [WidgetRootUpdated(widget=after)]
    old_nodes: dict[str, dict[str, Any]] = {}
    new_nodes: dict[str, dict[str, Any]] = {}
    if not (_text_nodes(before, old_nodes) and _text_nodes(after, new_nodes)):
        # Two components share an id: a delta could not say which one grew.
        return [WidgetRootUpdated(widget=after)]
    updates: list[WidgetUpdate] = []
    for component_id, node in new_nodes.items():
        old_value: str = old_nodes[component_id]["value"]
        new_value: str = node["value"]
        if new_value != old_value:
            updates.append(
                WidgetStreamingTextValueDelta(
                    component_id=component_id,
                    delta=new_value[len(old_value) :],
                    done=not node.get("streaming", False),
                )
            )
    return updates
