"""Every widget the examples draw: each server action in it reaches a handler of its app (``check_widget``)."""

from __future__ import annotations

from typing import Any

import pytest

from chatkit_handlers import ActionRouter


def counter() -> tuple[ActionRouter, list[Any]]:
    from examples.counter.app import router
    from examples.counter.widgets import counter_card

    return router, [counter_card(0), counter_card(41)]


def cart() -> tuple[ActionRouter, list[Any]]:
    from examples.cart.app import router
    from examples.cart.widgets import approval_card, cart_card, order_card

    return router, [
        cart_card({}),
        cart_card({"tea": 2}),
        order_card("ord_1", {"tea": 1}, "pending"),
        approval_card("ord_1", 1200),
        approval_card("ord_1", 1200, "approved"),
    ]


def form() -> tuple[ActionRouter, list[Any]]:
    from examples.form.app import router
    from examples.form.widgets import booking_confirmed, booking_form

    return router, [
        booking_form(),
        booking_form({"name": "Ada"}, {"guests": "too many"}),
        booking_confirmed("Ada", 2, "2026-12-24"),
    ]


def jobs() -> tuple[ActionRouter, list[Any]]:
    from examples.jobs.app import router
    from examples.jobs.widgets import job_card

    return router, [job_card(status, 2, 5) for status in ("idle", "running", "stopped", "done")]


def shop() -> tuple[ActionRouter, list[Any]]:
    from examples.shop.app import create_app
    from examples.shop.widgets import cart_card

    app = create_app()
    plugin = app.plugins.init[0]
    return plugin.dispatcher.router, [cart_card({}), cart_card({"tea": 1})]  # type: ignore[attr-defined]


def bridge() -> tuple[ActionRouter, list[Any]]:
    from examples.bridge.app import router
    from examples.bridge.widgets import poll_card

    return router, [poll_card("Lunch?"), poll_card("Lunch?", 2, 1, closed=True)]


@pytest.mark.parametrize("example", [counter, cart, form, jobs, shop, bridge])
def test_every_example_widget_reaches_its_handlers(example: Any) -> None:
    router, widgets = example()
    for widget in widgets:
        assert router.check_widget(widget) == [], widget
