"""The in-memory store: everything the SQLite store does, kept in dicts, for tests."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Awaitable

from server.core.kpi import KpiDay
from server.core.tracker import Conversation
from server.storage.base import DONE, AuditRecord, Store


class MemoryStore(Store):
    def __init__(self) -> None:
        self.conversations: dict[tuple[str, str], Conversation] = {}
        self.kpis: dict[tuple[str, str, str], KpiDay] = {}
        self.audit: list[AuditRecord] = []
        self.usage: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def save_conversation(self, conv: Conversation) -> Awaitable[None]:
        self.conversations[conv.key] = dataclasses.replace(conv, deadline=None)
        return DONE

    async def load_conversations(self) -> list[Conversation]:
        return [
            dataclasses.replace(conv)
            for conv in self.conversations.values()
            if conv.round_started_at is not None or conv.asked_at is not None
        ]

    def save_kpi(self, kpi: KpiDay) -> Awaitable[None]:
        self.kpis[kpi.key] = dataclasses.replace(kpi)
        return DONE

    async def load_kpis(self, shop: str | None, date: str) -> list[KpiDay]:
        return [
            dataclasses.replace(kpi)
            for kpi in self.kpis.values()
            if kpi.date == date and shop in (None, kpi.shop)
        ]

    def add_audit(self, record: AuditRecord) -> Awaitable[None]:
        self.audit.append(record)
        return DONE

    async def list_audit(self, shop: str, since: float, until: float) -> list[AuditRecord]:
        return sorted(
            (r for r in self.audit if r.shop == shop and since <= r.ts < until),
            key=lambda r: r.ts,
        )

    def add_usage(self, shop: str, phrase: str) -> Awaitable[None]:
        self.usage[shop][phrase] += 1
        return DONE

    async def load_usage(self) -> dict[str, dict[str, int]]:
        return {shop: dict(counts) for shop, counts in self.usage.items()}
