"""The unpaid orders one dashboard page lists, kept in step at O(changes) a poll, never
O(orders): the whole list was 6.3 MB at 20,000 orders, so it is sent once, in the snapshot."""

from __future__ import annotations

import heapq
from typing import Any

from server import protocol
from server.core.nudges import Order
from server.runtime.shopview import ShopView


class ShownOrders:
    """What the page lists: the orders shown, when each auto-closes, and those changed since."""

    def __init__(self, view: ShopView, shop: str) -> None:
        self.view = view
        self.shop = shop
        self.shown: set[str] = set()
        self.closing: list[tuple[float, str]] = []  # (auto-close time, order): a heap
        self.changed: set[str] = set()  # orders changed since the last poll

    def all(self, now: float) -> list[dict[str, Any]]:
        """Every unpaid order, for a snapshot: what the page lists from now on."""
        self.shown.clear()
        self.closing.clear()
        self.changed.clear()
        return [self.show(order) for order in self.view.unpaid_orders(self.shop, now)]

    def changes(self, now: float) -> tuple[list[dict[str, Any]], list[str]]:
        """The unpaid orders that changed since the last poll, and the shown ones no longer
        unpaid (paid, closed, or past their auto-close)."""
        changed: list[dict[str, Any]] = []
        gone: set[str] = set()
        for number in sorted(self.changed):
            order = self.view.unpaid_order(self.shop, number, now)
            if order is not None:
                changed.append(self.show(order))
            elif number in self.shown:
                gone.add(number)
        self.changed.clear()
        while self.closing and self.closing[0][0] <= now:
            gone.add(heapq.heappop(self.closing)[1])
        removed = sorted(number for number in gone if number in self.shown)
        self.shown.difference_update(removed)
        return changed, removed

    def show(self, order: Order) -> dict[str, Any]:
        """An unpaid order as the page lists it, remembered as shown until it leaves."""
        if order.order not in self.shown:
            self.shown.add(order.order)
            heapq.heappush(self.closing, (order.closes_at, order.order))
        return protocol.order_item(order, self.view.order_nudges(self.shop, order.order))
