"""Seed 001's handover note, filled from a conversation that moves to another agent.

Seed 001 (如何和同事无缝交接):
某某买家，淘宝（或QQ）买家，因为什么，要求什么，请同事做什么，怎么做，谢谢。
The server knows who the buyer is, on which platform, what they last asked, their latest order
and what is still pending (an unanswered round, a process deadline running), so the agent taking
over reads the note instead of scrolling back. Pure: the caller passes the facts and the time.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.core.nudges import OrderStatus
from server.core.penalties.ledger import PLATFORM_NAMES

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
