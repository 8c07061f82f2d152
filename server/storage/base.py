"""The storage interface every backend implements, and the records it keeps.

Writes return an awaitable but are *queued when called*, in call order: the hot path may fire and
forget a clock update, while an order is acknowledged only after awaiting its commit. Backends
translate their own failures into :class:`server.errors.StoreError` at this edge.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable
from dataclasses import dataclass

from server.core.kpi import KpiDay
from server.core.tracker import Conversation


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A final check that found violations, or a line sent anyway after one (an override)."""

    ts: float
    shop: str
    agent: str
    conversation: str | None
    kind: str  # "check" | "override"
    rules: tuple[str, ...]
    categories: tuple[str, ...]
    severity: str  # the worst severity found: "block" | "warn"
    text: str  # already masked: no phone numbers, ids or addresses


class Store(abc.ABC):
    """What the server keeps across restarts."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and migrate the schema to the current version."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush queued writes and release the backend."""

    # conversations and their open rounds

    @abc.abstractmethod
    def save_conversation(self, conv: Conversation) -> Awaitable[None]:
        """Upsert a conversation; the record is copied at call time."""

    @abc.abstractmethod
    async def load_conversations(self) -> list[Conversation]:
        """Every conversation with an open round or a pending follow-up."""

    # KPIs

    @abc.abstractmethod
    def save_kpi(self, kpi: KpiDay) -> Awaitable[None]:
        """Upsert one agent's day; the record is copied at call time."""

    @abc.abstractmethod
    async def load_kpis(self, shop: str | None, date: str) -> list[KpiDay]:
        """Every agent's day on ``date`` (all shops when ``shop`` is None)."""

    # audit trail

    @abc.abstractmethod
    def add_audit(self, record: AuditRecord) -> Awaitable[None]:
        """Append one audit record."""

    @abc.abstractmethod
    async def list_audit(self, shop: str, since: float, until: float) -> list[AuditRecord]:
        """A shop's audit records with ``since <= ts < until``, oldest first."""

    # phrase usage

    @abc.abstractmethod
    def add_usage(self, shop: str, phrase: str) -> Awaitable[None]:
        """Count one use of a suggested phrase by a shop."""

    @abc.abstractmethod
    async def load_usage(self) -> dict[str, dict[str, int]]:
        """Use counts as ``{shop: {phrase: count}}``."""


class Done:
    """An awaitable that is already complete: what a write returns when it took effect at once."""

    __slots__ = ()

    def __await__(self):  # type: ignore[no-untyped-def]
        return iter(())


DONE = Done()
