"""How an action type is matched: exactly, or by an explicit pattern.

A plain string is always an exact type, whatever characters it holds: ``"cart.add"``
and even ``"cart.item[0]"`` match only themselves. Patterns are an explicit opt-in:

* a trailing wildcard, ``"cart.*"``: every type that starts with ``"cart."``;
* a compiled regular expression, ``re.compile(r"cart\\.(?P<sku>[a-z0-9-]+)\\.add")``:
  matched against the whole type (``fullmatch``); its named groups can be
  injected into the handler by parameter name.

Exact types are looked up in a dict; patterns are tried after, in registration
order, so a request only pays for patterns when no exact type matched.
"""

from __future__ import annotations

import re

__all__ = ["TypeMatcher", "parse_type", "wildcard_source"]


class TypeMatcher:
    """What one ``@on_action(type)`` matches, with a router prefix applied.

    Attributes:
        text: the type as registered and shown (``"cart.add"``, ``"cart.*"``,
            or the regular expression's source).
        pattern: ``None`` for an exact type; otherwise the compiled expression,
            matched with ``fullmatch``.
        groups: the names of the pattern's named groups.
    """

    __slots__ = ("groups", "pattern", "text")

    def __init__(self, text: str, pattern: re.Pattern[str] | None) -> None:
        self.text = text
        self.pattern = pattern
        self.groups: frozenset[str] = frozenset(pattern.groupindex) if pattern is not None else frozenset()

    def __repr__(self) -> str:
        return f"TypeMatcher({self.text!r}{', pattern' if self.pattern is not None else ''})"

    def prefixed(self, prefix: str) -> TypeMatcher:
        """This matcher under a namespace ``prefix`` (``"cart."``)."""
        if not prefix:
            return self
        if self.pattern is None:
            return TypeMatcher(prefix + self.text, None)
        if self.text.endswith("*") and self.pattern.pattern == wildcard_source(self.text):
            text = prefix + self.text
            return TypeMatcher(text, re.compile(wildcard_source(text)))
        # Group the user's expression so that an alternation stays under the prefix.
        source = re.escape(prefix) + "(?:" + self.pattern.pattern + ")"
        return TypeMatcher(prefix + self.text, re.compile(source, self.pattern.flags))


def wildcard_source(text: str) -> str:
    return re.escape(text[:-1]) + ".+"


def parse_type(type: str | re.Pattern[str]) -> TypeMatcher:
    """The matcher for what ``@on_action`` was given; ``ValueError`` for a bad one."""
    if isinstance(type, re.Pattern):
        if not isinstance(type.pattern, str):
            raise ValueError(f"an action type pattern must be a str pattern, got {type!r}")
        return TypeMatcher(type.pattern, type)
    if not isinstance(type, str) or not type:
        raise ValueError(f"an action type must be a non-empty string or a compiled re.Pattern, got {type!r}")
    star = type.find("*")
    if star == -1:
        return TypeMatcher(type, None)
    if star != len(type) - 1:
        raise ValueError(
            f"action type {type!r}: '*' is only a wildcard at the very end ('cart.*'); for other "
            "patterns pass a compiled regular expression, re.compile(...)"
        )
    return TypeMatcher(type, re.compile(wildcard_source(type)))
