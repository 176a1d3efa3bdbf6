"""``diff_widget`` over plain JSON agrees with chatkit's pydantic ``diff_widget``."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from chatkit.server import diff_widget as chatkit_diff_widget
from chatkit.widgets import DynamicWidgetRoot

from chatkit_handlers._wire.widget_diff import diff_widget


def text(
    value: str, *, id: str | None = "t", type: str = "Text", streaming: bool | None = True
) -> dict[str, Any]:
    node: dict[str, Any] = {"type": type, "value": value}
    if id is not None:
        node["id"] = id
    if streaming is not None:
        node["streaming"] = streaming
    return node


def card(*children: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Card", "children": list(children), **props}


CASES = {
    "unchanged": (card(text("Hi")), card(text("Hi"))),
    "text appended": (card(text("Hel")), card(text("Hello"))),
    "markdown appended": (card(text("a", type="Markdown")), card(text("ab", type="Markdown"))),
    "appended, not streaming": (card(text("a", streaming=None)), card(text("ab", streaming=None))),
    "two texts appended": (
        card(text("a", id="x"), text("b", id="y")),
        card(text("a1", id="x"), text("b2", id="y")),
    ),
    "nested text appended": (
        card({"type": "Row", "children": [text("1")]}),
        card({"type": "Row", "children": [text("12")]}),
    ),
    "text rewritten": (card(text("Hello")), card(text("Help"))),
    "streaming flag dropped": (card(text("Hi")), card(text("Hi", streaming=False))),
    "child added": (card(text("Hi")), card(text("Hi"), {"type": "Divider"})),
    "prop changed": (card(text("Hi"), size="sm"), card(text("Hi"), size="md")),
    "root type changed": (card(text("Hi")), {"type": "ListView", "children": []}),
    "id changed": (card(text("Hi", id="a")), card(text("Hi", id="b"))),
    "text appended and prop changed": (card(text("a"), padding=1), card(text("ab"), padding=2)),
}


def dumped(updates: list[Any]) -> list[Any]:
    return [
        msgspec.to_builtins(u)
        if isinstance(u, msgspec.Struct)
        else u.model_dump(mode="json", exclude_none=True)
        for u in updates
    ]


@pytest.mark.parametrize(("before", "after"), CASES.values(), ids=CASES.keys())
def test_agrees_with_chatkit(before: dict[str, Any], after: dict[str, Any]) -> None:
    ours = diff_widget(before, after)
    theirs = chatkit_diff_widget(
        DynamicWidgetRoot.model_validate(before), DynamicWidgetRoot.model_validate(after)
    )
    assert dumped(ours) == dumped(theirs)
    assert ours or before == after


def test_append_to_text_without_id_replaces_the_root() -> None:
    """chatkit returns no update at all here (the client would keep showing the old text)."""
    before, after = card(text("Hi", id=None)), card(text("Hi!", id=None))
    theirs = chatkit_diff_widget(
        DynamicWidgetRoot.model_validate(before), DynamicWidgetRoot.model_validate(after)
    )
    assert theirs == []
    assert dumped(diff_widget(before, after)) == [{"type": "widget.root.updated", "widget": after}]


def test_duplicate_text_ids_replace_the_root() -> None:
    before = card(text("a", id="x"), text("b", id="x"))
    after = card(text("a1", id="x"), text("b", id="x"))
    assert dumped(diff_widget(before, after)) == [{"type": "widget.root.updated", "widget": after}]


def test_delta_carries_only_the_appended_text() -> None:
    [update] = diff_widget(card(text("Hello", streaming=None)), card(text("Hello, world", streaming=None)))
    assert msgspec.to_builtins(update) == {
        "type": "widget.streaming_text.value_delta",
        "component_id": "t",
        "delta": ", world",
        "done": True,  # not streaming: the text is complete
    }


def test_a_property_that_disappears_replaces_the_root() -> None:
    """chatkit's diff raises AttributeError on dynamic widgets here (a key set on one side only)."""
    before, after = card(text("a")), card(text("ab", streaming=None))
    with pytest.raises(AttributeError):
        chatkit_diff_widget(DynamicWidgetRoot.model_validate(before), DynamicWidgetRoot.model_validate(after))
    assert dumped(diff_widget(before, after)) == [{"type": "widget.root.updated", "widget": after}]
