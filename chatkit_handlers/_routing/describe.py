"""The route table as text: what ``python -m chatkit_handlers routes`` and ``litestar chatkit routes`` print."""

from __future__ import annotations

from typing import Any

from .router import ActionRouter
from .signature import qualname

__all__ = ["routes_table"]


def _type_name(tp: Any) -> str:
    if tp is None:
        return "-"
    return tp.__qualname__ if isinstance(tp, type) else repr(tp).replace("typing.", "")


def routes_table(router: ActionRouter) -> str:
    """The route table as aligned text columns."""
    header = ("TYPE", "MODE", "PAYLOAD", "HANDLER", "GUARDS", "TIMEOUT", "DESCRIPTION")
    rows = [header]
    for route in router.routes():
        shown = route.type
        if route.pattern is not None and not route.type.endswith("*"):
            shown = f"/{route.type}/"
        guards = ", ".join(getattr(g, "__name__", "?") for g in route.guards) or "-"
        timeout = f"{route.timeout:g}s" if route.timeout is not None else "-"
        rows.append(
            (
                shown,
                route.mode,
                _type_name(route.payload_type),
                qualname(route.handler),
                guards,
                timeout,
                route.description or "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in rows
    ]
    lines.append(f"{len(rows) - 1} route(s)")
    return "\n".join(lines) + "\n"
