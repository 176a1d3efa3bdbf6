"""The shop's own world: who is calling, what is in stock. Nothing here knows about ChatKit."""

from __future__ import annotations

import msgspec


class User(msgspec.Struct, frozen=True):
    """The caller, as the app's authentication knows them."""

    name: str
    roles: frozenset[str] = frozenset()


ANONYMOUS = User("")


class OutOfStock(Exception):
    """Raised by ``Inventory.take`` when there is not enough of an item."""

    def __init__(self, sku: str) -> None:
        super().__init__(f"{sku} is out of stock")
        self.sku = sku


class Inventory:
    """Stock levels: a resource the app creates once and keeps in ``app.state``."""

    def __init__(self, stock: dict[str, int]) -> None:
        self.stock = dict(stock)

    def take(self, sku: str, qty: int) -> None:
        """Reserve ``qty`` of ``sku``; ``OutOfStock`` if there is not enough."""
        if self.stock.get(sku, 0) < qty:
            raise OutOfStock(sku)
        self.stock[sku] -= qty

    def give_back(self, sku: str, qty: int) -> None:
        """Return ``qty`` of ``sku`` to the shelf."""
        self.stock[sku] = self.stock.get(sku, 0) + qty
