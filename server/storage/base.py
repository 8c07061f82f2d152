"""The storage interface every backend implements, and the records it keeps.

Writes return an awaitable but are *queued when called*, in call order: the hot path may fire and
forget a clock update, while an order is acknowledged only after awaiting its commit. Backends
translate their own failures into :class:`server.errors.StoreError` at this edge.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Generator, Sequence
from dataclasses import dataclass

from server.core.deadlines import Clock
from server.core.kpi import KpiDay
from server.core.nudgebook import Nudge
from server.core.nudges import FiredNudge, Order
from server.core.tracker import Conversation


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A final check that found violations, or a line sent anyway after one (an override)."""

    ts: float
    shop: str
    agent: str
    conversation: str | None  # masked like the text (ids may hold a phone number)
    kind: str  # "check" | "override"
    rules: tuple[str, ...]
    categories: tuple[str, ...]
    severity: str  # the worst severity found: "block" | "warn"
    text: str  # masked by server.core.mask: no phone, ID or card numbers, addresses


@dataclass(frozen=True, slots=True)
class LedgerItem:
    """One rule's count, fines and points for one agent and month (server.core.penalties)."""

    shop: str
    month: str  # YYYY-MM in the shop's time zone
    agent: str
    rule: str
    count: int
    yuan: int
    points: int


class Store(abc.ABC):
    """What the server keeps across restarts."""

    @property
    def problem(self) -> str | None:
        """Why the store refuses every operation (shown on ``/healthz``), or None while it works."""
        return None

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and migrate the schema to the current version."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush queued writes and release the backend."""

    # conversations and their open rounds

    @abc.abstractmethod
    def save_conversations(self, convs: Sequence[Conversation]) -> Awaitable[None]:
        """Upsert conversations in one write; the records are copied at call time."""

    def save_conversation(self, conv: Conversation) -> Awaitable[None]:
        return self.save_conversations((conv,))

    @abc.abstractmethod
    async def load_conversations(self, shop: str | None = None) -> list[Conversation]:
        """Every conversation with an open round or a pending follow-up (of ``shop`` if given)."""

    @abc.abstractmethod
    async def load_conversation(self, shop: str, conversation: str) -> Conversation | None:
        """One conversation as last saved, whatever its state (it left memory), or None."""

    # KPIs

    @abc.abstractmethod
    def save_kpis(self, kpis: Sequence[KpiDay]) -> Awaitable[None]:
        """Upsert agents' days in one write; the records are copied at call time."""

    def save_kpi(self, kpi: KpiDay) -> Awaitable[None]:
        return self.save_kpis((kpi,))

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

    # the penalties ledger and open process deadlines (written behind, like clock state)

    @abc.abstractmethod
    def save_ledger(self, items: Sequence[LedgerItem]) -> Awaitable[None]:
        """Upsert ledger items (each replaces the stored item of its shop, month, agent, rule)."""

    @abc.abstractmethod
    async def load_ledger(self, shop: str | None, month: str) -> list[LedgerItem]:
        """The items of one month (of ``shop`` if given), by shop, agent, rule."""

    @abc.abstractmethod
    def save_deadlines(
        self, shop: str, opened: Sequence[Clock], closed: Sequence[tuple[str, str]]
    ) -> Awaitable[None]:
        """Upsert open deadline clocks and delete closed ones (by ``(kind, key)``) of a shop."""

    @abc.abstractmethod
    async def load_deadlines(self, shop: str | None = None) -> list[tuple[str, Clock]]:
        """Every open deadline clock as ``(shop, clock)`` (of ``shop`` if given)."""

    # orders and nudges (durable: await the write before acknowledging)

    @abc.abstractmethod
    def save_nudges(self, nudges: Sequence[Nudge], order: Order | None) -> Awaitable[None]:
        """Upsert an order and some of its nudges in one transaction; copied at call time."""

    @abc.abstractmethod
    def claim_delivery(self, nudge: Nudge) -> Awaitable[bool]:
        """Store a nudge's delivery unless another process already fired it.

        The write happens only if the stored nudge has not fired yet, or fired at this same
        ``fired_at`` (a reassignment or redelivery of one firing). False means another
        process fired it first (two owners for a moment): the caller must not push it.
        """

    @abc.abstractmethod
    async def load_orders(self, open_at: float, shop: str | None = None) -> list[Order]:
        """Every order that has not auto-closed by ``open_at`` (so repeats stay idempotent)."""

    @abc.abstractmethod
    async def load_order(self, shop: str, order: str) -> Order | None:
        """One order, closed or not, or None if it was never stored: an event for an order past
        its close window is compared with it, so an old ``created`` never reopens it."""

    @abc.abstractmethod
    async def load_open_nudges(self, shop: str | None = None) -> list[Nudge]:
        """Every nudge that is not done (of ``shop`` if given)."""

    @abc.abstractmethod
    async def load_nudge_history(
        self, shop: str, since: float
    ) -> tuple[list[Order], list[FiredNudge]]:
        """A shop's orders with a nudge fired since ``since``, and those first firings."""


class Done:
    """An awaitable that is already complete: what a write returns when it took effect at once."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        yield from ()


WRITTEN = Done()
