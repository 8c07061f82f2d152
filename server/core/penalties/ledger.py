"""The fines and points ledger: typed events in, per agent and month totals out.

Pure: events carry their own times, the month is read in the shop's time zone (Asia/Shanghai by
default), nothing here reads a clock. The live server and ``kefu qa`` feed it the same events
from the same tracker rounds and checker verdicts, so both count the same fines.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from server.core.penalties.rules import (
    CATEGORY_RULES,
    DEADLINE_RULES,
    EventRule,
    PenaltyRules,
)


@dataclass(frozen=True, slots=True)
class Wait:
    """A buyer's wait for a human reply: ended by one, or still open when it is counted.

    ``asked_at`` is when the wait began (the tracker's round start), so a wait counts in the
    month it began, as reply KPIs count on the day their round started.
    """

    agent: str
    asked_at: float
    wait_s: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """The checker's verdict on a draft and what became of it.

    ``sent``: sent as checked (every line of an export); ``overridden``: warned and sent anyway;
    ``fixed``: changed or withdrawn before sending, so its violations never reached the buyer.
    """

    agent: str
    at: float
    platform: str
    violations: tuple[tuple[str, str], ...]  # (rule id, category)
    outcome: Literal["sent", "overridden", "fixed"] = "sent"


@dataclass(frozen=True, slots=True)
class Missed:
    """A process deadline passed undone (server.core.deadlines); ``at`` is its due time."""

    agent: str
    at: float
    deadline: str  # order_confirm | refund | wait_promise | unshipped


@dataclass(frozen=True, slots=True)
class Idle:
    """An agent online with no activity for ``idle_s``, ended at ``at`` (server.core.deadlines)."""

    agent: str
    at: float
    idle_s: float


Event = Wait | Verdict | Missed | Idle


@dataclass(slots=True)
class Item:
    count: int = 0
    yuan: int = 0
    points: int = 0


class Ledger:
    """One shop's ledger: :meth:`record` events, :meth:`report` a month."""

    def __init__(self, rules: PenaltyRules, timezone: str) -> None:
        self.rules = rules
        self.zone = ZoneInfo(timezone)
        # The wait rules in force, shortest limit first; a wait earns the rules it is over, and
        # of a tier's steps only the highest (a reply is checked on every answer: keep it cheap).
        self._waits = sorted(
            ((name, rule) for name, rule in rules.waits() if rule.yuan > 0),
            key=lambda pair: pair[1].over_s,
        )
        self._items: dict[tuple[str, str], dict[str, Item]] = defaultdict(dict)
        # (month, agent, rule) of every item counted since the caller last cleared it: what the
        # runtime stores (write-behind) and whose month it pushes to the agent's panel.
        self.changed: set[tuple[str, str, str]] = set()

    def month_of(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self.zone).strftime("%Y-%m")

    def months(self) -> list[str]:
        return sorted({month for month, _ in self._items})

    def record(self, event: Event) -> None:
        if isinstance(event, Wait):
            self._wait(event)
        elif isinstance(event, Verdict):
            self._verdict(event)
        elif isinstance(event, Missed):
            name = DEADLINE_RULES.get(event.deadline)
            if name is not None:
                self._fine(event.agent, event.at, name, getattr(self.rules, name))
        elif event.idle_s >= self.rules.idle.at_least_s:
            self._fine(event.agent, event.at, "idle", self.rules.idle)

    def _wait(self, wait: Wait) -> None:
        if not self._waits or wait.wait_s <= self._waits[0][1].over_s:
            return
        late = [(name, rule) for name, rule in self._waits if wait.wait_s > rule.over_s]
        top = {rule.tier: rule.over_s for _, rule in late if rule.tier}  # sorted: the last wins
        for name, rule in late:
            if rule.tier and rule.over_s < top[rule.tier]:
                continue  # a higher step of the same fine applies instead
            item = self._item(wait.agent, wait.asked_at, name)
            item.count += 1
            if rule.more_than is None:
                item.yuan += rule.yuan
            elif item.count == rule.more_than + 1:
                item.yuan = rule.yuan  # once a month, when the count goes past the limit

    def _verdict(self, verdict: Verdict) -> None:
        if verdict.outcome == "fixed":
            return
        for category in dict.fromkeys(c for _, c in verdict.violations):
            if category in CATEGORY_RULES:
                self._fine(verdict.agent, verdict.at, category, getattr(self.rules, category))
        points = self.rules.points
        if verdict.platform != points.platform:
            return
        for rule, category in dict.fromkeys(verdict.violations):
            n = points.points(rule, category)
            if n:
                item = self._item(verdict.agent, verdict.at, rule)
                item.count += 1
                item.points += n

    def _fine(self, agent: str, at: float, name: str, rule: EventRule) -> None:
        if rule.yuan:
            item = self._item(agent, at, name)
            item.count += 1
            item.yuan += rule.yuan

    def _item(self, agent: str, at: float, rule: str) -> Item:
        month = self.month_of(at)
        self.changed.add((month, agent, rule))
        return self._items[(month, agent)].setdefault(rule, Item())

    def rows(self, month: str, agent: str, rule: str) -> tuple[int, int, int] | None:
        """One item as ``(count, yuan, points)``, what the store keeps of it (None: forgotten)."""
        item = self._items.get((month, agent), {}).get(rule)
        return None if item is None else (item.count, item.yuan, item.points)

    def restore(
        self, month: str, agent: str, rule: str, count: int, yuan: int, points: int
    ) -> None:
        """Put back an item as stored before a restart (not marked changed)."""
        self._items[(month, agent)][rule] = Item(count, yuan, points)

    def forget_months_before(self, month: str) -> None:
        """Drop older months from memory (the store keeps them), so the ledger does not grow."""
        for key in [key for key in self._items if key[0] < month]:
            del self._items[key]

    def report(self, month: str, agent: str | None = None) -> dict[str, Any]:
        """``{"month", "agents": [{"agent", "yuan", "points", "items", "next", "text"}], "shop"}``.

        Items are ``{"rule", "count", "yuan", "points"}``, the shop's rules first in their order,
        then points by checker rule id. ``shop`` is the whole shop's month (all agents, whatever
        ``agent`` asks for), since the platform's point limit is the shop's.
        """
        rows = []
        shop_yuan = shop_points = 0
        for (row_month, name), items in sorted(self._items.items()):
            if row_month != month:
                continue
            row = self._row(name, items)
            shop_yuan += row["yuan"]
            shop_points += row["points"]
            if agent is None or name == agent:
                rows.append(row)
        return {"month": month, "agents": rows, "shop": self._shop(shop_yuan, shop_points)}

    def row(self, month: str, agent: str) -> dict[str, Any]:
        """One agent's month, counted or not yet (the panel's line from the first day)."""
        return self._row(agent, self._items.get((month, agent), {}))

    def _row(self, agent: str, items: dict[str, Item]) -> dict[str, Any]:
        yuan = sum(i.yuan for i in items.values())
        points = sum(i.points for i in items.values())
        nxt = self.next_fine(items)
        return {
            "agent": agent,
            "yuan": yuan,
            "points": points,
            "items": [
                {"rule": rule, "count": i.count, "yuan": i.yuan, "points": i.points}
                for rule, i in sorted(items.items(), key=lambda kv: _order(kv[0]))
            ],
            "next": nxt,
            "text": next_text(yuan, points, nxt),
        }

    def next_fine(self, items: dict[str, Item]) -> dict[str, Any] | None:
        """The counted rule nearest its fine: ``{"rule", "remaining", "yuan", "over_s"}``."""
        best: dict[str, Any] | None = None
        for name, rule in self.rules.waits():
            if rule.more_than is None or not rule.yuan:
                continue
            count = items[name].count if name in items else 0
            remaining = rule.more_than + 1 - count
            if remaining > 0 and (best is None or remaining < best["remaining"]):
                best = {
                    "rule": name,
                    "remaining": remaining,
                    "yuan": rule.yuan,
                    "over_s": rule.over_s,
                }
        return best

    def _shop(self, yuan: int, points: int) -> dict[str, Any]:
        rule = self.rules.points
        reached = bool(rule.limit) and points >= rule.limit
        text = f"本月共罚 ¥{yuan}"
        if rule.limit:
            text += f"；{PLATFORM_NAMES[rule.platform]}扣分 {points}/{rule.limit}"
        if reached:
            text += (
                f"：已达 {rule.limit} 分，将限制{PLATFORM_NAMES[rule.platform]}营销活动 "
                f"{rule.ban_days} 天并扣除保证金 ¥{rule.deposit_yuan}"
            )
        return {
            "yuan": yuan,
            "points": points,
            "points_platform": rule.platform,
            "points_limit": rule.limit,
            "points_left": max(0, rule.limit - points),
            "limit_reached": reached,
            "text": text,
        }


PLATFORM_NAMES = {"taobao": "淘宝", "tmall": "天猫", "jd": "京东", "pdd": "拼多多"}
_RULE_ORDER = {f.name: i for i, f in enumerate(fields(PenaltyRules))}


def _order(rule: str) -> tuple[int, str]:
    return (_RULE_ORDER.get(rule, len(_RULE_ORDER)), rule)


def duration_text(seconds: float) -> str:
    """120 -> "2 分钟", 7200 -> "2 小时", 90 -> "90 秒" (the largest whole unit)."""
    for unit, size in (("小时", 3600), ("分钟", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} 秒"


def next_text(yuan: int, points: int, nxt: dict[str, Any] | None) -> str:
    """The panel's line: 本月已罚 ¥50；再有 1 次超过 2 分钟将罚 ¥50."""
    text = f"本月已罚 ¥{yuan}"
    if points:
        text += f"，扣 {points} 分"
    if nxt is not None:
        text += (
            f"；再有 {nxt['remaining']} 次超过 {duration_text(nxt['over_s'])}将罚 ¥{nxt['yuan']}"
        )
    return text


_EVENT_LABELS = {
    "order_confirm_missed": "下单后未按时核对订单",
    "refund_missed": "未按时处理退款",
    "terse": "少于 5 个字或只回语气词",
    "rude": "顶撞、辱骂或嘲讽买家",
}


def rule_label(name: str, rules: PenaltyRules) -> str | None:
    """The Chinese name of one of the shop's rules; None for a checker rule id (points)."""
    if name == "idle":
        return f"空挂 {duration_text(rules.idle.at_least_s)}以上"
    for wait_name, rule in rules.waits():
        if wait_name == name:
            label = f"超过 {duration_text(rule.over_s)}回复"
            if rule.more_than is not None:
                label += f"（一个月超过 {rule.more_than} 次罚一次）"
            return label
    return _EVENT_LABELS.get(name)
