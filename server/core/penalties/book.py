"""One shop's rulebook at work: the ledger, the deadline clocks and the idle watch, fed by the
events the runtime and ``kefu qa`` both see (a chat line, an order, agent presence).

Both paths call these methods in time order, so a live server and a replayed export count the
same fines from the same lines. Nothing here reads a clock: every call carries its time, and
:meth:`ShopBook.next_wake` says when :meth:`ShopBook.advance` is next due.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

from server.core.deadlines import (
    Clock,
    Deadlines,
    IdleAlert,
    IdleWatch,
    Outcome,
    asks_refund,
    confirms_order,
    promises_wait,
)
from server.core.penalties.ledger import Idle, Ledger, Missed, Verdict, Wait
from server.core.penalties.rules import PenaltyRules

# Who is fined for a missed deadline: (kind, key) -> agent, or None for whoever started it.
Holder = Callable[[str, str], str | None]
# What a call did to the deadline clocks, for the runtime to push: a clock started, or one
# ended (met, or a late done).
Change = Clock | Outcome
# A line's first characters are what it asks or promises; a pasted page (25,000 characters cost
# ~0.4 ms of the event loop in these patterns) is not read whole, live or in kefu qa alike.
READ_CHARS = 500


class ShopBook:
    def __init__(
        self,
        rules: PenaltyRules,
        deadlines: Mapping[str, float],
        timezone: str,
        idle_after_s: float,
    ) -> None:
        self.ledger = Ledger(rules, timezone)
        self.clocks = Deadlines(deadlines)
        self.idle = IdleWatch(idle_after_s)

    # --- chat lines -----------------------------------------------------------------------

    def buyer_line(self, conversation: str, agent: str, text: str, ts: float) -> list[Change]:
        """A buyer message; a refund or after-sales request starts its 30-minute clock."""
        if asks_refund(text[:READ_CHARS]):
            return _started(self.clocks.start("refund", conversation, agent, ts))
        return []

    def agent_line(
        self,
        conversation: str,
        agent: str,
        text: str,
        ts: float,
        *,
        platform: str,
        round_started_at: float | None,
        violations: tuple[tuple[str, str], ...],
        outcome: Literal["sent", "overridden"] = "sent",
    ) -> list[Change]:
        """A human agent line that reached the buyer (never an auto-reply).

        ``round_started_at``: the open round it answers (the tracker's, read before the tracker
        sees this line), or None. ``violations``: (rule id, category) of its final check.
        """
        if round_started_at is not None:
            self.ledger.record(Wait(agent, round_started_at, max(0.0, ts - round_started_at)))
        text = text[:READ_CHARS]
        changes: list[Change] = []
        if self.clocks.open:
            kinds = ("wait_promise", "refund", "order_confirm")  # any human reply answers two
            for kind in kinds if confirms_order(text) else kinds[:2]:
                if (ended := self.clocks.done(kind, conversation, ts)) is not None:
                    changes.append(ended)
        if promises_wait(text):
            changes += _started(self.clocks.start("wait_promise", conversation, agent, ts))
        if violations:
            self.ledger.record(Verdict(agent, ts, platform, violations, outcome))
        return changes

    def unanswered(self, agent: str, round_started_at: float, ts: float) -> None:
        """A round given up unanswered at ``ts`` (expired live; open at an export's end)."""
        self.ledger.record(Wait(agent, round_started_at, max(0.0, ts - round_started_at)))

    # --- orders ---------------------------------------------------------------------------

    def order_created(self, conversation: str, agent: str, ts: float) -> list[Change]:
        """A new order: its details must be confirmed with the buyer within 10 minutes."""
        return _started(self.clocks.start("order_confirm", conversation, agent, ts))

    def order_paid(self, order: str, agent: str, ts: float) -> list[Change]:
        return _started(self.clocks.start("unshipped", order, agent, ts))

    def order_shipped(self, order: str, ts: float) -> list[Change]:
        ended = self.clocks.done("unshipped", order, ts)
        return [] if ended is None else [ended]

    # --- presence -------------------------------------------------------------------------

    def agent_active(self, agent: str, ts: float) -> None:
        """Anything the agent did (a line, a check, a click); ends an alerted idle span."""
        span = self.idle.active(agent, ts)
        if span is not None:
            self.ledger.record(Idle(agent, ts, span))

    def agent_offline(self, agent: str, ts: float) -> None:
        span = self.idle.offline(agent, ts)
        if span is not None:
            self.ledger.record(Idle(agent, ts, span))

    # --- time -----------------------------------------------------------------------------

    def advance(
        self, now: float, holder: Holder | None = None
    ) -> tuple[list[Outcome], list[IdleAlert]]:
        """Deadlines due before ``now`` are missed (and fined); idle alerts due by ``now``."""
        # Called before every line of an export: return at once when nothing can be due.
        if not self.clocks.open and not self.idle.agents:
            return [], []
        missed = self.clocks.advance(now)
        for outcome in missed:
            clock = outcome.clock
            agent = (holder(clock.kind, clock.key) if holder is not None else None) or clock.agent
            self.ledger.record(Missed(agent, outcome.at, clock.kind))
        return missed, self.idle.advance(now)

    def next_wake(self) -> float | None:
        """The next deadline's due time or idle alert, whichever comes first."""
        wakes = [w for w in (self.clocks.next_wake(), self.idle.next_wake()) if w is not None]
        return min(wakes, default=None)


def _started(clock: Clock | None) -> list[Change]:
    return [] if clock is None else [clock]
