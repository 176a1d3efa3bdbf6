"""Pattern routes matched in registration order, without trying every pattern.

The rule stays the one ``ActionRouter.lookup`` documents: the first pattern in
registration order that matches the whole type wins. Trying each in turn makes
a lookup grow with the table (bench/README.md, section 5). Trailing wildcards (``"cart.*"``), the
common kind, are plain prefixes: they are kept in a dict by prefix, and a type
is looked up once per distinct prefix length. Only regular expressions
registered before the best wildcard candidate are still tried one by one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .._action.match import wildcard_source

if TYPE_CHECKING:
    from .route import Route

__all__ = ["PatternTable"]


class PatternTable:
    """The pattern routes of a compiled table, in registration order."""

    __slots__ = ("_lengths", "_prefixes", "_regexes", "routes")

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = routes
        self._prefixes: dict[str, tuple[int, Route]] = {}
        self._regexes: list[tuple[int, Route]] = []
        for index, route in enumerate(routes):
            prefix = _wildcard_prefix(route)
            if prefix is None:
                self._regexes.append((index, route))
            else:
                self._prefixes.setdefault(prefix, (index, route))
        self._lengths = sorted({len(prefix) for prefix in self._prefixes})

    def __bool__(self) -> bool:
        return bool(self.routes)

    def match(self, action_type: str) -> tuple[Route, Mapping[str, str]] | None:
        """The first route (in registration order) whose pattern matches, and its named groups."""
        best: tuple[int, Route] | None = None
        size = len(action_type)
        for length in self._lengths:
            if length >= size:  # a wildcard matches one character or more after its prefix
                break
            found = self._prefixes.get(action_type[:length])
            if found is not None and (best is None or found[0] < best[0]):
                best = found
        for index, route in self._regexes:
            if best is not None and index > best[0]:
                break
            assert route.pattern is not None
            matched = route.pattern.fullmatch(action_type)
            if matched is not None:
                return route, matched.groupdict()
        if best is None:
            return None
        route = best[1]
        assert route.pattern is not None
        if route.pattern.fullmatch(action_type) is not None:
            return route, {}
        # A wildcard's "." stops at a line break: such a type gets the plain scan.
        return self._scan(action_type)

    def _scan(self, action_type: str) -> tuple[Route, Mapping[str, str]] | None:
        for route in self.routes:
            assert route.pattern is not None
            matched = route.pattern.fullmatch(action_type)
            if matched is not None:
                return route, matched.groupdict()
        return None


def _wildcard_prefix(route: Route) -> str | None:
    """``"cart."`` for a ``"cart.*"`` route; ``None`` for a regular expression."""
    pattern = route.pattern
    if pattern is None or not route.type.endswith("*") or pattern.pattern != wildcard_source(route.type):
        return None
    return route.type[:-1]
