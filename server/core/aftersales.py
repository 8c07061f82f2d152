"""After-sales state of a conversation: complaints heard, and the order state suggestions see.

A buyer complaining opens an after-sales round for a day (issue 6): no payment reminders for
them, and suggestions are ranked as for a refund. Pure: every call takes the time it is about.
"""

from __future__ import annotations

from server.core.nudges import Order, OrderStatus

# Words that open an after-sales round when a buyer line contains one of them.
COMPLAINT_WORDS = ("投诉", "差评", "退款", "破损", "坏了", "质量问题", "维权", "假货")
AFTER_SALES_OPEN_S = 86400.0

# The order state the suggester ranks by, for an order's status (a closed order has none).
ORDER_STATES: dict[OrderStatus, str | None] = {
    OrderStatus.CREATED: "unpaid",
    OrderStatus.PAID: "paid",
    OrderStatus.SHIPPED: "shipped",
    OrderStatus.CLOSED: None,
}


class Complaints:
    """When each (shop, conversation) last complained, kept while the round is open."""

    def __init__(self) -> None:
        self.since: dict[tuple[str, str], float] = {}

    def buyer_line(self, shop: str, conversation: str, text: str, ts: float) -> None:
        if any(word in text for word in COMPLAINT_WORDS):
            self.since[(shop, conversation)] = ts

    def open(self, shop: str, conversation: str | None, now: float) -> bool:
        since = self.since.get((shop, conversation or ""))
        return since is not None and now - since < AFTER_SALES_OPEN_S

    def sweep(self, now: float) -> None:
        """Forget rounds that closed, so the map does not only grow."""
        self.since = {
            key: since for key, since in self.since.items() if now - since < AFTER_SALES_OPEN_S
        }


def order_state(after_sales_open: bool, order: Order | None) -> str | None:
    """What the suggester is told about the conversation's order: a complaint wins."""
    if after_sales_open:
        return "refunding"
    return ORDER_STATES[order.status] if order is not None else None
