"""The same ``.widget`` file and data give the same widget as chatkit's own ``WidgetTemplate``.

chatkit renders with a plain Jinja environment and never checks the data; ours checks
the data first and escapes strings printed bare, which only changes the answer where
chatkit's would not have been JSON (a quote in a bare string) or not the data (a
backslash in one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chatkit.widgets import DynamicWidgetRoot
from chatkit.widgets import WidgetTemplate as ChatKitTemplate

from chatkit_handlers import as_widget_root
from chatkit_handlers.templates import WidgetTemplate

WIDGETS = Path(__file__).parent / "widgets"
POLL = Path(__file__).resolve().parents[2] / "examples" / "bridge" / "poll.widget"
TRICKY = 'a "quoted" </script> & <b>\\ \n · 🚀 \u2028'


def sample(name: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(WidgetTemplate.from_file(WIDGETS / name).sample_data))
    data.update(changes)
    return data


def flights_with(**changes: Any) -> dict[str, Any]:
    data = sample("flights.widget")
    data["flights"][0].update(changes)
    return data


CASES = [
    (WIDGETS / "flights.widget", sample("flights.widget")),
    (WIDGETS / "flights.widget", sample("flights.widget", flights=[])),
    (WIDGETS / "flights.widget", sample("flights.widget", origin=TRICKY, destination="東京")),
    (WIDGETS / "flights.widget", flights_with(airline=TRICKY, id="fl_'\"<>&", stops=5, price=0.1 + 0.2)),
    (WIDGETS / "order.widget", sample("order.widget")),
    (WIDGETS / "order.widget", sample("order.widget", status="confirmed", note="")),
    (WIDGETS / "order.widget", sample("order.widget", status="cancelled", note=TRICKY, order_id=TRICKY)),
    (POLL, {"question": "Lunch?", "yes": 0, "no": 0, "closed": False}),
    (POLL, {"question": TRICKY, "yes": 12, "no": 3, "closed": True}),
]


@pytest.mark.parametrize(("path", "data"), CASES, ids=lambda v: v.name if isinstance(v, Path) else "")
def test_same_widget_as_chatkit(path: Path, data: dict[str, Any]) -> None:
    ours = WidgetTemplate.from_file(path).render(data)
    theirs = as_widget_root(ChatKitTemplate.from_file(str(path)).build(data))
    assert ours == theirs
    assert as_widget_root(DynamicWidgetRoot.model_validate(ours)) == ours  # a valid chatkit widget


def test_nulls_are_dropped_by_both() -> None:
    definition = {
        "version": "1.0",
        "name": "nulls",
        "template": '{"type": "Card", "id": null, "children": [{"type": "Text", "value": {{ v | tojson }}, "icon": null}]}',
    }
    ours = WidgetTemplate(definition).render({"v": [1, None]})
    assert ours == as_widget_root(ChatKitTemplate(definition).build({"v": [1, None]}))
    assert ours == {"type": "Card", "children": [{"type": "Text", "value": [1]}]}


def test_a_bare_string_with_a_quote_breaks_chatkit_but_not_us() -> None:
    definition = {
        "version": "1.0",
        "name": "bare",
        "template": '{"type": "Card", "children": [{"type": "Text", "value": "{{ text }}"}]}',
    }
    plain = {"text": "plain words"}
    assert WidgetTemplate(definition).render(plain) == as_widget_root(
        ChatKitTemplate(definition).build(plain)
    )
    quoted = {"text": 'say "hi"'}
    with pytest.raises(json.JSONDecodeError):
        ChatKitTemplate(definition).build(quoted)
    assert WidgetTemplate(definition).render(quoted)["children"][0]["value"] == 'say "hi"'
