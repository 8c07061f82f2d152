"""The shop's own fines and Tmall points: which rules, what they cost, parsed from the config.

Every default comes from a seed and says which (docs/penalties.md quotes them); a shop overrides
any field in the ``penalties:`` section of ``KEFU_CONFIG``. A rule with neither yuan nor points
is off. The two seeds are two shops' rulebooks: both are on by default, so a 40-minute reply
costs seed 004's ¥20 and seed 002's ¥100; a shop keeps the rules it uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from server.errors import SettingsError


@dataclass(frozen=True, slots=True)
class WaitRule:
    """A buyer waited longer than ``over_s`` for a human reply (or got none)."""

    over_s: float
    yuan: int
    # Count the late replies of the month and fine ``yuan`` once when the count goes past
    # ``more_than`` (seed 002: "一个月内出现超过3次…处以50元罚款"); None: fine every one.
    more_than: int | None = None
    # Rules of one ``tier`` are steps of one fine: a wait earns only the highest step it passed
    # (seed 002: 半小时 ¥100, 2小时 ¥200, not both).
    tier: str = ""
    seed: str = ""


@dataclass(frozen=True, slots=True)
class EventRule:
    """A fine per event: a missed process deadline, an idle span, a checker category sent."""

    yuan: int
    at_least_s: float = 0.0  # idle spans: only this long or longer (seed 002: 2小时以上包括2小时)
    seed: str = ""


@dataclass(frozen=True, slots=True)
class PointsRule:
    """Platform points per sent violation, by checker rule id or else by its category."""

    platform: str
    by_rule: Mapping[str, int]
    limit: int  # this many points in total triggers the platform's penalty
    ban_days: int  # ... no marketing events for this many days
    deposit_yuan: int  # ... and this much of the deposit is taken
    seed: str = ""

    def points(self, rule: str, category: str) -> int:
        return self.by_rule.get(rule, self.by_rule.get(category, 0))


@dataclass(frozen=True, slots=True)
class PenaltyRules:
    # Reply times (tracker rounds: first unanswered buyer message to the first human reply).
    reply_over_2min: WaitRule = WaitRule(120, 50, more_than=3, seed="002")
    reply_over_30min: WaitRule = WaitRule(1800, 100, tier="002", seed="002")
    reply_over_2h: WaitRule = WaitRule(7200, 200, tier="002", seed="002")
    answer_over_5min: WaitRule = WaitRule(300, 20, seed="004")
    # Agent online with nobody at the keyboard (空挂).
    idle: EventRule = EventRule(200, at_least_s=7200, seed="002")
    # Process deadlines missed (server.core.deadlines).
    order_confirm_missed: EventRule = EventRule(10, seed="004")
    refund_missed: EventRule = EventRule(30, seed="004")
    # Checker categories in lines that were sent (a fixed draft is not).
    terse: EventRule = EventRule(10, seed="004")
    rude: EventRule = EventRule(100, seed="004")
    points: PointsRule = field(
        default_factory=lambda: PointsRule(
            platform="tmall",
            by_rule=dict(DEFAULT_POINTS),
            limit=12,
            ban_days=7,
            deposit_yuan=10000,
            seed="004",
        )
    )

    def waits(self) -> list[tuple[str, WaitRule]]:
        return [
            (f.name, getattr(self, f.name))
            for f in fields(self)
            if isinstance(getattr(self, f.name), WaitRule)
        ]


# Seed 004: 泄露他人信息、发票、引导站外交易、拒绝售后保障 6 points; 违背承诺 (包邮, 信用卡,
# 货到付款) 4; closing a trade without the buyer asking 1 per trade.
DEFAULT_POINTS: dict[str, int] = {
    "privacy": 6,
    "invoice": 6,
    "offsite": 6,
    "competitor": 6,
    "commitment": 4,
    "commitment.returns": 6,
    "commitment.close_order": 1,
}

DEFAULT_RULES = PenaltyRules()
CATEGORY_RULES = ("terse", "rude")  # checker categories fined per sent line
DEADLINE_RULES = {"order_confirm": "order_confirm_missed", "refund": "refund_missed"}


def parse_penalties(raw: Any) -> PenaltyRules:
    """Merge the ``penalties`` section over :data:`DEFAULT_RULES`; SettingsError names the key."""
    if raw is None:
        return DEFAULT_RULES
    _mapping(raw, "penalties")
    known = {f.name for f in fields(PenaltyRules)}
    changes: dict[str, Any] = {}
    for name, overrides in raw.items():
        where = f"penalties.{name}"
        if name not in known:
            raise SettingsError(f"penalties: unknown rule: {name!r}")
        _mapping(overrides, where)
        current = getattr(DEFAULT_RULES, name)
        if isinstance(current, PointsRule):
            changes[name] = _points(current, overrides, where)
        else:
            changes[name] = _fields(current, overrides, where)
    return replace(DEFAULT_RULES, **changes)


_NUMBERS = {"over_s", "at_least_s"}  # seconds: a positive number (at_least_s may be 0)
_COUNTS = {"yuan", "more_than", "limit", "ban_days", "deposit_yuan"}  # whole numbers >= 0


def _fields(current: Any, overrides: Mapping[str, Any], where: str) -> Any:
    allowed = {f.name for f in fields(current)} - {"seed", "tier"}
    values = {}
    for key, value in overrides.items():
        if key not in allowed:
            raise SettingsError(f"{where}: unknown field: {key!r}")
        values[key] = _value(value, f"{where}.{key}", key)
    return replace(current, **values)


def _points(current: PointsRule, overrides: Mapping[str, Any], where: str) -> PointsRule:
    values: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "platform":
            if value not in ("taobao", "tmall", "jd", "pdd"):
                raise SettingsError(f"{where}.platform: unknown platform: {value!r}")
            values[key] = value
        elif key == "rules":
            _mapping(value, f"{where}.rules")
            values["by_rule"] = {
                str(rule): _value(n, f"{where}.rules.{rule}", "yuan") for rule, n in value.items()
            }
        elif key in ("limit", "ban_days", "deposit_yuan"):
            values[key] = _value(value, f"{where}.{key}", key)
        else:
            raise SettingsError(f"{where}: unknown field: {key!r}")
    return replace(current, **values)


def _value(value: Any, where: str, key: str) -> Any:
    if key in _COUNTS:
        if key == "more_than" and value is None:
            return None
        if type(value) is not int or value < 0:
            raise SettingsError(f"{where}: expected a whole number >= 0, got {value!r}")
        return value
    assert key in _NUMBERS
    if type(value) not in (int, float) or value < 0 or (key == "over_s" and value == 0):
        raise SettingsError(f"{where}: expected a positive number of seconds, got {value!r}")
    return float(value)


def _mapping(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise SettingsError(f"{where}: expected a mapping, got {value!r}")
