"""The shop example: ``litestar --app examples.cart.app:app run``.

A demo thread ``thr_shop`` holds a cart widget ``wid_cart``. Who is signed in
comes from the ``x-user`` and ``x-role`` headers: a stand-in for your real
authentication (never trust such headers in production; derive the user from
your session or token, e.g. ``context=lambda request: request.user``).
"""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request

from chatkit_handlers import ActionRouter
from examples._demo import demo_app
from examples.cart import handlers
from examples.cart.handlers import User
from examples.cart.widgets import cart_card

DEMO_THREAD = "thr_shop"
DEMO_ITEM = "wid_cart"

router = ActionRouter(context_type=User)
router.include(handlers)


def current_user(request: Request[Any, Any, Any]) -> User:
    """The request's user (demo: from headers)."""
    role: Literal["customer", "manager"] = (
        "manager" if request.headers.get("x-role") == "manager" else "customer"
    )
    return User(id=request.headers.get("x-user", "guest"), role=role)


app = demo_app(router, thread=(DEMO_THREAD, "Shop"), item=(DEMO_ITEM, cart_card({})), context=current_user)
