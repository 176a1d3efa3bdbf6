"""``.widget`` templates: real files render, data round-trips, bad data and bad templates say where.

The fixtures in ``widgets/`` are written as ChatKit's widget builder exports them: a
one-line Jinja template printing values with ``tojson``, loops joined with
``loop.last``, a draft 2020-12 ``jsonSchema``, an ``outputJsonPreview`` and an
``encodedWidget`` carrying the sample data.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatkit_handlers import as_widget_root
from chatkit_handlers.errors import ChatKitHandlersError, TemplateError
from chatkit_handlers.templates import WidgetTemplate

WIDGETS = Path(__file__).parent / "widgets"
POLL = Path(__file__).resolve().parents[2] / "examples" / "bridge" / "poll.widget"
FLIGHTS = WidgetTemplate.from_file(WIDGETS / "flights.widget")
ORDER = WidgetTemplate.from_file(WIDGETS / "order.widget")

TRICKY = [
    'say "hi"',
    "back\\slash \\n \\u0041 \\",
    "</script><script>alert('x')</script>",
    "<b>bold</b> & &amp; &lt;",
    "line one\nline two\ttabbed\r\n",
    "\x00\x1f\x7f control",
    "ünïcødé · 日本語 · עברית · 🚀👩‍👩‍👧",
    "\u2028\u2029 separators",
    "{{ 7 * 7 }} {% raw %} {# not a comment #}",
    "",
    "'single' `back` ${x}",
]


def text_card(expression: str, schema: dict[str, Any] | None = None) -> WidgetTemplate:
    """A template of one Text whose value is ``expression`` (a Jinja fragment, JSON around it)."""
    return WidgetTemplate(
        {
            "version": "1.0",
            "name": "text",
            "template": '{"type": "Card", "children": [{"type": "Text", "value": ' + expression + "}]}",
            "jsonSchema": schema or {},
        }
    )


def text_of(widget: dict[str, Any]) -> Any:
    return widget["children"][0]["value"]


def order(**changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(ORDER.sample_data))
    data.update(changes)
    return data


# --------------------------------------------------------------------------- real files


@pytest.mark.parametrize("template", [FLIGHTS, ORDER], ids=lambda t: t.name)
def test_a_builder_file_renders_its_own_preview_from_its_sample_data(template: WidgetTemplate) -> None:
    assert template.version == "1.0"
    assert template.sample_data is not None
    assert template.preview is not None
    widget = template.render(template.sample_data)
    assert widget == template.preview
    assert as_widget_root(widget) is widget  # a widget root, as handlers return and yield them


def test_loops_and_conditionals_follow_the_data() -> None:
    flights = FLIGHTS.render(FLIGHTS.sample_data)
    assert [item["key"] for item in flights["children"]] == ["fl_ua512", "fl_dl1470", "fl_b6416"]
    assert [item["children"][1]["label"] for item in flights["children"]] == ["Nonstop", "1 stop", "2 stops"]
    assert flights["children"][1]["onClickAction"] == {
        "type": "flights.select",
        "payload": {"flight_id": "fl_dl1470"},
        "streaming": False,
    }
    assert FLIGHTS.render({"origin": "A", "destination": "B", "flights": []})["children"] == []

    pending = ORDER.render(order())
    assert [button["label"] for button in pending["children"][-1]["children"]] == ["Cancel", "Confirm"]
    assert any(child.get("id") == "note" for child in pending["children"])
    data = order(status="confirmed")
    del data["note"]  # optional in the schema: the template tests `note is defined`
    confirmed = ORDER.render(data)
    assert confirmed["children"][0]["children"][2] == {
        "type": "Badge",
        "id": "status",
        "label": "confirmed",
        "color": "success",
    }
    assert [button["label"] for button in confirmed["children"][-1]["children"]] == ["Order again"]
    assert not any(child.get("id") == "note" for child in confirmed["children"])


def test_a_hand_written_file_with_bare_values_renders() -> None:
    poll = WidgetTemplate.from_file(POLL)
    assert poll.sample_data is None
    assert poll.preview is None
    widget = poll.render({"question": "Lunch?", "yes": 3, "no": 1, "closed": True})
    assert [child["value"] for child in widget["children"][1]["children"]] == ["Yes:", "3", "No:", "1"]
    assert widget["children"][2] == {"type": "Text", "value": "This poll is closed.", "color": "secondary"}


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("value", TRICKY)
def test_strings_round_trip_exactly_through_tojson(value: str) -> None:
    widget = ORDER.render(order(note=value + ".", order_id=value))
    assert widget["children"][0]["children"][0]["value"] == f"Order {value}"
    assert next(c for c in widget["children"] if c.get("id") == "note")["value"] == value + "."
    assert text_of(text_card("{{ value | tojson }}").render({"value": value})) == value


@pytest.mark.parametrize("value", TRICKY)
def test_strings_printed_bare_inside_a_json_string_round_trip_too(value: str) -> None:
    # "value": "{{ value }}" is how hand-written templates print strings: escaped for the string.
    assert text_of(text_card('"{{ value }}"').render({"value": value})) == value
    assert text_of(text_card('"Hello, {{ name }}!"').render({"name": value})) == f"Hello, {value}!"


@given(st.text())
def test_any_string_round_trips(value: str) -> None:
    assert text_of(text_card("{{ value | tojson }}").render({"value": value})) == value
    assert text_of(text_card('"{{ value }}"').render({"value": value})) == value


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
        max_leaves=12,
    )
)
def test_any_json_value_round_trips_through_tojson_but_nulls(value: Any) -> None:
    def without_nulls(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: without_nulls(x) for k, x in v.items() if x is not None}
        if isinstance(v, list):
            return [without_nulls(x) for x in v if x is not None]
        return v

    widget = text_card("{{ value | tojson }}").render({"value": value})
    assert widget["children"][0].get("value") == without_nulls(value)


def test_safe_prints_a_string_as_it_is() -> None:
    widget = text_card('"x", "extra": {{ fragment | safe }}').render({"fragment": '{"a": [1, 2]}'})
    assert widget["children"][0]["extra"] == {"a": [1, 2]}


def test_data_is_never_evaluated_as_a_template() -> None:
    assert text_of(text_card('"{{ value }}"').render({"value": "{{ 7 * 7 }}"})) == "{{ 7 * 7 }}"


# --------------------------------------------------------------------------- data and its schema


def test_a_schema_failure_names_the_field_path() -> None:
    data = json.loads(json.dumps(FLIGHTS.sample_data))
    data["flights"][2]["price"] = "x"
    with pytest.raises(TemplateError) as failed:
        FLIGHTS.render(data)
    message = str(failed.value)
    assert "data.flights[2].price: 'x' is not of type 'number'" in message
    assert message.startswith("the data for widget template 'flights' (")
    assert "flights.widget) does not match its jsonSchema" in message
    assert failed.value.errors == ("data.flights[2].price: 'x' is not of type 'number'",)
    assert failed.value.template == "flights"
    assert isinstance(failed.value, ChatKitHandlersError)
    assert isinstance(failed.value, ValueError)


def test_every_failing_field_is_listed() -> None:
    data = order(status="shipped", extra=1)
    data["lines"][0]["qty"] = 0
    del data["lines"][1]["sku"]
    with pytest.raises(TemplateError) as failed:
        ORDER.validate(data)
    assert sorted(failed.value.errors) == [
        "data.lines[0].qty: 0 is less than the minimum of 1",
        "data.lines[1]: 'sku' is a required property",
        "data.status: 'shipped' is not one of ['pending', 'confirmed', 'cancelled']",
        "data: Additional properties are not allowed ('extra' was unexpected)",
    ]
    for error in failed.value.errors:
        assert f"\n  {error}" in str(failed.value)


def test_odd_keys_are_quoted_and_long_lists_are_cut() -> None:
    schema = {"type": "object", "additionalProperties": {"type": "integer"}}
    data = {f"key {i}": "x" for i in range(12)}
    with pytest.raises(TemplateError) as failed:
        text_card('"x"', schema).render(data)
    assert len(failed.value.errors) == 12
    assert failed.value.errors[0] == """data["key 0"]: 'x' is not of type 'integer'"""
    assert str(failed.value).endswith("\n  … and 2 more")


def test_formats_are_checked() -> None:
    schema = {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}}
    with pytest.raises(TemplateError, match=r"data\.email: 'nobody' is not a 'email'"):
        text_card('"x"', schema).validate({"email": "nobody"})


def test_a_schema_ref_to_another_document_is_an_error_not_a_download() -> None:
    local = {
        "type": "object",
        "$defs": {"Name": {"type": "string"}},
        "properties": {"name": {"$ref": "#/$defs/Name"}},
    }
    with pytest.raises(TemplateError, match=r"data.name: 1 is not of type 'string'"):
        text_card('"x"', local).validate({"name": 1})
    remote = {"type": "object", "properties": {"name": {"$ref": "https://example.com/name.json"}}}
    with pytest.raises(TemplateError, match="its jsonSchema refers to what it does not contain"):
        text_card('"x"', remote).validate({"name": 1})


class Line(msgspec.Struct):
    sku: str
    name: str
    qty: int
    price: float


class Order(msgspec.Struct):
    order_id: str
    status: str
    lines: list[Line]


@dataclasses.dataclass
class OrderData:
    order_id: str
    status: str
    lines: list[Line]


def test_data_may_be_a_struct_a_dataclass_or_a_pydantic_model() -> None:
    from pydantic import BaseModel

    class PydanticLine(BaseModel):
        sku: str
        name: str
        qty: int
        price: float

    class PydanticOrder(BaseModel):
        order_id: str
        status: str
        lines: list[PydanticLine]

    lines = [Line("tea", "Tea", 1, 2.5)]
    expected = ORDER.render({"order_id": "o1", "status": "pending", "lines": [msgspec.to_builtins(lines[0])]})
    assert ORDER.render(Order("o1", "pending", lines)) == expected
    assert ORDER.render(OrderData("o1", "pending", lines)) == expected
    pydantic_order = PydanticOrder(
        order_id="o1", status="pending", lines=[PydanticLine(**msgspec.to_builtins(lines[0]))]
    )
    assert ORDER.render(pydantic_order) == expected
    assert ORDER.validate(Order("o1", "pending", lines))["lines"] == [
        {"sku": "tea", "name": "Tea", "qty": 1, "price": 2.5}
    ]


def test_data_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(TemplateError, match=r"'order' .*: its data is an object .* not a list"):
        ORDER.render([1, 2])
    with pytest.raises(TemplateError, match="cannot use a object as data"):
        ORDER.render(object())
    with pytest.raises(TemplateError, match="data: 'order_id' is a required property"):
        ORDER.render()  # no data is {}


def test_the_template_cannot_reach_python_or_change_its_data() -> None:
    with pytest.raises(TemplateError, match="failed to render: SecurityError"):
        text_card("{{ value.append(1) }}").render({"value": []})
    with pytest.raises(TemplateError, match="failed to render"):
        text_card("{{ value.__class__.__mro__ | tojson }}").render({"value": "x"})
    data = {"value": ["a"]}
    text_card("{{ value | tojson }}").render(data)
    assert data == {"value": ["a"]}


# --------------------------------------------------------------------------- what the template renders


def test_undefined_variables_are_errors() -> None:
    with pytest.raises(
        TemplateError, match=r"widget template 'text': failed to render: UndefinedError: 'title' is undefined"
    ):
        text_card("{{ title | tojson }}").render({})
    with pytest.raises(
        TemplateError, match=r"failed to render: UndefinedError: 'dict object' has no attribute 'b'"
    ):
        text_card("{{ a.b }}").render({"a": {}})
    with pytest.raises(TemplateError, match="failed to render: TypeError: Object of type range is not JSON"):
        text_card("{{ range(3) | tojson }}").render({})


def test_invalid_json_is_shown_where_it_breaks() -> None:
    with pytest.raises(TemplateError) as failed:
        text_card("{{ done }}").render({"done": True})  # Python's True, not JSON's true: use tojson
    first, excerpt, caret = str(failed.value).splitlines()
    assert first == "widget template 'text': rendered invalid JSON: Expecting value at line 1 column 57"
    assert excerpt.endswith('"value": True}]}')
    assert excerpt[len(caret) - 1 :] == "True}]}"  # the caret points at the culprit

    trailing = WidgetTemplate(
        {
            "version": "1.0",
            "name": "list",
            "template": '{"type": "ListView", "children": [{% for x in xs %}{"type": "ListViewItem"},{% endfor %}]}',
        }
    )
    with pytest.raises(TemplateError, match="rendered invalid JSON: Expecting value at line 1 column"):
        trailing.render({"xs": [1]})


def test_json_only_the_json_module_accepts_is_still_refused() -> None:
    with pytest.raises(TemplateError, match="rendered invalid JSON: JSON is malformed"):
        text_card("NaN").render({})
    with pytest.raises(TemplateError, match="failed to render: ValueError: Out of range float values"):
        text_card("{{ x | tojson }}").render({"x": float("nan")})


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ('{"type": "Text", "value": "x"}', "rendered a 'Text' component, not a widget root"),
        ('[{"type": "Card"}]', "rendered an array, not a widget root"),
        ('{"children": []}', "rendered an object without a string 'type', not a widget root"),
        ('"Card"', "rendered the value 'Card', not a widget root"),
        (
            '{"type": "Card", "children": [{"value": "x"}]}',
            r"rendered an invalid widget: Object missing required field `type` - at `\$.children\[0\]`",
        ),
        (
            '{"type": "Card", "children": [{"type": "Text", "id": 7}]}',
            r"rendered an invalid widget: Expected `str \| null`, got `int` - at `\$.children\[0\].id`",
        ),
    ],
)
def test_output_that_is_not_a_widget_is_refused(template: str, message: str) -> None:
    broken = WidgetTemplate({"version": "1.0", "name": "broken", "template": template})
    with pytest.raises(TemplateError, match=message):
        broken.render()


def test_nulls_are_left_out_as_chatkit_does() -> None:
    card = text_card('"x", "id": {{ none | tojson }}, "tags": [1, null, 2]')
    assert card.render({"none": None})["children"][0] == {"type": "Text", "value": "x", "tags": [1, 2]}


# --------------------------------------------------------------------------- reading .widget documents


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "the widget definition is not JSON: JSON is malformed"),
        ("[]", r"the widget definition is not a .widget document \(a JSON object\)"),
        (
            '{"version": "1.0", "name": "x"}',
            "is not a .widget document: Object missing required field `template`",
        ),
        (
            '{"version": "1.0", "name": "x", "template": 1}',
            r"not a .widget document: Expected `str`, got `int` - at `\$.template`",
        ),
        (
            '{"version": "2.0", "name": "x", "template": ""}',
            "has version '2.0'; this reads .widget version 1.0",
        ),
        (
            '{"version": "1.0", "name": "x", "template": "{% for %}"}',
            "widget template 'x': its template does not compile: .* \\(line 1\\)",
        ),
        (
            '{"version": "1.0", "name": "x", "template": "", "jsonSchema": {"properties": {"a": {"type": "text"}}}}',
            "widget template 'x': its jsonSchema is not a valid JSON Schema: jsonSchema.properties.a.type: 'text' is not valid",
        ),
    ],
)
def test_a_broken_document_is_refused_when_read(document: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        WidgetTemplate.from_json(document)


def test_a_missing_file_is_the_usual_os_error() -> None:
    with pytest.raises(FileNotFoundError):
        WidgetTemplate.from_file(WIDGETS / "missing.widget")


def encoded(obj: Any, *, urlsafe: bool = True) -> str:
    raw = json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") if urlsafe else base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("encoded_widget", "sample"),
    [
        (encoded({"defaultState": {"a": "~~~???"}}), {"a": "~~~???"}),
        (encoded({"defaultState": {"a": "~~~???"}}, urlsafe=False), {"a": "~~~???"}),
        (encoded({"defaultState": [1]}), None),
        (encoded([1]), None),
        (encoded({"view": "<Card />"}), None),
        ("%%% not base64", None),
        ("", None),
    ],
)
def test_the_sample_data_is_read_from_the_encoded_widget(encoded_widget: str, sample: Any) -> None:
    template = WidgetTemplate(
        {"version": "1.0", "name": "x", "template": "", "encodedWidget": encoded_widget}
    )
    assert template.sample_data == sample


def test_a_template_knows_where_it_came_from() -> None:
    assert repr(FLIGHTS) == f"WidgetTemplate('flights', origin={str(WIDGETS / 'flights.widget')!r})"
    assert FLIGHTS.origin == str(WIDGETS / "flights.widget")
    assert repr(text_card('"x"')) == "WidgetTemplate('text')"
    assert text_card('"x"').schema == {}
    assert FLIGHTS.schema["required"] == ["origin", "destination", "flights"]
    assert "tojson" in FLIGHTS.source


# --------------------------------------------------------------------------- an optional extra


@pytest.mark.parametrize("missing", ["jinja2", "jsonschema"])
def test_without_the_extra_the_import_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import <missing>` fail
    monkeypatch.delitem(sys.modules, "chatkit_handlers.templates")
    with pytest.raises(ImportError, match=r'pip install "chatkit-handlers\[templates\]"'):
        importlib.import_module("chatkit_handlers.templates")
