"""The shop's own rules at work on the live server: one :class:`ShopBook` per shop, fed the same
calls ``kefu qa`` makes (docs/penalties.md, "Events"), its wake-ups joined to the service's.
What each call changed is pushed to the panels (server/runtime/penaltypush.py) and written behind
like clock state (server/runtime/penaltysaves.py, which says what survives a restart). Presence
(the idle watch) is not kept: agents reconnect after a restart.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from server.core.checker import Violation
from server.core.deadlines import Clock, IdleAlert
from server.core.nudges import OrderStatus
from server.core.penalties import ShopBook
from server.core.penalties.book import Change
from server.core.tracker import Tracker
from server.errors import CheckUnavailable
from server.runtime.assist import Assist
from server.runtime.penaltypush import PenaltyPushes
from server.runtime.penaltysaves import PenaltySaves, previous_month
from server.runtime.registry import Peer, Registry
from server.settings import Config
from server.storage import Store


class PenaltyDesk:
    def __init__(
        self,
        config: Config,
        tracker: Tracker,
        registry: Registry,
        assist: Assist,
        store: Store,
        clock: Callable[[], float],
        notify: Callable[[str, Any], None],
    ) -> None:
        self.config = config
        self.tracker = tracker
        self.assist = assist  # checks a sent line no final check flagged
        self.clock = clock
        self.notify = notify  # live views are told ("penalties", shop) and ("idle", shop)
        self.zone = ZoneInfo(config.timezone)
        self.books: dict[str, ShopBook] = {}
        self.alerts: dict[tuple[str, str], IdleAlert] = {}  # (shop, agent): idle right now
        self._wakes: list[tuple[float, str]] = []  # (when, shop); lazy deletion
        self._armed: dict[str, float] = {}  # shop -> its current entry in _wakes
        self.pushes = PenaltyPushes(config, tracker, registry)
        self.saves = PenaltySaves(store, self.books)

    def book(self, shop: str) -> ShopBook:
        book = self.books.get(shop)
        if book is None:
            config = self.config
            book = ShopBook(
                config.penalties, config.deadlines, config.timezone, config.idle_alert_s
            )
            self.books[shop] = book
        return book

    def month_of(self, now: float) -> str:
        return datetime.fromtimestamp(now, self.zone).strftime("%Y-%m")

    # --- chat lines -------------------------------------------------------------------------

    def buyer_line(self, shop: str, conversation: str, agent: str, text: str, ts: float) -> None:
        book = self.book(shop)
        book.idle.waiting(agent, self.tracker.waiting_count(shop, agent), ts)
        self._after(shop, book.buyer_line(conversation, agent, text, ts))

    def agent_line(
        self,
        session: Peer,
        message: dict[str, Any],
        ts: float,
        started: float | None,
        overridden: list[Violation] | None,
    ) -> None:
        """A human line reached the buyer: the wait it ends (``started``, the round's start read
        before the tracker saw it) and its verdict: the flagged check it overrode, else the line
        checked as sent, as ``kefu qa`` checks every line (a draft fixed after its check is not
        what was sent, so it never counts)."""
        shop, agent = session.shop, session.agent
        if overridden is not None:
            violations = overridden
        else:
            try:
                context = self.assist.check_context(shop, session.platform, message)
                violations = self.assist.check(message["text"], context)
            except CheckUnavailable:
                violations = []  # logged by the checker; the wait counts all the same
        book = self.book(shop)
        book.agent_active(agent, ts)
        self._idle_ended(shop, agent)
        changes = book.agent_line(
            message["conversation"],
            agent,
            message["text"],
            ts,
            platform=session.platform,
            round_started_at=started,
            violations=tuple((v.rule, v.category) for v in violations),
            outcome="sent" if overridden is None else "overridden",
        )
        book.idle.waiting(agent, self.tracker.waiting_count(shop, agent), ts)
        self._after(shop, changes)

    def abandoned(self, shop: str, agent: str, round_started_at: float, at: float) -> None:
        book = self.book(shop)
        book.unanswered(agent, round_started_at, at)
        self._after(shop, [])

    # --- orders -----------------------------------------------------------------------------

    def order(
        self, shop: str, order: str, conversation: str | None, status: OrderStatus, ts: float
    ) -> None:
        """An order event the store committed: created starts ``order_confirm`` for the agent
        holding the buyer's conversation (none holds it: nobody to confirm it), paid starts
        ``unshipped``, shipped ends it."""
        book = self.book(shop)
        holder = None
        if conversation is not None:
            holder = self.pushes.conversation_holder(shop, conversation)
        changes: list[Change] = []
        if status is OrderStatus.CREATED and conversation is not None and holder is not None:
            changes = book.order_created(conversation, holder, ts)
        elif status is OrderStatus.PAID:
            changes = book.order_paid(order, holder or "", ts)
        elif status is OrderStatus.SHIPPED:
            changes = book.order_shipped(order, ts)
        self._after(shop, changes)

    # --- presence ---------------------------------------------------------------------------

    def online(self, shop: str, agent: str, ts: float) -> None:
        book = self.book(shop)
        book.idle.online(agent, ts)
        book.idle.waiting(agent, self.tracker.waiting_count(shop, agent), ts)
        self._after(shop, [])

    def active(self, shop: str, agent: str, ts: float) -> None:
        book = self.book(shop)
        book.agent_active(agent, ts)
        self._idle_ended(shop, agent)
        self._after(shop, [])

    def offline(self, shop: str, agent: str, ts: float) -> None:
        book = self.book(shop)
        book.agent_offline(agent, ts)
        self._idle_ended(shop, agent)
        self._after(shop, [])

    def _idle_ended(self, shop: str, agent: str) -> None:
        if self.alerts.pop((shop, agent), None) is not None:
            self.notify("idle", shop)

    # --- time -------------------------------------------------------------------------------

    def next_wake(self) -> float | None:
        wakes, armed = self._wakes, self._armed
        while wakes and armed.get(wakes[0][1]) != wakes[0][0]:
            heapq.heappop(wakes)
        return wakes[0][0] if wakes else None

    def advance(self, now: float) -> None:
        while (wake := self.next_wake()) is not None and wake <= now:
            _, shop = heapq.heappop(self._wakes)
            del self._armed[shop]
            book = self.books[shop]
            for agent in book.idle.agents:  # the waiting counts as they are now
                book.idle.waiting(agent, self.tracker.waiting_count(shop, agent), now)
            missed, alerts = book.advance(now, partial(self.pushes.deadline_holder, shop))
            for outcome in missed:
                self.pushes.deadline(shop, outcome.clock, "missed", outcome.at)
            for alert in alerts:
                self.alerts[(shop, alert.agent)] = alert
            if alerts:
                self.notify("idle", shop)
            self._after(shop, [])

    def _after(self, shop: str, changes: list[Change]) -> None:
        """Push what a call changed, mark it for the store, and re-arm the shop's wake-up."""
        book = self.books[shop]
        for change in changes:
            if isinstance(change, Clock):
                self.pushes.deadline(shop, change, "open", change.started_at)
            else:
                state = "met" if change.met else "missed"
                self.pushes.deadline(shop, change.clock, state, change.at)
        ledger, clocks = book.ledger, book.clocks
        items, changed_clocks = set(ledger.changed), set(clocks.changed)
        ledger.changed.clear()
        clocks.changed.clear()
        self.saves.mark(shop, items, changed_clocks)
        if items:
            month = self.month_of(self.clock())
            self.pushes.months(shop, ledger, month, {agent for m, agent, _ in items if m == month})
            self.notify("penalties", shop)
        wake = book.next_wake()
        if wake is not None:
            # Just past the due time: a deadline met exactly on time is met (inclusive).
            wake = math.nextafter(wake, math.inf)
            if self._armed.get(shop, math.inf) > wake:
                self._armed[shop] = wake
                heapq.heappush(self._wakes, (wake, shop))

    # --- frames and reports -----------------------------------------------------------------

    def open_deadlines(self, shop: str, agent: str, limit: int) -> list[dict[str, Any]]:
        """The open deadlines ``agent`` holds, the earliest due first (the ``state`` frame's)."""
        return self.pushes.open_deadlines(shop, self.books.get(shop), agent, limit)

    def month_row(self, shop: str, agent: str, month: str) -> dict[str, Any]:
        """An agent's month so far: ``{"month", "agent", "yuan", "points", "items", "next",
        "text"}`` (the ``state`` frame's ``penalties``)."""
        return {"month": month, **self.book(shop).ledger.row(month, agent)}

    # --- the store --------------------------------------------------------------------------

    def flush(self) -> None:
        """Queue the writes of every ledger item and deadline clock changed since the last."""
        self.saves.flush()

    async def load(self, shop: str | None, now: float) -> None:
        """Take back what the store kept (``shop``; None: every shop), and arm its wake-ups."""
        await self.saves.load(shop, self.month_of(now), self.book)
        for name in [shop] if shop is not None else list(self.books):
            if name in self.books:
                self._after(name, [])

    def sweep(self, now: float) -> None:
        """Keep this month and the last in memory; older months are read from the store."""
        keep = previous_month(self.month_of(now))
        for book in self.books.values():
            book.ledger.forget_months_before(keep)

    def forget(self, shop: str) -> None:
        """The shop moved to another process (cluster): its book is that process's now."""
        self.flush()
        self.books.pop(shop, None)
        self._armed.pop(shop, None)
        for key in [key for key in self.alerts if key[0] == shop]:
            del self.alerts[key]
