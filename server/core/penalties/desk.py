"""The shop's own rules for every shop a process holds: one :class:`ShopBook` per shop, fed the
calls ``kefu qa`` makes (docs/penalties.md, "Events"), each returning what it changed as effects
(a deadline opened, met or missed; a ledger row or an idle alert changed) for the runtime to push
and write behind. A conversation's deadline answers to whoever holds the conversation now.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import NamedTuple
from zoneinfo import ZoneInfo

from server.core.deadlines import Clock, IdleAlert
from server.core.nudges import OrderStatus
from server.core.penalties.book import Change, ShopBook
from server.core.penalties.rules import PenaltyRules
from server.core.tracker import Tracker


class DeadlineChanged(NamedTuple):
    """A process deadline ``state`` ("open", "met", "missed") at ``at``, for ``agent``'s panel
    (a ``deadline`` frame); ``agent`` is empty when nobody holds it."""

    shop: str
    agent: str
    clock: Clock
    state: str
    at: float


class LedgerChanged(NamedTuple):
    """Ledger items (month, agent, rule) and deadline clocks (kind, key) changed: the store
    writes them behind; ``agents`` are those whose row of the current ``month`` changed."""

    shop: str
    items: frozenset[tuple[str, str, str]]
    clocks: frozenset[tuple[str, str]]
    month: str
    agents: frozenset[str]


class IdleChanged(NamedTuple):
    """The shop's idle alerts changed (one fired, or an alerted agent came back)."""

    shop: str


DeskEffect = DeadlineChanged | LedgerChanged | IdleChanged


class Desk:
    def __init__(
        self,
        rules: PenaltyRules,
        deadlines: Mapping[str, float],
        timezone: str,
        idle_alert_s: float,
        tracker: Tracker,
        clock: Callable[[], float],
    ) -> None:
        self.rules, self.deadlines, self.idle_alert_s = rules, deadlines, idle_alert_s
        self.timezone = timezone
        self.tracker = tracker  # who holds a conversation, how many rounds an agent has open
        self.clock = clock  # the month a change is pushed for is the month it is now
        self.zone = ZoneInfo(timezone)
        self.books: dict[str, ShopBook] = {}
        self.alerts: dict[tuple[str, str], IdleAlert] = {}  # (shop, agent): idle right now
        self._wakes: list[tuple[float, str]] = []  # (when, shop); lazy deletion
        self._armed: dict[str, float] = {}  # shop -> its current entry in _wakes

    def book(self, shop: str) -> ShopBook:
        book = self.books.get(shop)
        if book is None:
            book = ShopBook(self.rules, self.deadlines, self.timezone, self.idle_alert_s)
            self.books[shop] = book
        return book

    def month_of(self, now: float) -> str:
        return datetime.fromtimestamp(now, self.zone).strftime("%Y-%m")

    def holder(self, shop: str, clock: Clock) -> str:
        """Who answers for a deadline: its conversation's holder now, else who it started with."""
        return self.deadline_holder(shop, clock.kind, clock.key) or clock.agent

    def deadline_holder(self, shop: str, kind: str, key: str) -> str | None:
        """The agent holding a deadline's conversation (``unshipped``: its key is an order)."""
        return None if kind == "unshipped" else self.conversation_holder(shop, key)

    def conversation_holder(self, shop: str, conversation: str) -> str | None:
        conv = self.tracker.conversations.find(shop, conversation)
        return conv.agent if conv is not None else None

    # --- chat lines -------------------------------------------------------------------------

    def buyer_line(
        self, shop: str, conversation: str, agent: str, text: str, ts: float
    ) -> list[DeskEffect]:
        book = self.book(shop)
        book.idle.waiting(agent, self.tracker.waiting_count(shop, agent), ts)
        return self._after(shop, book.buyer_line(conversation, agent, text, ts))

    def agent_line(
        self,
        shop: str,
        agent: str,
        platform: str,
        conversation: str,
        text: str,
        ts: float,
        started: float | None,
        violations: tuple[tuple[str, str], ...],
        overridden: bool,
    ) -> list[DeskEffect]:
        """A human line reached the buyer: the wait it ends (``started``, the round's start read
        before the tracker saw it) and its verdict, (rule, category) pairs: the flagged check it
        overrode, else the line checked as sent, as ``kefu qa`` checks every line."""
        book = self.book(shop)
        book.agent_active(agent, ts)
        effects = self._idle_ended(shop, agent)
        changes = book.agent_line(
            conversation,
            agent,
            text,
            ts,
            platform=platform,
            round_started_at=started,
            violations=violations,
            outcome="overridden" if overridden else "sent",
        )
        book.idle.waiting(agent, self.tracker.waiting_count(shop, agent), ts)
        return effects + self._after(shop, changes)

    def abandoned(
        self, shop: str, agent: str, round_started_at: float, at: float
    ) -> list[DeskEffect]:
        self.book(shop).unanswered(agent, round_started_at, at)
        return self._after(shop, [])

    # --- orders -----------------------------------------------------------------------------

    def order(
        self, shop: str, order: str, conversation: str | None, status: OrderStatus, ts: float
    ) -> list[DeskEffect]:
        """An order event the store committed: created starts ``order_confirm`` for the agent
        holding the buyer's conversation (none holds it: nobody to confirm it), paid starts
        ``unshipped``, shipped ends it."""
        book = self.book(shop)
        holder = None
        if conversation is not None:
            holder = self.conversation_holder(shop, conversation)
        changes: list[Change] = []
        if status is OrderStatus.CREATED and conversation is not None and holder is not None:
            changes = book.order_created(conversation, holder, ts)
        elif status is OrderStatus.PAID:
            changes = book.order_paid(order, holder or "", ts)
        elif status is OrderStatus.SHIPPED:
            changes = book.order_shipped(order, ts)
        return self._after(shop, changes)

    # --- presence ---------------------------------------------------------------------------

    def online(self, shop: str, agent: str, ts: float) -> list[DeskEffect]:
        book = self.book(shop)
        book.idle.online(agent, ts)
        book.idle.waiting(agent, self.tracker.waiting_count(shop, agent), ts)
        return self._after(shop, [])

    def active(self, shop: str, agent: str, ts: float) -> list[DeskEffect]:
        self.book(shop).agent_active(agent, ts)
        return self._idle_ended(shop, agent) + self._after(shop, [])

    def offline(self, shop: str, agent: str, ts: float) -> list[DeskEffect]:
        self.book(shop).agent_offline(agent, ts)
        return self._idle_ended(shop, agent) + self._after(shop, [])

    def _idle_ended(self, shop: str, agent: str) -> list[DeskEffect]:
        return [IdleChanged(shop)] if self.alerts.pop((shop, agent), None) is not None else []

    # --- time -------------------------------------------------------------------------------

    def next_wake(self) -> float | None:
        wakes, armed = self._wakes, self._armed
        while wakes and armed.get(wakes[0][1]) != wakes[0][0]:
            heapq.heappop(wakes)
        return wakes[0][0] if wakes else None

    def advance(self, now: float) -> list[DeskEffect]:
        effects: list[DeskEffect] = []
        while (wake := self.next_wake()) is not None and wake <= now:
            _, shop = heapq.heappop(self._wakes)
            del self._armed[shop]
            book = self.books[shop]
            for agent in book.idle.agents:  # the waiting counts as they are now
                book.idle.waiting(agent, self.tracker.waiting_count(shop, agent), now)
            missed, alerts = book.advance(now, partial(self.deadline_holder, shop))
            for outcome in missed:
                clock = outcome.clock
                effects.append(
                    DeadlineChanged(shop, self.holder(shop, clock), clock, "missed", outcome.at)
                )
            for alert in alerts:
                self.alerts[(shop, alert.agent)] = alert
            if alerts:
                effects.append(IdleChanged(shop))
            effects += self._after(shop, [])
        return effects

    def rearm(self, shop: str) -> list[DeskEffect]:
        """After the store gave a shop's book back: its wake-up armed, nothing to push."""
        return self._after(shop, []) if shop in self.books else []

    def _after(self, shop: str, changes: list[Change]) -> list[DeskEffect]:
        """What a call changed, as effects; and the shop's wake-up re-armed."""
        effects: list[DeskEffect] = []
        for change in changes:
            if isinstance(change, Clock):
                state, at, clock = "open", change.started_at, change
            else:
                state, at, clock = ("met" if change.met else "missed"), change.at, change.clock
            effects.append(DeadlineChanged(shop, self.holder(shop, clock), clock, state, at))
        book = self.books[shop]
        ledger, clocks = book.ledger, book.clocks
        if ledger.changed or clocks.changed:
            month = self.month_of(self.clock())
            items = frozenset(ledger.changed)
            agents = frozenset(agent for m, agent, _ in items if m == month)
            effects.append(LedgerChanged(shop, items, frozenset(clocks.changed), month, agents))
            ledger.changed.clear()
            clocks.changed.clear()
        wake = book.next_wake()
        if wake is not None:
            # Just past the due time: a deadline met exactly on time is met (inclusive).
            wake = math.nextafter(wake, math.inf)
            if self._armed.get(shop, math.inf) > wake:
                self._armed[shop] = wake
                heapq.heappush(self._wakes, (wake, shop))
        return effects

    # --- memory -----------------------------------------------------------------------------

    def sweep(self, now: float) -> None:
        """Keep this month and the last in memory; older months are read from the store."""
        keep = previous_month(self.month_of(now))
        for book in self.books.values():
            book.ledger.forget_months_before(keep)

    def forget(self, shop: str) -> None:
        """The shop moved to another process (cluster): its book is that process's now."""
        self.books.pop(shop, None)
        self._armed.pop(shop, None)
        for key in [key for key in self.alerts if key[0] == shop]:
            del self.alerts[key]


def previous_month(month: str) -> str:
    """ "2026-01" -> "2025-12"."""
    year, number = int(month[:4]), int(month[5:])
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"
