"""Matching: exact types, namespaces, explicit patterns, router trees, routes()."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import anyio
import msgspec
import pytest
from routing_support import call, event_types

from chatkit_handlers import ActionContext, ActionRouter, on_action
from chatkit_handlers.errors import RegistrationError


class Add(msgspec.Struct):
    sku: str
    qty: int = 1


def make_cart() -> ActionRouter:
    cart = ActionRouter(prefix="cart.")

    @cart.on_action("add", streaming=False, description="Put an item in the cart")
    async def add(payload: Add) -> None:
        return None

    @cart.on_action("clear")
    async def clear(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        """Empty the cart.

        More text that is not the summary.
        """
        yield ctx.progress("cleared")

    return cart


def test_plain_strings_are_exact_even_with_regex_characters() -> None:
    router = ActionRouter()

    @router.on_action("cart.item[0]", streaming=False)
    async def odd() -> None: ...

    @router.on_action("a.b", streaming=False)
    async def dotted() -> None: ...

    assert router.lookup("cart.item[0]") is not None
    assert router.lookup("cart.item0") is None
    assert router.lookup("a.b") is not None
    assert router.lookup("aXb") is None  # '.' is not "any character"
    assert all(route.pattern is None for route in router.routes())


def test_star_is_a_wildcard_only_at_the_end() -> None:
    with pytest.raises(TypeError, match=r"'\*' is only a wildcard at the very end"):
        on_action("cart.*.add")
    with pytest.raises(TypeError, match="non-empty action type"):
        on_action("")


def test_prefix_namespaces_every_type_of_the_router() -> None:
    cart = make_cart()
    assert [route.type for route in cart.routes()] == ["cart.add", "cart.clear"]
    assert "cart.add" in cart
    assert "add" not in cart
    root = ActionRouter()
    root.include(cart, prefix="shop.")
    assert [route.type for route in root.routes()] == ["shop.cart.add", "shop.cart.clear"]
    route = root.lookup("shop.cart.add")
    assert route is not None
    assert route.handler.__name__ == "add"


def test_routes_describe_type_handler_mode_payload_and_description() -> None:
    routes = {route.type: route for route in make_cart().routes()}
    add, clear = routes["cart.add"], routes["cart.clear"]
    assert (add.mode, add.streaming, add.payload_type, add.pattern) == ("sync", False, Add, None)
    assert (clear.mode, clear.payload_type) == ("streaming", None)
    assert add.description == "Put an item in the cart"
    assert clear.description == "Empty the cart."  # the docstring's first paragraph
    assert add.timeout is None
    assert add.guards == ()
    assert add.middleware == ()


def test_wildcard_and_regex_patterns_with_injected_groups() -> None:
    router = ActionRouter(prefix="shop.")
    seen: list[Any] = []

    @router.on_action(re.compile(r"item\.(?P<sku>[a-z0-9-]+)\.(?P<op>add|remove)"), streaming=False)
    async def item(sku: str, op: str, ctx: ActionContext[Any]) -> None:
        seen.append((sku, op, ctx.action_type))

    @router.on_action("admin.*", streaming=False)
    async def admin(ctx: ActionContext[Any]) -> None:
        seen.append(ctx.action_type)

    route = router.lookup("shop.item.tea-1.remove")
    assert route is not None
    assert route.type == "shop.item.tea-1.remove"  # bound to the concrete type
    assert route.pattern is not None
    assert router.lookup("shop.item.tea-1.eat") is None
    assert router.lookup("shop.item.TEA.add") is None
    assert router.lookup("shop.admin.") is None  # the wildcard needs at least one character
    assert router.lookup("shop.admin.purge") is not None
    # The table keeps the patterns as registered.
    assert [r.type for r in router.routes()] == [
        r"shop.item\.(?P<sku>[a-z0-9-]+)\.(?P<op>add|remove)",
        "shop.admin.*",
    ]

    async def run() -> None:
        assert (await call(router, "shop.item.tea-1.add"))[0] == 200
        assert (await call(router, "shop.admin.purge"))[0] == 200

    anyio.run(run)
    assert seen == [("tea-1", "add", "shop.item.tea-1.add"), "shop.admin.purge"]


def test_regex_alternation_stays_under_the_prefix() -> None:
    router = ActionRouter(prefix="a.")

    @router.on_action(re.compile("x|y"), streaming=False)
    async def either() -> None: ...

    assert router.lookup("a.x") is not None
    assert router.lookup("a.y") is not None
    assert router.lookup("y") is None


def test_exact_types_win_then_patterns_in_registration_order() -> None:
    router = ActionRouter()

    @router.on_action("cart.*", streaming=False)
    async def first() -> None: ...

    @router.on_action(re.compile(r"cart\..+"), streaming=False)
    async def second() -> None: ...

    @router.on_action("cart.add", streaming=False)
    async def exact() -> None: ...

    assert router.lookup("cart.add").handler is exact  # type: ignore[union-attr]
    assert router.lookup("cart.remove").handler is first  # type: ignore[union-attr]


def test_unknown_group_name_is_not_injectable() -> None:
    router = ActionRouter()
    with pytest.raises(RegistrationError, match="cannot inject parameter 'sku'"):

        @router.on_action(re.compile(r"item\.(?P<id>\d+)"), streaming=False)
        async def item(sku: str) -> None: ...


def test_included_router_stays_live() -> None:
    cart = make_cart()
    root = ActionRouter()
    root.include(cart)
    assert len(root) == 2

    @cart.on_action("pay", streaming=False)
    async def pay() -> None: ...

    assert root.lookup("cart.pay") is not None
    assert len(root) == 3


def test_duplicates_across_the_tree_and_between_patterns() -> None:
    root = ActionRouter()

    @root.on_action("cart.add", streaming=False)
    async def add_here() -> None: ...

    with pytest.raises(RegistrationError, match=r"'cart.add' has two handlers: .*add_here and .*add\b"):
        root.include(make_cart())
    assert len(root) == 1  # the failed include left nothing behind
    patterns = ActionRouter()

    @patterns.on_action("x.*", streaming=False)
    async def one() -> None: ...

    with pytest.raises(RegistrationError, match=r"'x\.\*' has two handlers: .*one and .*two"):

        @patterns.on_action("x.*", streaming=False)
        async def two() -> None: ...


def test_cycles_and_double_inclusion_are_errors() -> None:
    a, b, c = ActionRouter(), ActionRouter(), ActionRouter()
    a.include(b)
    b.include(c)
    with pytest.raises(RegistrationError, match="cycle"):
        c.include(a)
    with pytest.raises(RegistrationError, match="cannot include itself"):
        a.include(a)
    with pytest.raises(RegistrationError, match="already included in this router"):
        a.include(b)
    other = ActionRouter()
    with pytest.raises(
        RegistrationError, match=r"already included in ActionRouter.*a router can be included once"
    ):
        other.include(c)


def test_include_a_function_with_a_prefix() -> None:
    @on_action("ping", streaming=False)
    async def ping() -> None: ...

    router = ActionRouter()
    router.include(ping, prefix="tools.")
    assert [route.type for route in router.routes()] == ["tools.ping"]


def test_prefix_must_be_plain() -> None:
    with pytest.raises(TypeError, match="plain string"):
        ActionRouter(prefix="cart.*")
    with pytest.raises(TypeError, match="plain string"):
        ActionRouter().include(ActionRouter(), prefix="x*")


@pytest.mark.anyio
async def test_unknown_type_suggests_registered_ones() -> None:
    router = ActionRouter()
    router.include(make_cart(), prefix="shop.")
    status, answer = await call(router, "shop.cart.ad", streaming=False)
    assert status == 404
    assert "did you mean 'shop.cart.add'" in answer["message"]
    status, events = await call(router, "shop.cart.clear")
    assert status == 200
    assert event_types(events) == ["stream_options", "progress_update"]
