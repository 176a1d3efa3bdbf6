"""``litestar chatkit routes|schema|typescript|render``: the route table, the schemas, widget templates.

The same output as ``python -m chatkit_handlers``, for the router of the app's
``ChatKitPlugin``: ``litestar --app myapp:app chatkit routes``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TextIO

import click

from .._routing.describe import routes_table
from .._routing.router import ActionRouter
from .._routing.schema import typescript
from ..errors import TemplateError

__all__ = ["chatkit_group"]


def chatkit_group(router: Callable[[], ActionRouter], name: str = "chatkit") -> click.Group:
    """The ``chatkit`` command group, for the router ``router()`` gives."""

    @click.group(
        name=name,
        help="ChatKit actions: the route table, the payloads' JSON Schema, TypeScript; widget templates.",
    )
    def group() -> None:
        pass

    @group.command(help="Print the route table.")
    def routes() -> None:
        click.echo(routes_table(router()), nl=False)

    @group.command(help="Write the JSON Schema of every action's payload.")
    @click.option("-o", "--output", type=click.File("w"), default="-", help="file to write (default: stdout)")
    def schema(output: TextIO) -> None:
        output.write(json.dumps(router().json_schema(), indent=2) + "\n")

    @group.command(name="typescript", help="Write TypeScript declarations of every action.")
    @click.option("-o", "--output", type=click.File("w"), default="-", help="file to write (default: stdout)")
    def typescript_command(output: TextIO) -> None:
        output.write(typescript(router().routes()))

    @group.command(help="Print the widget a .widget template renders (with its sample data by default).")
    @click.argument("template")
    @click.option("-d", "--data", help="JSON file of data, - for standard input (default: the sample data)")
    def render(template: str, data: str | None) -> None:
        try:
            from ..templates import render_file  # jinja2 and jsonschema only for this command

            click.echo(render_file(template, data), nl=False)
        except (ImportError, TemplateError) as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None

    return group
