"""The poll widget: a chatkit ``WidgetTemplate`` (``poll.widget``), read back as plain JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from chatkit.widgets import DynamicWidgetRoot, WidgetTemplate

POLL = WidgetTemplate.from_file("poll.widget")


def poll_card(question: str, yes: int = 0, no: int = 0, *, closed: bool = False) -> DynamicWidgetRoot:
    """The poll as chatkit builds it; handlers may return or yield it as is."""
    return POLL.build({"question": question, "yes": yes, "no": no, "closed": closed})


def find(node: Any, component_id: str) -> dict[str, Any]:
    """The component with ``id == component_id`` in a widget tree (plain JSON)."""
    if isinstance(node, dict):
        if node.get("id") == component_id:
            return node
        node = node.get("children") or []
    for child in node if isinstance(node, list) else [node]:
        try:
            return find(child, component_id)
        except KeyError:
            continue
    raise KeyError(component_id)


def read_poll(widget: dict[str, Any]) -> tuple[str, int, int]:
    """``(question, yes, no)`` as the poll widget shows them."""
    return (
        find(widget, "question")["value"],
        int(find(widget, "yes")["value"]),
        int(find(widget, "no")["value"]),
    )


async def summary_cards(yes: int, no: int) -> AsyncIterator[dict[str, Any]]:
    """A summary card whose text grows word by word, as a model would write it."""
    verdict = "Yes wins" if yes > no else "No wins" if no > yes else "It is a tie"
    words = f"{verdict}: {yes} for, {no} against.".split(" ")
    for n in range(1, len(words) + 1):
        done = n == len(words)
        text = {"type": "Markdown", "id": "summary", "value": " ".join(words[:n]), "streaming": not done}
        yield {"type": "Card", "children": [text]}
