"""The in-memory store: everything the SQLite store does, kept in dicts, for tests."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Awaitable, Sequence

from server.core.deadlines import Clock
from server.core.kpi import KpiDay
from server.core.nudgebook import Nudge, NudgeState
from server.core.nudges import FiredNudge, Order
from server.core.tracker import Conversation
from server.storage.base import WRITTEN, AuditRecord, LedgerItem, Store


class MemoryStore(Store):
    def __init__(self) -> None:
        self.conversations: dict[tuple[str, str], Conversation] = {}
        self.kpis: dict[tuple[str, str, str], KpiDay] = {}
        self.audit: list[AuditRecord] = []
        self.usage: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.orders: dict[tuple[str, str], Order] = {}
        self.nudges: dict[tuple[str, str], Nudge] = {}
        self.ledger: dict[tuple[str, str, str, str], LedgerItem] = {}
        self.deadlines: dict[tuple[str, str, str], Clock] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def save_conversations(self, convs: Sequence[Conversation]) -> Awaitable[None]:
        for conv in convs:
            self.conversations[conv.key] = dataclasses.replace(conv, deadline=None)
        return WRITTEN

    async def load_conversations(self, shop: str | None = None) -> list[Conversation]:
        return [
            dataclasses.replace(conv)
            for conv in self.conversations.values()
            if (conv.round_started_at is not None or conv.asked_at is not None)
            and shop in (None, conv.shop)
        ]

    async def load_conversation(self, shop: str, conversation: str) -> Conversation | None:
        conv = self.conversations.get((shop, conversation))
        return dataclasses.replace(conv) if conv is not None else None

    def save_kpis(self, kpis: Sequence[KpiDay]) -> Awaitable[None]:
        for kpi in kpis:
            self.kpis[kpi.key] = dataclasses.replace(kpi)
        return WRITTEN

    async def load_kpis(self, shop: str | None, date: str) -> list[KpiDay]:
        return [
            dataclasses.replace(kpi)
            for kpi in self.kpis.values()
            if kpi.date == date and shop in (None, kpi.shop)
        ]

    def add_audit(self, record: AuditRecord) -> Awaitable[None]:
        self.audit.append(record)
        return WRITTEN

    async def list_audit(self, shop: str, since: float, until: float) -> list[AuditRecord]:
        return sorted(
            (r for r in self.audit if r.shop == shop and since <= r.ts < until),
            key=lambda r: r.ts,
        )

    def add_usage(self, shop: str, phrase: str) -> Awaitable[None]:
        self.usage[shop][phrase] += 1
        return WRITTEN

    async def load_usage(self) -> dict[str, dict[str, int]]:
        return {shop: dict(counts) for shop, counts in self.usage.items()}

    def save_ledger(self, items: Sequence[LedgerItem]) -> Awaitable[None]:
        for item in items:
            self.ledger[(item.shop, item.month, item.agent, item.rule)] = item
        return WRITTEN

    async def load_ledger(self, shop: str | None, month: str) -> list[LedgerItem]:
        return [
            item
            for (s, m, *_), item in sorted(self.ledger.items())
            if m == month and shop in (None, s)
        ]

    def save_deadlines(
        self, shop: str, opened: Sequence[Clock], closed: Sequence[tuple[str, str]]
    ) -> Awaitable[None]:
        for kind, key in closed:
            self.deadlines.pop((shop, kind, key), None)
        for clock in opened:
            self.deadlines[(shop, clock.kind, clock.key)] = clock
        return WRITTEN

    async def load_deadlines(self, shop: str | None = None) -> list[tuple[str, Clock]]:
        return [(key[0], clock) for key, clock in self.deadlines.items() if shop in (None, key[0])]

    def save_nudges(self, nudges: Sequence[Nudge], order: Order | None) -> Awaitable[None]:
        if order is not None:
            self.orders[(order.shop, order.order)] = order
        for nudge in nudges:
            self.nudges[nudge.key] = dataclasses.replace(nudge, wake=None)
        return WRITTEN

    def claim_delivery(self, nudge: Nudge) -> Awaitable[bool]:
        stored = self.nudges.get(nudge.key)
        if stored is not None and stored.fired_at not in (None, nudge.fired_at):
            return _answer(False)
        self.nudges[nudge.key] = dataclasses.replace(nudge, wake=None)
        return _answer(True)

    async def load_orders(self, open_at: float, shop: str | None = None) -> list[Order]:
        return [
            order
            for order in self.orders.values()
            if order.closes_at > open_at and shop in (None, order.shop)
        ]

    async def load_order(self, shop: str, order: str) -> Order | None:
        return self.orders.get((shop, order))

    async def load_open_nudges(self, shop: str | None = None) -> list[Nudge]:
        return [
            dataclasses.replace(n)
            for n in self.nudges.values()
            if n.state != NudgeState.DONE and shop in (None, n.shop)
        ]

    async def load_nudge_history(
        self, shop: str, since: float
    ) -> tuple[list[Order], list[FiredNudge]]:
        fired = [
            FiredNudge(n.shop, n.order, n.fired_at)
            for n in self.nudges.values()
            if n.shop == shop and n.fired_at is not None and n.fired_at >= since
        ]
        wanted = {f.order for f in fired}
        return [o for o in self.orders.values() if o.shop == shop and o.order in wanted], fired


async def _answer(value: bool) -> bool:
    return value
