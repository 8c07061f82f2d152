"""Handover notes: when a line from another agent's console takes a conversation over, that agent
is pushed seed 001's note filled from the conversation (server.core.handover)."""

from __future__ import annotations

from collections import OrderedDict

from server import protocol
from server.core.handover import ASKED_MAX, Handover, note, pending
from server.core.nudgebook import NudgeBook
from server.core.tracker import Tracker
from server.runtime.penalties import PenaltyDesk
from server.runtime.registry import Registry

# Buyers' last lines kept for notes; past this the least recently asked are forgotten (a note
# then says no words, not a wrong ones).
MAX_ASKED = 20_000
CONVERSATION_DEADLINES = ("refund", "wait_promise", "order_confirm")


class HandoverNotes:
    def __init__(
        self, tracker: Tracker, nudges: NudgeBook, penalties: PenaltyDesk, registry: Registry
    ) -> None:
        self.tracker = tracker
        self.nudges = nudges
        self.penalties = penalties
        self.registry = registry
        self.asked: OrderedDict[tuple[str, str], str] = OrderedDict()

    def buyer_line(self, shop: str, conversation: str, text: str) -> None:
        key = (shop, conversation)
        self.asked[key] = text[: ASKED_MAX + 1]  # enough to tell that it was cut
        self.asked.move_to_end(key)
        if len(self.asked) > MAX_ASKED:
            self.asked.popitem(last=False)

    def moved(self, shop: str, conversation: str, old_agent: str, now: float) -> None:
        """The conversation was ``old_agent``'s and is its current holder's now: tell the holder."""
        conv = self.tracker.conversations.find(shop, conversation)
        if conv is None:
            return
        order = self.nudges.latest_order(shop, conversation)
        clocks = self.penalties.book(shop).clocks.open
        running = [clocks.get((kind, conversation)) for kind in CONVERSATION_DEADLINES]
        if order is not None:
            running.append(clocks.get(("unshipped", order.order)))
        facts = Handover(
            buyer=conv.buyer,
            platform=conv.platform,
            asked=self.asked.get((shop, conversation)),
            order=order.order if order is not None else None,
            order_status=order.status if order is not None else None,
            waiting_s=None if conv.round_started_at is None else now - conv.round_started_at,
            deadlines=tuple((c.kind, c.due_at - now) for c in running if c is not None),
        )
        frame = protocol.handover(conversation, conv.buyer, old_agent, note(facts), pending(facts))
        self.registry.push(shop, conv.agent, frame)
