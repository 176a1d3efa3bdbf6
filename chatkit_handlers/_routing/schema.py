"""Schemas of the registered actions: JSON Schema, the OpenAPI operation, TypeScript.

All three come from msgspec's schema generation (``msgspec.json.schema_components``)
applied to the payload types, so what is documented is exactly what the
dispatcher validates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Union

import msgspec

from ..types import ErrorEvent, SyncCustomActionResponse
from .payloads import is_pydantic_model, pydantic_schema

if TYPE_CHECKING:
    from .route import Route

__all__ = ["json_schema", "openapi_operation", "typescript"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# A route without a payload parameter accepts an absent/null payload or {}.
_NO_PAYLOAD: dict[str, Any] = {"anyOf": [{"type": "null"}, {"type": "object", "maxProperties": 0}]}


def _schemas(types: Sequence[Any], ref_template: str) -> tuple[tuple[dict[str, Any], ...], dict[str, Any]]:
    """msgspec's ``schema_components``, with pydantic models' schemas (and their nested models) in."""
    extra: dict[str, Any] = {}

    def hook(cls: type) -> dict[str, Any]:
        if is_pydantic_model(cls):
            return pydantic_schema(cls, ref_template, extra)
        raise NotImplementedError  # msgspec's own error for a type it cannot describe

    schemas, components = msgspec.json.schema_components(types, schema_hook=hook, ref_template=ref_template)
    for name, schema in extra.items():
        components.setdefault(name, schema)
    return schemas, components


def _components(routes: Sequence[Route], ref_template: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each route's payload schema (in order) and the shared named components."""
    types = [route.payload_type for route in routes if route.payload_type is not None]
    schemas, components = _schemas(types, ref_template)
    found = iter(schemas)
    return [next(found) if r.payload_type is not None else dict(_NO_PAYLOAD) for r in routes], components


def _refs(node: Any, prefix: str) -> Iterable[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(prefix):
            yield ref[len(prefix) :]
        for value in node.values():
            yield from _refs(value, prefix)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value, prefix)


def _reachable(schema: dict[str, Any], components: dict[str, Any], prefix: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    pending = list(_refs(schema, prefix))
    while pending:
        name = pending.pop()
        if name not in found and name in components:
            found[name] = components[name]
            pending.extend(_refs(components[name], prefix))
    return {name: found[name] for name in sorted(found)}


def json_schema(routes: Sequence[Route]) -> dict[str, Any]:
    """One standalone JSON Schema (2020-12) per action payload, keyed by action type.

    Each schema has the action type as ``title``, the route's description, the
    mode as ``x-chatkit-mode`` (``"streaming"``/``"sync"``) and the ``$defs`` it needs.
    A pattern route is keyed by its pattern (``"cart.*"``).
    """
    prefix = "#/$defs/"
    payloads, components = _components(routes, prefix + "{name}")
    result: dict[str, Any] = {}
    for route, payload in zip(routes, payloads, strict=True):
        doc: dict[str, Any] = {"$schema": _DIALECT, "title": route.type}
        if route.description:
            doc["description"] = route.description
        doc["x-chatkit-mode"] = route.mode
        doc.update(payload)
        defs = _reachable(payload, components, prefix)
        if defs:
            doc["$defs"] = defs
        result[route.type] = doc
    return result


# ------------------------------------------------------------------ OpenAPI


def _pascal(action_type: str) -> str:
    words = re.split(r"[^0-9A-Za-z]+", action_type)
    name = "".join(w[:1].upper() + w[1:] for w in words if w)
    return name if name[:1].isalpha() else f"A{name}"


def _unique_names(routes: Sequence[Route], suffix: str) -> list[str]:
    names: list[str] = []
    taken: set[str] = set()
    for route in routes:
        if route.pattern is None:
            base = _pascal(route.type) + suffix
        elif route.type.endswith("*"):
            base = _pascal(route.type[:-1]) + "Any" + suffix
        else:  # a regular expression makes a poor name; its handler's name reads better
            base = _pascal(getattr(route.handler, "__name__", "pattern")) + suffix
        name, n = base, 2
        while name in taken:
            name, n = f"{base}{n}", n + 1
        taken.add(name)
        names.append(name)
    return names


def _action_struct(route: Route, name: str) -> type:
    payload: tuple[str, Any] | tuple[str, Any, Any]
    payload = ("payload", route.payload_type) if route.payload_type is not None else ("payload", None, None)
    return msgspec.defstruct(
        name, [payload], tag=route.type, tag_field="type", kw_only=True, module="chatkit_handlers.openapi"
    )


def _envelope(kind: str, name: str, actions: list[type]) -> type:
    action: Any = Union[tuple(actions)]
    params = msgspec.defstruct(
        f"{name}Params",
        [("thread_id", str), ("item_id", Union[str, None], None), ("action", action)],
        kw_only=True,
        module="chatkit_handlers.openapi",
    )
    return msgspec.defstruct(
        name,
        [("params", params), ("metadata", dict[str, Any], {})],
        tag=kind,
        tag_field="type",
        kw_only=True,
        module="chatkit_handlers.openapi",
    )


def openapi_operation(routes: Sequence[Route]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI 3.1 ``post`` operation of the endpoint, and the component schemas it refers to.

    The request body is a union discriminated by ``type`` (``threads.custom_action``
    / ``threads.sync_custom_action``) whose ``params.action`` is itself a union of
    the registered actions discriminated by their ``type``. Pattern routes cannot
    be a discriminator value; they are listed in the operation's description.
    """
    exact = [route for route in routes if route.pattern is None]
    structs = dict(
        zip((id(r) for r in exact), map(_action_struct, exact, _unique_names(exact, "Action")), strict=True)
    )
    bodies = []
    streaming = [structs[id(r)] for r in exact if r.streaming]
    sync = [structs[id(r)] for r in exact if not r.streaming]
    if streaming:
        bodies.append(_envelope("threads.custom_action", "ChatKitCustomActionRequest", streaming))
    if sync:
        bodies.append(_envelope("threads.sync_custom_action", "ChatKitSyncCustomActionRequest", sync))
    ref = "#/components/schemas/{name}"
    body_type: Any = Union[tuple(bodies)] if bodies else dict[str, Any]
    (body, ok, error), components = _schemas([body_type, SyncCustomActionResponse, ErrorEvent], ref)
    lines = ["Answers ChatKit widget actions (`threads.custom_action` streams server-sent events,"]
    lines.append("`threads.sync_custom_action` answers JSON).\n\nActions:\n")
    for route in routes:
        about = f": {route.description}" if route.description else ""
        lines.append(
            f"- `{route.type}` ({route.mode}{', pattern' if route.pattern is not None else ''}){about}"
        )
    operation = {
        "summary": "ChatKit actions",
        "description": "\n".join(lines),
        "operationId": "chatkitActions",
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {
            "200": {
                "description": "A sync action's `SyncCustomActionResponse`, or a streaming action's events "
                "(`data: <event JSON>` lines)",
                "content": {
                    "application/json": {"schema": ok},
                    "text/event-stream": {"schema": {"type": "string"}},
                },
            },
            "4XX": {
                "description": "The request was refused before any handler ran (or a guard refused it)",
                "content": {"application/json": {"schema": error}},
            },
            "5XX": {
                "description": "A sync handler failed or timed out (500, 504), or the store was unavailable (503)",
                "content": {"application/json": {"schema": error}},
            },
        },
    }
    return operation, components


# ------------------------------------------------------------------ TypeScript

_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def _ts_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_$]", "_", name)
    return cleaned if _IDENT.match(cleaned) else f"_{cleaned}"


def _ts_key(key: str) -> str:
    return key if _IDENT.match(key) else json.dumps(key)


def _ts(schema: Any, indent: str = "") -> str:
    """A TypeScript type for one msgspec-generated JSON Schema node."""
    if not isinstance(schema, dict) or not schema:
        return "unknown"
    if "$ref" in schema:
        return _ts_name(schema["$ref"].rsplit("/", 1)[-1])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(dict.fromkeys(_ts(s, indent) for s in schema[key]))
    if "allOf" in schema:
        return " & ".join(_ts(s, indent) for s in schema["allOf"])
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_ts({**schema, "type": k}, indent) for k in kind)
    if kind == "string":
        return "string"
    if kind in ("integer", "number"):
        return "number"
    if kind == "boolean":
        return "boolean"
    if kind == "null":
        return "null"
    if kind == "array":
        if "prefixItems" in schema:
            return "[" + ", ".join(_ts(s, indent) for s in schema["prefixItems"]) + "]"
        item = _ts(schema.get("items", {}), indent)
        return f"({item})[]" if " " in item else f"{item}[]"
    if kind == "object":
        if "properties" in schema:
            return _ts_object(schema, indent)
        extra = schema.get("additionalProperties", True)
        return f"Record<string, {_ts(extra, indent) if isinstance(extra, dict) else 'unknown'}>"
    return "unknown"


def _ts_object(schema: dict[str, Any], indent: str) -> str:
    required = set(schema.get("required", ()))
    inner = indent + "  "
    lines = ["{"]
    for key, prop in schema["properties"].items():
        doc = prop.get("description") if isinstance(prop, dict) else None
        if doc:
            lines.append(f"{inner}/** {doc} */")
        mark = "" if key in required else "?"
        lines.append(f"{inner}{_ts_key(key)}{mark}: {_ts(prop, inner)};")
    lines.append(indent + "}")
    return "\n".join(lines)


def _doc(text: str | None) -> list[str]:
    if not text:
        return []
    return ["/**", *(f" * {line}".rstrip() for line in text.splitlines()), " */"]


def _closing(source: str, start: int) -> int:
    """The index of the parenthesis closing the group opened at ``source[start]``."""
    depth, i, in_class = 0, start, False
    while i < len(source):
        c = source[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _template(source: str) -> str | None:
    """A TypeScript template literal body for a regular expression made of literal text and
    groups (each group becomes ``${string}``), or ``None`` when it is anything more."""
    out: list[str] = []
    i = 0
    while i < len(source):
        c = source[i]
        if source.startswith((".+", ".*"), i):  # a wildcard's tail
            out.append("${string}")
            i += 2
        elif c == "\\" and i + 1 < len(source) and not source[i + 1].isalnum():
            out.append(source[i + 1])
            i += 2
        elif c == "(":
            end = _closing(source, i)
            if end == -1 or (end + 1 < len(source) and source[end + 1] in "*+?{"):
                return None
            if source.startswith("(?:", i):
                inner = _template(source[i + 3 : end])
                if inner is None:
                    return None
                out.append(inner)
            else:
                out.append("${string}")
            i = end + 1
        elif c in ".^$*+?{}[]|)\\":
            return None
        else:
            out.append(c.replace("`", "\\`"))
            i += 1
    return "".join(out)


def _ts_type_literal(route: Route) -> str:
    if route.pattern is None:
        return json.dumps(route.type)
    template = _template(route.pattern.pattern)
    return f"`{template}`" if template is not None else "string"


def typescript(routes: Sequence[Route], *, source: str | None = None) -> str:
    """TypeScript declarations of every action (``{type, payload}``) and its payload types.

    Exports one interface per payload component, one ``<Name>Action`` type per
    route, the union ``Action`` (what ``chatkit.sendCustomAction`` takes) and
    ``ActionPayloads`` mapping each exact type to its payload.
    """
    payloads, components = _components(routes, "#/$defs/{name}")
    out = ["// TypeScript declarations of ChatKit action payloads, generated by chatkit-handlers."]
    if source:
        out.append(f"// Regenerate with: python -m chatkit_handlers typescript {source} -o <file>")
    out.append("")
    for name, schema in components.items():
        out += _doc(schema.get("description") or None)
        body = _ts(schema)
        if schema.get("type") == "object" and "properties" in schema:
            out.append(f"export interface {_ts_name(name)} {body}")
        else:
            out.append(f"export type {_ts_name(name)} = {body};")
        out.append("")
    names = _unique_names(routes, "Action")
    for route, payload, name in zip(routes, payloads, names, strict=True):
        about = [route.description] if route.description else []
        if not route.streaming:
            about.append("Sync action: set `streaming: false` in the widget's ActionConfig.")
        out += _doc("\n".join(about))
        optional = "?" if route.payload_type is None else ""
        out.append(f"export interface {name} {{")
        out.append(f"  type: {_ts_type_literal(route)};")
        out.append(f"  payload{optional}: {'null' if optional else _ts(payload, '  ')};")
        out.append("}")
        out.append("")
    out.append("/** Every action the server handles: what `chatkit.sendCustomAction(action)` takes. */")
    out.append(f"export type Action = {' | '.join(names) if names else 'never'};")
    out.append("")
    out.append("/** The payload type of each (exact) action type. */")
    out.append("export interface ActionPayloads {")
    for route, payload in zip(routes, payloads, strict=True):
        if route.pattern is None:
            ts = "null" if route.payload_type is None else _ts(payload, "  ")
            out.append(f"  {json.dumps(route.type)}: {ts};")
    out.append("}")
    return "\n".join(out) + "\n"
