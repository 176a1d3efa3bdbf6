"""Providers and guards: how handlers get the user and the inventory, and who may do what.

ChatKit's advice: the payload is untrusted (anyone can replay or edit a widget's
action), so validate and authorize before you persist. The payload types
validate; the guards below authorize, before any handler runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request

from .domain import ANONYMOUS, Inventory, User


def current_user(request: Request[Any, Any, Any]) -> User:
    """The caller. A real app reads ``request.user`` (set by its auth middleware);
    the demo trusts an ``x-user: name:role,role`` header."""
    raw = request.headers.get("x-user")
    if not raw:
        return ANONYMOUS
    name, _, roles = raw.partition(":")
    return User(name, frozenset(role for role in roles.split(",") if role))


def inventory(request: Request[Any, Any, Any]) -> Inventory:
    """The inventory the app keeps in its state."""
    stock: Inventory = request.app.state.inventory
    return stock


def signed_in(user: User) -> bool:
    """Refuse anonymous callers."""
    return user != ANONYMOUS


def require_role(role: str) -> Callable[[User], bool]:
    """A guard that lets through callers holding ``role``."""

    def guard(user: User) -> bool:
        return role in user.roles

    guard.__name__ = f"require_role({role!r})"
    return guard
