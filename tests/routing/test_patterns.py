"""Pattern lookup through the prefix index answers exactly what trying every pattern in order would.

``PatternTable`` keeps trailing wildcards in a dict by prefix (bench/growth.py has
the timings); these tests pin that it never changes which route wins: the first
pattern in registration order matching the whole type, with its named groups.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from chatkit_handlers import ActionRouter, on_action

TYPES = [
    re.compile(r"cart\.(?P<sku>[a-z0-9]+)\.add"),
    "cart.*",
    "cart.item.*",
    "c*",
    re.compile(r"(?s)multi\..+"),  # DOTALL: matches across a line break, unlike a wildcard
    "multi.*",
    "shop.admin.*",
    re.compile(r"shop\.(?P<area>[a-z]+)\..+"),
    "shop.*",
    "x.*",
]


def scan(router: ActionRouter, action_type: str) -> tuple[str, dict[str, str]] | None:
    """The reference rule: try every pattern in registration order."""
    for route in router.routes():
        if route.pattern is not None:
            matched = route.pattern.fullmatch(action_type)
            if matched is not None:
                return route.type, matched.groupdict()
    return None


def build(order: list[Any]) -> ActionRouter:
    router = ActionRouter()
    for i, kind in enumerate(order):

        async def handler(ctx: Any) -> None:
            return None

        handler.__qualname__ = f"h{i}"
        router.add(on_action(kind, streaming=False)(handler))
    return router


def looked_up(router: ActionRouter, action_type: str) -> tuple[str, dict[str, str]] | None:
    route = router.lookup(action_type)
    if route is None:
        return None
    matcher = next(r for r in router.routes() if r.handler is route.handler)
    return matcher.type, dict(route.groups or {})


SAMPLES = [
    "cart.abc.add",
    "cart.item.1",
    "cart.x",
    "cart.",
    "c",
    "ca",
    "multi.a\nb",
    "multi.ab",
    "shop.admin.users",
    "shop.admin.",
    "shop.orders.list",
    "shop.x",
    "x.\n",
    "x.y",
    "zzz",
    "",
]


@pytest.mark.parametrize("seed", range(40))
def test_same_route_and_groups_as_trying_every_pattern_in_order(seed: int) -> None:
    order = TYPES[:]
    random.Random(seed).shuffle(order)
    router = build(order)
    for action_type in SAMPLES:
        assert looked_up(router, action_type) == scan(router, action_type), (order, action_type)


def test_many_wildcards_with_a_regex_registered_first() -> None:
    router = build([re.compile(r"bench\.p00500\.(?P<verb>go)"), *(f"bench.p{i:05d}.*" for i in range(1000))])
    assert looked_up(router, "bench.p00500.go") == (r"bench\.p00500\.(?P<verb>go)", {"verb": "go"})
    assert looked_up(router, "bench.p00500.stop") == ("bench.p00500.*", {})
    assert looked_up(router, "bench.p00999.x") == ("bench.p00999.*", {})
    assert looked_up(router, "bench.q00001.x") is None
