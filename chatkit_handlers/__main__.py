"""Command line: ``python -m chatkit_handlers <command> module:router``.

Commands:

* ``routes``: the route table (type, mode, payload type, handler, guards, timeout, description);
* ``schema``: the JSON Schema of every action payload, keyed by action type;
* ``typescript``: TypeScript declarations of every action, for client code that
  calls ``chatkit.sendCustomAction`` (``-o actions.d.ts`` writes a file).
* ``render``: the widget JSON a ``.widget`` template renders, with the data in a
  JSON file (``--data data.json``; ``-`` reads standard input) or the template's own
  sample data; data that does not match its schema is an error naming each field.

The target is ``module:attribute`` (``examples.counter.app:router``); the
attribute may be an ``ActionRouter``, a ``Dispatcher``, a ``ChatKitPlugin`` or a
Litestar app that uses one. The current directory is importable, as with
``litestar --app``. Errors exit with status 2 and a message on standard error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from ._routing.describe import routes_table
from ._routing.router import ActionRouter
from ._routing.schema import typescript
from .errors import RegistrationError, TemplateError

__all__ = ["main"]


class _TargetError(Exception):
    pass


def load_router(target: str) -> ActionRouter:
    """The router ``module:attribute`` names (see the module docstring)."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise _TargetError(f"target {target!r} must look like module:attribute (examples.counter.app:router)")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise _TargetError(f"cannot import {module_name!r}: {exc}") from exc
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise _TargetError(f"{module_name!r} has no attribute {attribute!r}") from None
    router = _router_of(value)
    if router is None:
        raise _TargetError(
            f"{target} is a {type(value).__name__}, not an ActionRouter (nor a Dispatcher, "
            "ChatKitPlugin or Litestar app holding one)"
        )
    return router


def _router_of(value: Any) -> ActionRouter | None:
    if isinstance(value, ActionRouter):
        return value
    for attr in ("router", "dispatcher"):  # Dispatcher, ChatKitPlugin
        inner = getattr(value, attr, None)
        if inner is not None and inner is not value:
            found = _router_of(inner)
            if found is not None:
                return found
    plugins = getattr(getattr(value, "plugins", None), "init", None)  # a Litestar app
    for plugin in plugins or ():
        found = _router_of(plugin)
        if found is not None:
            return found
    return None


def _write(text: str, output: str | None) -> None:
    if output is None or output == "-":
        sys.stdout.write(text)
        return
    with open(output, "w", encoding="utf-8") as file:
        file.write(text)
    print(f"wrote {output}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m chatkit_handlers", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("routes", help="print the route table")
    show.add_argument("target", help="module:attribute of the router (or app)")
    for name, text in (("schema", "JSON Schema of the payloads"), ("typescript", "TypeScript declarations")):
        command = commands.add_parser(name, help=f"write the {text}")
        command.add_argument("target", help="module:attribute of the router (or app)")
        command.add_argument("-o", "--output", help="file to write (default: standard output)")
    render = commands.add_parser("render", help="print the widget a .widget template renders")
    render.add_argument("template", help="the .widget file")
    render.add_argument(
        "-d", "--data", help="JSON file of data, - for standard input (default: the sample data)"
    )
    args = parser.parse_args(argv)
    if args.command == "render":
        return _render(args.template, args.data)
    try:
        router = load_router(args.target)
        if args.command == "routes":
            _write(routes_table(router), None)
        elif args.command == "schema":
            _write(json.dumps(router.json_schema(), indent=2) + "\n", args.output)
        else:
            _write(typescript(router.routes(), source=args.target), args.output)
    except (_TargetError, RegistrationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _render(template: str, data: str | None) -> int:
    try:
        from .templates import render_file  # jinja2 and jsonschema only for this command

        _write(render_file(template, data), None)
    except (ImportError, TemplateError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
