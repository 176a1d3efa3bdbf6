"""Widget templates: ``.widget`` files, checked against their schema and rendered into widgets.

A ``.widget`` file (what ChatKit's widget builder exports) is JSON: a ``name``, a
``version`` (``"1.0"``), a Jinja ``template`` whose output is the widget's JSON, a
``jsonSchema`` for the data it takes and, from the builder, an ``outputJsonPreview``
and an ``encodedWidget`` that carries the builder's sample data. ``WidgetTemplate``
reads one once, checks every ``render(data)`` against the schema (naming the failing
field), and returns the widget as plain JSON, which handlers return or pass to
``ctx.add_widget`` / ``ctx.update_widget`` like any widget root::

    flights = WidgetTemplate.from_file(Path(__file__).parent / "flights.widget")

    @on_action("flights.search", streaming=False)
    async def search(payload: Search) -> WidgetRoot:
        return flights.render({"flights": await find_flights(payload)})

Templates written for chatkit's own ``WidgetTemplate`` render to the same widget.
Rendering is sandboxed (a template cannot reach Python internals or change its
data) and undefined variables are errors; ``{{ value | tojson }}`` prints any value
as JSON, and a string printed bare (``"label": "{{ name }}"``) is escaped for the
JSON string it stands in, so quotes, backslashes and newlines in data come out as
they went in (``{{ text | safe }}`` prints a string unescaped).

Needs jinja2 and jsonschema: ``pip install "chatkit-handlers[templates]"``.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from .errors import TemplateError
from .types import WidgetRoot

try:
    import jinja2
    import jsonschema
    import referencing
    import referencing.exceptions
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError as exc:
    raise ImportError(
        f"chatkit_handlers.templates needs jinja2 and jsonschema ({exc}): "
        'pip install "chatkit-handlers[templates]"'
    ) from exc

__all__ = ["WidgetTemplate", "render_file"]

_ROOT_TYPES = ("Card", "ListView", "Basic")
_SHOWN_ERRORS = 10
"""How many failing fields a data error lists (``TemplateError.errors`` has them all)."""


def _finalize(value: Any) -> Any:
    # In .widget templates a bare {{ name }} stands inside a JSON string ("label": "{{ name }}"):
    # escape it for one, or a quote in the data would end the string. `tojson` output and
    # `| safe` strings are Markup, not str, and print as they are.
    if type(value) is str:
        return json.dumps(value, ensure_ascii=False)[1:-1]
    return value


def _dumps(value: Any, **options: Any) -> str:
    return json.dumps(value, default=_not_json, **options)


def _not_json(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        str(value)  # a StrictUndefined raises UndefinedError ("'title' is undefined") here
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, finalize=_finalize)
# `tojson` sorts keys (Jinja's default, so chatkit's too); NaN is not JSON; an undefined
# variable is an UndefinedError naming it, not a TypeError from json.
_env.policies["json.dumps_function"] = _dumps
_env.policies["json.dumps_kwargs"] = {"sort_keys": True, "allow_nan": False}


class _Definition(msgspec.Struct, rename="camel"):
    """The fields of a ``.widget`` document this module reads (others are ignored)."""

    version: str
    name: str
    template: str
    json_schema: dict[str, Any] | None = None
    output_json_preview: dict[str, Any] | None = None
    encoded_widget: str | None = None


class _Component(msgspec.Struct):
    """What chatkit requires of every component of a widget tree; other fields are free."""

    type: str
    id: str | None = None
    key: str | None = None
    children: _Component | list[_Component] | None = None


_rendered = msgspec.json.Decoder()


class WidgetTemplate:
    """A ``.widget`` template: its data checked against its ``jsonSchema``, rendered to a widget root.

    Build it once, at import, from a file (``from_file``), its JSON text (``from_json``)
    or the parsed document (``WidgetTemplate({...})``); a document that is not a
    version 1.0 widget, a template that does not compile or an invalid schema raise
    ``TemplateError`` there, not on a request.

    >>> badge = WidgetTemplate({"version": "1.0", "name": "badge",
    ...     "template": '{"type": "Card", "children": [{"type": "Badge", "label": {{ label | tojson }}}]}',
    ...     "jsonSchema": {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}})
    >>> badge.render({"label": 'say "hi"'})
    {'type': 'Card', 'children': [{'type': 'Badge', 'label': 'say "hi"'}]}

    Attributes:
        name: the template's ``name``.
        version: its ``version`` (always ``"1.0"``).
        source: the Jinja template text.
        schema: its ``jsonSchema`` (``{}``, which accepts anything, when it has none).
        preview: the builder's ``outputJsonPreview``, or ``None``.
        sample_data: the builder's sample data (the ``defaultState`` in its
            ``encodedWidget``), or ``None``.
        origin: the file it was read from, or ``None``.
    """

    __slots__ = (
        "_label",
        "_template",
        "_validator",
        "name",
        "origin",
        "preview",
        "sample_data",
        "schema",
        "source",
        "version",
    )

    def __init__(self, definition: Mapping[str, Any], *, origin: str | None = None) -> None:
        where = origin or "the widget definition"
        try:
            parsed = msgspec.convert(dict(definition), _Definition)
        except msgspec.ValidationError as exc:
            raise TemplateError(f"{where} is not a .widget document: {exc}") from None
        if parsed.version != "1.0":
            raise TemplateError(
                f"{where} has version {parsed.version!r}; this reads .widget version 1.0",
                template=parsed.name,
            )
        self.name = parsed.name
        self.version = parsed.version
        self.source = parsed.template
        self.schema: dict[str, Any] = parsed.json_schema or {}
        self.preview = parsed.output_json_preview
        self.sample_data = _sample_data(parsed.encoded_widget)
        self.origin = origin
        self._label = f"widget template {self.name!r}" + (f" ({origin})" if origin else "")
        try:
            self._template = _env.from_string(self.source)
        except jinja2.TemplateSyntaxError as exc:
            raise self._error(f"its template does not compile: {exc.message} (line {exc.lineno})") from None
        validator_class = jsonschema.validators.validator_for(
            self.schema, default=jsonschema.Draft202012Validator
        )
        try:
            validator_class.check_schema(self.schema)
        except jsonschema.SchemaError as exc:
            where_in = _path("jsonSchema", exc.absolute_path)
            raise self._error(
                f"its jsonSchema is not a valid JSON Schema: {where_in}: {exc.message}"
            ) from None
        # An empty registry: a `$ref` to another document is an error, never a download.
        self._validator = validator_class(
            self.schema, registry=referencing.Registry(), format_checker=validator_class.FORMAT_CHECKER
        )

    @classmethod
    def from_json(cls, text: str | bytes, *, origin: str | None = None) -> WidgetTemplate:
        """The template of a ``.widget`` document given as JSON text."""
        try:
            definition = msgspec.json.decode(text)
        except msgspec.DecodeError as exc:
            raise TemplateError(f"{origin or 'the widget definition'} is not JSON: {exc}") from None
        if not isinstance(definition, dict):
            raise TemplateError(
                f"{origin or 'the widget definition'} is not a .widget document (a JSON object)"
            )
        return cls(definition, origin=origin)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> WidgetTemplate:
        """The template in the ``.widget`` file at ``path``.

        A relative path is relative to the current directory, as with ``open()``; next
        to a module, write ``Path(__file__).parent / "name.widget"``.
        """
        return cls.from_json(Path(path).read_bytes(), origin=os.fspath(path))

    def validate(self, data: Any = None) -> dict[str, Any]:
        """``data`` as plain JSON values, checked against the template's ``jsonSchema``.

        ``data`` is a dict, a ``msgspec.Struct``, a dataclass or a pydantic model
        (``None`` is ``{}``), turned into what it would be as JSON first. Raises
        ``TemplateError`` listing every failing field by its path, e.g.
        ``data.flights[2].price: 'x' is not of type 'number'``.
        """
        values = self._plain(data)
        try:
            found = sorted(self._validator.iter_errors(values), key=_by_path)
        except referencing.exceptions.Unresolvable as exc:
            raise self._error(f"its jsonSchema refers to what it does not contain: {exc}") from None
        errors = tuple(f"{_path('data', error.absolute_path)}: {error.message}" for error in found)
        if errors:
            shown = "\n  ".join(errors[:_SHOWN_ERRORS])
            more = f"\n  … and {len(errors) - _SHOWN_ERRORS} more" if len(errors) > _SHOWN_ERRORS else ""
            raise TemplateError(
                f"the data for {self._label} does not match its jsonSchema:\n  {shown}{more}",
                template=self.name,
                errors=errors,
            )
        return values

    def render(self, data: Any = None) -> WidgetRoot:
        """The widget for ``data``: validated (see ``validate``), rendered, parsed and checked.

        Returns the widget root as plain JSON (``{"type": "Card", ...}``), without the
        ``null`` values chatkit leaves out too. Raises ``TemplateError`` for data that
        does not match the schema, and for a template that fails to render, renders
        invalid JSON or something that is not a widget (the message shows where).
        """
        values = self.validate(data)
        try:
            text = self._template.render(values)
        except Exception as exc:  # a template's bug, whatever it is: say which template
            raise self._error(f"failed to render: {type(exc).__name__}: {exc}") from exc
        return self._widget_root(text)

    def __repr__(self) -> str:
        return f"WidgetTemplate({self.name!r}" + (f", origin={self.origin!r})" if self.origin else ")")

    def _error(self, message: str) -> TemplateError:
        return TemplateError(f"{self._label}: {message}", template=self.name)

    def _plain(self, data: Any) -> dict[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, msgspec.Struct):
            dump = getattr(data, "model_dump", None)  # a pydantic model, as it is in JSON
            if callable(dump):
                data = dump(mode="json", by_alias=True)
        try:
            plain = msgspec.to_builtins(data)
        except TypeError as exc:
            raise self._error(f"cannot use a {type(data).__name__} as data: {exc}") from None
        if not isinstance(plain, dict):
            raise self._error(
                f"its data is an object (a dict, a msgspec Struct, a dataclass or a pydantic model), "
                f"not a {type(data).__name__}"
            )
        return plain

    def _widget_root(self, text: str) -> WidgetRoot:
        try:
            root = _rendered.decode(text)
        except msgspec.DecodeError as exc:
            raise self._error(f"rendered invalid JSON: {_locate(text, exc)}") from None
        kind = root.get("type") if isinstance(root, dict) else None
        if kind not in _ROOT_TYPES:
            what = f"a {kind!r} component" if isinstance(kind, str) else _json_kind(root)
            raise self._error(
                f"rendered {what}, not a widget root: the outermost component must be a Card, ListView or Basic"
            )
        try:
            msgspec.convert(root, _Component)
        except msgspec.ValidationError as exc:
            raise self._error(f"rendered an invalid widget: {exc}") from None
        widget: WidgetRoot = _without_nulls(root)
        return widget


def render_file(template: str | os.PathLike[str], data: str | os.PathLike[str] | None = None) -> str:
    """The widget JSON (indented, with a final newline) of the ``.widget`` file ``template``.

    Rendered with the JSON data in the file ``data`` (``"-"``: standard input), or by
    default with the template's own sample data. What ``python -m chatkit_handlers
    render`` and ``litestar chatkit render`` print; every failure, a missing file
    included, is a ``TemplateError`` saying what went wrong.
    """
    try:
        widget_template = WidgetTemplate.from_file(template)
        if data is None:
            values: Any = widget_template.sample_data
            if values is None:
                raise TemplateError(
                    f"{os.fspath(template)} carries no sample data (the builder's encodedWidget): "
                    "pass a JSON file of data",
                    template=widget_template.name,
                )
        else:
            from_stdin = os.fspath(data) == "-"
            where = "standard input" if from_stdin else os.fspath(data)
            raw = sys.stdin.buffer.read() if from_stdin else Path(data).read_bytes()
            try:
                values = msgspec.json.decode(raw)
            except msgspec.DecodeError as exc:
                raise TemplateError(f"the data in {where} is not JSON: {exc}") from None
    except OSError as exc:
        raise TemplateError(f"cannot read {exc.filename}: {exc.strerror}") from None
    widget = widget_template.render(values)
    return msgspec.json.format(msgspec.json.encode(widget), indent=2).decode() + "\n"


def _sample_data(encoded: str | None) -> dict[str, Any] | None:
    """The ``defaultState`` in the builder's ``encodedWidget`` (base64 of JSON), if it has one."""
    if not encoded:
        return None
    # The builder writes URL-safe base64 without padding; accept the standard alphabet too.
    normalized = encoded.replace("+", "-").replace("/", "_") + "=" * (-len(encoded) % 4)
    try:
        state = msgspec.json.decode(base64.urlsafe_b64decode(normalized)).get("defaultState")
    except (ValueError, AttributeError):  # not base64, not JSON, not an object: no sample
        return None
    return state if isinstance(state, dict) else None


def _path(start: str, parts: Iterable[str | int]) -> str:
    """``data.flights[2].price`` for the parts ``("flights", 2, "price")``."""
    text = start
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.isidentifier():
            text += f".{part}"
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text


def _by_path(error: jsonschema.ValidationError) -> tuple[list[tuple[int, int | str]], str]:
    """Errors in data order (the validator finds them in no fixed order): indexes and keys sort apart."""
    return [(0, part) if isinstance(part, int) else (1, part) for part in error.absolute_path], error.message


def _locate(text: str, exc: msgspec.DecodeError) -> str:
    """Where the rendered ``text`` stops being JSON, with the text around it and a caret."""
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        start = max(error.pos - 40, 0)
        around = text[start : error.pos + 40].replace("\n", " ").replace("\t", " ").replace("\r", " ")
        excerpt = around.lstrip()
        caret = " " * (error.pos - start - (len(around) - len(excerpt)))
        return f"{error.msg} at line {error.lineno} column {error.colno}\n  {excerpt}\n  {caret}^"
    return str(exc)  # stricter than the json module (NaN): msgspec's own message


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object without a string 'type'"
    if isinstance(value, list):
        return "an array"
    return f"the value {value!r}"


def _without_nulls(value: Any) -> Any:
    # chatkit leaves nulls out of the widgets it serializes: the same template, the same widget.
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value if item is not None]
    return value
