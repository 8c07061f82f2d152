"""The core of the shops one process holds: each event in, its effects out.

One call per event a session or the clock brings: a buyer line, an agent line, an order the store
committed, an agent coming online, active or offline, a phrase used, the time passing. Each
returns the effects (typed values) that the runtime renders (server/protocol.py), sends and writes
behind. The parts answer one another here (a round abandoned is a wait in the ledger; the nudge
book asks who holds a conversation), so nothing calls back into the runtime. The suggestions and
the check of a sent line are passed in as functions: their budgets are the runtime's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from server.core import nudgebook, tracker
from server.core.aftersales import Complaints, order_state
from server.core.checker import Violation
from server.core.handover import HandedOver, Handovers
from server.core.learn import PhraseMatcher, ShopLearning
from server.core.nudgebook import NudgeBook
from server.core.nudges import OrderEvent
from server.core.overrides import Overrides
from server.core.penalties.desk import Desk, DeskEffect
from server.core.shopfacts import facts_for
from server.core.suggest import SuggestContext, Suggestion
from server.core.tracker import Abandoned, Conversation, Tracker
from server.core.world import ShopWorld


class Line(NamedTuple):
    """A chat line as a session reports it, at the time it is taken to have happened."""

    shop: str
    conversation: str
    buyer: str
    platform: str
    agent: str  # the agent whose console saw it
    ts: float
    text: str


class Suggested(NamedTuple):
    """The phrases suggested for a buyer line (a ``suggestions`` frame to the asking session)."""

    conversation: str
    found: list[Suggestion]


class Overridden(NamedTuple):
    """A sent line equal to a draft a final check flagged shortly before: for the audit trail."""

    conversation: str
    draft: str
    violations: list[Violation]


Effect = (
    tracker.TimerChanged
    | tracker.KpiChanged
    | tracker.SaveConversation
    | tracker.SaveKpi
    | nudgebook.SaveNudges
    | nudgebook.Deliver
    | DeskEffect
    | Suggested
    | Overridden
    | HandedOver
)
Suggest = Callable[[str, SuggestContext], list[Suggestion]]
Check = Callable[[str], list[Violation]]


class Floor:
    def __init__(
        self,
        tracker: Tracker,
        nudges: NudgeBook,
        desk: Desk,
        shop_facts: Mapping[str, Mapping[str, str]],
        matcher: Callable[[], PhraseMatcher | None],
        online: Callable[[str], Iterable[str]],
        clock: Callable[[], float],
    ) -> None:
        self.tracker, self.nudges, self.desk = tracker, nudges, desk
        self.shop_facts = shop_facts  # fill the library's fact placeholders (shipping time, …)
        self.clock = clock
        self.complaints = Complaints()
        self.overrides = Overrides()  # the last flagged final check per agent and conversation
        self.handovers = Handovers(tracker, nudges, desk)
        # each shop's examples (buyer words -> phrase), grown from used suggestions and replies
        self.learning = ShopLearning(matcher)
        self.usage: dict[str, dict[str, int]] = {}  # shop -> phrase -> times used
        self.world = ShopWorld(tracker, self.complaints, online, clock)

    # --- chat lines -------------------------------------------------------------------------

    def buyer_line(
        self, line: Line, first: bool, not_before: float | None, suggest: Suggest
    ) -> list[Effect]:
        """A buyer line: its round's clock, the deadlines it opens, what it tells the
        after-sales state and the learning, the suggestions for it, and a handover note when
        it came through another agent's console."""
        shop, conversation, text = line.shop, line.conversation, line.text
        moved_from = self._moved_from(line, self.tracker.conversations.find(shop, conversation))
        effects = self._tracked(
            self.tracker.buyer_message(
                shop, conversation, line.buyer, line.platform, line.agent, line.ts, not_before
            )
        )
        effects += self.desk.buyer_line(shop, conversation, line.agent, text, line.ts)
        self.handovers.buyer_line(shop, conversation, text)
        self.complaints.buyer_line(shop, conversation, text, line.ts)
        self.learning.buyer_line(shop, conversation, text)
        effects.append(Suggested(conversation, suggest(text, self._suggest_context(line, first))))
        return self._handed_over(line, moved_from, effects)

    def agent_line(self, line: Line, auto: bool, check: Check) -> list[Effect]:
        """An agent line: it ends the round unless ``auto``; a human line is judged by the
        shop's rules (the flagged draft it overrode, else ``check`` of the line as sent)."""
        shop, conversation, text = line.shop, line.conversation, line.text
        conv = self.tracker.conversations.find(shop, conversation)
        moved_from = self._moved_from(line, conv)
        started = conv.round_started_at if conv is not None else None  # the round it ends
        effects = self._tracked(
            self.tracker.agent_message(
                shop, conversation, line.buyer, line.platform, line.agent, line.ts, text, auto
            )
        )
        if not auto:
            self.nudges.conversation_answered(shop, conversation, line.ts)
            overridden = self.overrides.sent((shop, line.agent, conversation), text, line.ts)
            if overridden is not None:
                effects.append(Overridden(conversation, text.strip(), overridden))
            violations = overridden if overridden is not None else check(text)
            effects += self.desk.agent_line(
                shop,
                line.agent,
                line.platform,
                conversation,
                text,
                line.ts,
                started,
                tuple((v.rule, v.category) for v in violations),
                overridden is not None,
            )
            self.learning.agent_reply(shop, conversation, text)
        return self._handed_over(line, moved_from, effects)

    def flagged(self, shop: str, agent: str, conversation: str, draft: str, found: list[Violation]):
        """A final check flagged ``draft``: sending it soon after is an override."""
        self.overrides.flag((shop, agent, conversation), self.clock(), draft, found)

    def phrase_used(self, shop: str, conversation: str, phrase: str) -> None:
        counts = self.usage.setdefault(shop, {})
        counts[phrase] = counts.get(phrase, 0) + 1
        self.learning.phrase_used(shop, conversation, phrase)

    @staticmethod
    def _moved_from(line: Line, conv: Conversation | None) -> str | None:
        """Who held the conversation, when the line came through another agent's console."""
        return conv.agent if conv is not None and conv.agent != line.agent else None

    def _handed_over(
        self, line: Line, moved_from: str | None, effects: list[Effect]
    ) -> list[Effect]:
        if moved_from is not None:
            handed = self.handovers.moved(line.shop, line.conversation, moved_from, line.ts)
            if handed is not None:
                effects.append(handed)
        return effects

    def _suggest_context(self, line: Line, first: bool) -> SuggestContext:
        shop, conversation = line.shop, line.conversation
        order = self.nudges.latest_order(shop, conversation)
        fill = facts_for(self.shop_facts, shop)
        fill.update(agent=line.agent, shop=shop, buyer=line.buyer)
        if order is not None:
            fill["order"] = order.order
            if order.amount:
                fill["amount"] = order.amount
        after_sales = self.complaints.open(shop, conversation, self.clock())
        return SuggestContext(
            platform=line.platform,
            first_message=first,
            order_state=order_state(after_sales, order),
            usage=self.usage.get(shop, {}),
            fill=fill,
            examples=self.learning.books.get(shop),
        )

    # --- orders and presence ----------------------------------------------------------------

    def order_taken(self, event: OrderEvent, ts: float) -> list[Effect]:
        """An order event the store committed (its nudges were planned with it)."""
        return list(self.desk.order(event.shop, event.order, event.conversation, event.status, ts))

    def agent_online(self, shop: str, agent: str, now: float) -> list[Effect]:
        """A session of ``agent`` attached: nudges waiting for an agent of the shop go to it."""
        effects: list[Effect] = list(self.nudges.agent_connected(shop, agent, now, self.world))
        return effects + self.desk.online(shop, agent, now)

    def agent_active(self, shop: str, agent: str, now: float) -> list[Effect]:
        return list(self.desk.active(shop, agent, now))

    def agent_offline(self, shop: str, agent: str, now: float) -> list[Effect]:
        return list(self.desk.offline(shop, agent, now))

    # --- time -------------------------------------------------------------------------------

    def next_wake(self) -> float | None:
        """The earliest time :meth:`advance` has work (asked after every line: no generator)."""
        best = self.tracker.next_wake()
        for wake in (self.nudges.next_wake(), self.desk.next_wake()):
            if wake is not None and (best is None or wake < best):
                best = wake
        return best

    def advance(self, now: float) -> list[Effect]:
        """Everything due by ``now``: clock thresholds, nudges, deadlines, idle alerts."""
        effects = self._tracked(self.tracker.advance(now))
        effects += self.nudges.advance(now, self.world)
        effects += self.desk.advance(now)
        return effects

    def _tracked(self, changes: list[tracker.Effect]) -> list[Effect]:
        """The tracker's effects, a round abandoned unanswered turned into its wait's fine."""
        effects: list[Effect] = []
        for change in changes:
            if isinstance(change, Abandoned):
                effects += self.desk.abandoned(
                    change.shop, change.agent, change.round_started_at, change.at
                )
            else:
                effects.append(change)
        return effects

    # --- memory -----------------------------------------------------------------------------

    def sweep(self, now: float) -> None:
        """Forget complaints, flagged drafts and KPI days too old to matter (no map only grows)."""
        self.complaints.sweep(now)
        self.overrides.sweep(now)
        self.tracker.forget_days_before(self.tracker.days.date_of(now - 86400.0))
        self.desk.sweep(now)

    def forget(self, shop: str) -> None:
        """The shop moved to another process (cluster)."""
        self.tracker.forget(shop)
        self.nudges.forget(shop)
        self.desk.forget(shop)
