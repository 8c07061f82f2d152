"""Seed 001's handover note, filled from a conversation that moves to another agent.

Seed 001 (如何和同事无缝交接):
某某买家，淘宝（或QQ）买家，因为什么，要求什么，请同事做什么，怎么做，谢谢。
The server knows who the buyer is, on which platform, what they last asked, their latest order
and what is still pending (an unanswered round, a process deadline running), so the agent taking
over reads the note instead of scrolling back. Pure: the caller passes the time.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import NamedTuple

from server.core.nudgebook import NudgeBook
from server.core.nudges import OrderStatus
from server.core.penalties.desk import Desk
from server.core.penalties.ledger import PLATFORM_NAMES
from server.core.tracker import Tracker

ORDER_STATES: dict[str, str] = {
    OrderStatus.CREATED: "未付款",
    OrderStatus.PAID: "已付款未发货",
    OrderStatus.SHIPPED: "已发货",
    OrderStatus.CLOSED: "已关闭",
}
# What each process deadline asks the colleague to do (server.core.deadlines kinds).
PENDING_DEADLINES = {
    "order_confirm": "核对订单信息",
    "refund": "处理退款或售后",
    "wait_promise": "回复已让稍等的买家",
    "unshipped": "跟进发货",
}
ASKED_MAX = 40  # characters of the buyer's last line quoted in the note
# Buyers' last lines kept for notes; past this the least recently asked are forgotten (a note
# then says no words, not a wrong ones).
MAX_ASKED = 20_000
CONVERSATION_DEADLINES = ("refund", "wait_promise", "order_confirm")


@dataclass(frozen=True, slots=True)
class Handover:
    """The facts of a conversation at the moment it moves."""

    buyer: str
    platform: str
    asked: str | None  # the buyer's last line, if known
    order: str | None
    order_status: OrderStatus | None
    waiting_s: float | None  # the open round's wait so far
    deadlines: tuple[tuple[str, float], ...]  # (kind, seconds left) of deadlines running


def pending(facts: Handover) -> list[str]:
    """What the colleague is asked to do, most urgent first."""
    todo = []
    if facts.waiting_s is not None:
        todo.append(f"回复买家（已等待 {_minutes(facts.waiting_s)}）")
    for kind, left_s in sorted(facts.deadlines, key=lambda pair: pair[1]):
        todo.append(f"{PENDING_DEADLINES[kind]}（还剩 {_minutes(left_s)}）")
    if facts.order_status == OrderStatus.CREATED:
        todo.append("跟进付款")
    return todo


def note(facts: Handover) -> str:
    """买家小鹿，淘宝买家，因为「我拍错了，想退款」，订单 o1（已付款未发货），请同事…，谢谢。"""
    text = f"{facts.buyer}买家，{PLATFORM_NAMES.get(facts.platform, facts.platform)}买家"
    if facts.asked:
        asked = facts.asked.strip()
        text += f"，因为「{asked[:ASKED_MAX]}{'…' if len(asked) > ASKED_MAX else ''}」"
    if facts.order is not None:
        text += f"，订单 {facts.order}（{ORDER_STATES.get(facts.order_status or '', '状态未知')}）"
    todo = pending(facts)
    text += f"，请同事{'，'.join(todo) if todo else '继续跟进'}，谢谢。"
    return text


def _minutes(seconds: float) -> str:
    minutes = int(max(0.0, seconds) // 60)
    if minutes >= 120:
        return f"{minutes // 60} 小时"
    return f"{minutes} 分钟" if minutes else "不到 1 分钟"


class HandedOver(NamedTuple):
    """A line from ``agent``'s console took the conversation over from ``from_agent``: the note
    and what is pending, for ``agent``'s panel (a ``handover`` frame)."""

    shop: str
    agent: str
    conversation: str
    buyer: str
    from_agent: str
    note: str
    pending: list[str]


class Handovers:
    """Each conversation's last buyer line, kept for its note; the note when it moves."""

    def __init__(self, tracker: Tracker, nudges: NudgeBook, desk: Desk) -> None:
        self.tracker = tracker
        self.nudges = nudges
        self.desk = desk
        self.asked: OrderedDict[tuple[str, str], str] = OrderedDict()

    def buyer_line(self, shop: str, conversation: str, text: str) -> None:
        key = (shop, conversation)
        self.asked[key] = text[: ASKED_MAX + 1]  # enough to tell that it was cut
        self.asked.move_to_end(key)
        if len(self.asked) > MAX_ASKED:
            self.asked.popitem(last=False)

    def moved(self, shop: str, conversation: str, from_agent: str, now: float) -> HandedOver | None:
        """The conversation was ``from_agent``'s and is its current holder's now."""
        conv = self.tracker.conversations.find(shop, conversation)
        if conv is None:
            return None
        order = self.nudges.latest_order(shop, conversation)
        clocks = self.desk.book(shop).clocks.open
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
        return HandedOver(
            shop, conv.agent, conversation, conv.buyer, from_agent, note(facts), pending(facts)
        )
