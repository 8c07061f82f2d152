"""What the penalty desk tells an agent's panel: its deadlines as they open, are met or missed
(``deadline``), and its month in the ledger as it changes (``penalties``); and the same deadlines
listed for a ``state`` frame. A conversation's deadline goes to whoever holds it now."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

from server import protocol
from server.core.deadlines import Clock
from server.core.penalties import Ledger, ShopBook
from server.core.penalties.rules import DEADLINE_RULES
from server.core.tracker import Tracker
from server.runtime.registry import Registry
from server.settings import Config


class PenaltyPushes:
    def __init__(self, config: Config, tracker: Tracker, registry: Registry) -> None:
        self.config = config
        self.tracker = tracker
        self.registry = registry

    def deadline(self, shop: str, clock: Clock, state: str, at: float) -> None:
        agent = self.holder(shop, clock)
        if agent:
            self.registry.push(shop, agent, self._frame(clock, state, at))

    def months(self, shop: str, ledger: Ledger, month: str, agents: Iterable[str]) -> None:
        """The ledger rows of ``month`` changed for ``agents``."""
        for agent in agents:
            self.registry.push(shop, agent, protocol.penalties(ledger.row(month, agent), month))

    def open_deadlines(
        self, shop: str, book: ShopBook | None, agent: str, limit: int
    ) -> list[dict[str, Any]]:
        """The open deadlines ``agent`` holds, the earliest due first (the ``state`` frame's)."""
        if book is None or not book.clocks.open:
            return []
        mine = (clock for clock in book.clocks.open.values() if self.holder(shop, clock) == agent)
        chosen = heapq.nsmallest(limit, mine, key=lambda clock: clock.due_at)
        return [self._frame(clock, "open", clock.started_at) for clock in chosen]

    def holder(self, shop: str, clock: Clock) -> str:
        """Who answers for a deadline: its conversation's holder now, else who it started with."""
        return self.deadline_holder(shop, clock.kind, clock.key) or clock.agent

    def deadline_holder(self, shop: str, kind: str, key: str) -> str | None:
        """The agent holding a deadline's conversation (``unshipped``: its key is an order)."""
        return None if kind == "unshipped" else self.conversation_holder(shop, key)

    def conversation_holder(self, shop: str, conversation: str) -> str | None:
        conv = self.tracker.conversations.find(shop, conversation)
        return conv.agent if conv is not None else None

    def _frame(self, clock: Clock, state: str, at: float) -> dict[str, Any]:
        rule = DEADLINE_RULES.get(clock.kind)
        yuan = getattr(self.config.penalties, rule).yuan if rule else 0
        return protocol.deadline(clock, state, at, yuan)
