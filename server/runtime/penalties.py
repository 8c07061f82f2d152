"""The shop's own rules on the live server, the runtime's side of the core's
:class:`~server.core.penalties.desk.Desk`: its effects pushed to the panels (a deadline as it
opens, is met or missed: ``deadline``; an agent's month as it changes: ``penalties``), told to the
live views, and written behind like clock state (server/runtime/penaltysaves.py, which says what
survives a restart); and the open deadlines an agent's ``state`` frame lists. Presence (the idle
watch) is not kept: agents reconnect after a restart.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from server import protocol
from server.core.deadlines import Clock
from server.core.penalties.desk import DeadlineChanged, Desk, DeskEffect, LedgerChanged
from server.core.penalties.rules import DEADLINE_RULES
from server.runtime.penaltysaves import PenaltySaves
from server.runtime.registry import Registry
from server.settings import Config
from server.storage import Store


class PenaltyDesk:
    def __init__(
        self,
        config: Config,
        desk: Desk,
        registry: Registry,
        store: Store,
        notify: Callable[[str, Any], None],
    ) -> None:
        self.config = config
        self.desk = desk
        self.registry = registry
        self.notify = notify  # live views are told ("penalties", shop) and ("idle", shop)
        self.saves = PenaltySaves(store, desk.books)

    def apply(self, effect: DeskEffect) -> None:
        if isinstance(effect, DeadlineChanged):
            if effect.agent:
                frame = self._frame(effect.clock, effect.state, effect.at)
                self.registry.push(effect.shop, effect.agent, frame)
        elif isinstance(effect, LedgerChanged):
            shop = effect.shop
            self.saves.mark(shop, effect.items, effect.clocks)
            if effect.items:
                ledger = self.desk.books[shop].ledger
                for agent in effect.agents:
                    row = ledger.row(effect.month, agent)
                    self.registry.push(shop, agent, protocol.penalties(row, effect.month))
                self.notify("penalties", shop)
        else:
            self.notify("idle", effect.shop)

    def open_deadlines(self, shop: str, agent: str, limit: int) -> list[dict[str, Any]]:
        """The open deadlines ``agent`` holds, the earliest due first (the ``state`` frame's)."""
        book = self.desk.books.get(shop)
        if book is None or not book.clocks.open:
            return []
        desk = self.desk
        mine = (clock for clock in book.clocks.open.values() if desk.holder(shop, clock) == agent)
        chosen = heapq.nsmallest(limit, mine, key=lambda clock: clock.due_at)
        return [self._frame(clock, "open", clock.started_at) for clock in chosen]

    def month_row(self, shop: str, agent: str, month: str) -> dict[str, Any]:
        """An agent's month so far: ``{"month", "agent", "yuan", "points", "items", "next",
        "text"}`` (the ``state`` frame's ``penalties``)."""
        return {"month": month, **self.desk.book(shop).ledger.row(month, agent)}

    def _frame(self, clock: Clock, state: str, at: float) -> dict[str, Any]:
        rule = DEADLINE_RULES.get(clock.kind)
        yuan = getattr(self.config.penalties, rule).yuan if rule else 0
        return protocol.deadline(clock, state, at, yuan)

    # --- the store --------------------------------------------------------------------------

    def flush(self) -> None:
        """Queue the writes of every ledger item and deadline clock changed since the last."""
        self.saves.flush()

    async def load(self, shop: str | None, now: float) -> None:
        """Take back what the store kept (``shop``; None: every shop), and arm its wake-ups."""
        await self.saves.load(shop, self.desk.month_of(now), self.desk.book)
        for name in [shop] if shop is not None else list(self.desk.books):
            for effect in self.desk.rearm(name):
                self.apply(effect)
