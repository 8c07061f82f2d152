"""What the store keeps of the penalty desk's books across a restart: the ledger's items of the
current and the previous month, and the open deadline clocks (docs/penalties.md). Changes are
marked as they happen and written behind with the clock state (``WriteBehind.also``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Set

from server.core.penalties import ShopBook
from server.core.penalties.desk import previous_month
from server.storage import LedgerItem, Store


class PenaltySaves:
    def __init__(self, store: Store, books: dict[str, ShopBook]) -> None:
        self.store = store
        self.books = books  # the desk's, by shop
        self._ledger_dirty: defaultdict[str, set[tuple[str, str, str]]] = defaultdict(set)
        self._clocks_dirty: defaultdict[str, set[tuple[str, str]]] = defaultdict(set)

    def mark(
        self, shop: str, items: Set[tuple[str, str, str]], clocks: Set[tuple[str, str]]
    ) -> None:
        """Ledger items (month, agent, rule) and deadline clocks (kind, key) changed."""
        if items:
            self._ledger_dirty[shop] |= items
        if clocks:
            self._clocks_dirty[shop] |= clocks

    def flush(self) -> None:
        """Queue the writes of every ledger item and deadline clock changed since the last."""
        for shop, items in self._ledger_dirty.items():
            ledger = self.books[shop].ledger
            rows = [(item, ledger.rows(*item)) for item in sorted(items)]
            saved = [LedgerItem(shop, *item, *row) for item, row in rows if row is not None]
            if saved:
                self.store.save_ledger(saved)
        for shop, clocks in self._clocks_dirty.items():
            open_clocks = self.books[shop].clocks.open
            opened = [open_clocks[key] for key in sorted(clocks) if key in open_clocks]
            closed = [key for key in sorted(clocks) if key not in open_clocks]
            self.store.save_deadlines(shop, opened, closed)
        self._ledger_dirty.clear()
        self._clocks_dirty.clear()

    async def load(
        self, shop: str | None, this_month: str, book: Callable[[str], ShopBook]
    ) -> None:
        """Take back what the store kept of ``shop`` (None: every shop): this month's and last
        month's items, and the open clocks, into ``book(shop)``."""
        for month in (previous_month(this_month), this_month):
            for item in await self.store.load_ledger(shop, month):
                ledger = book(item.shop).ledger
                ledger.restore(month, item.agent, item.rule, item.count, item.yuan, item.points)
        for clock_shop, clock in await self.store.load_deadlines(shop):
            book(clock_shop).clocks.restore(clock)
