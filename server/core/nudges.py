"""The unpaid-order nudge policy: when to remind an agent to follow up an order nobody paid.

Pure: every function takes ``now`` (float epoch seconds) and returns decisions or effects.
:class:`server.core.nudgebook.NudgeBook` holds a process's orders and nudges and drives these
functions; the runtime stores what it says, wakes it at due times and delivers ``nudge`` frames.
The policy in plain words, with a worked example, is in ``docs/nudges.md``.

Flow, as the nudge book drives it:

1. ``apply_event(order_or_None, event, now, policy)`` on every ``order`` event; carry out the
   effects (:class:`PlanNudges` → store and schedule, :class:`CancelNudges` → drop pending ones).
2. At each nudge's ``due_at``, and again whenever that conversation's reply clock closes,
   ``decide(...)`` says fire, wait, defer, drop, expire or cancel. Schedule a wake-up at
   ``order.closes_at`` too, so a nudge waiting on a question that is never answered expires.
3. ``reassign_due(...)`` / ``choose_agent(...)`` hand a neglected nudge to another agent.
4. ``daily_outcomes(...)`` counts nudged and then-paid orders per shop and day.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, time
from enum import Enum, StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.core.quiet_hours import QuietHours, ShopClock, parse_clock
from server.errors import SettingsError

# --- policy -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NudgePolicy:
    """The settings of the ``nudges:`` YAML section, validated. All durations are seconds."""

    delays_s: tuple[float, ...] = (900.0, 10800.0)
    final_before_close_s: float = 14400.0
    close_after_s: float = 259200.0
    quiet_start: time = time(23, 0)
    quiet_end: time = time(9, 0)
    wake_at: time = time(10, 0)
    timezone: str = "Asia/Shanghai"
    max_per_day: int = 3
    # Two nudges closer than this are merged into one: an agent should never get a burst.
    min_gap_s: float = 1800.0
    reassign_after_s: float = 86400.0
    clock: ShopClock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            quiet = QuietHours(self.quiet_start, self.quiet_end)
        except ValueError:
            raise SettingsError(
                f"nudges.quiet_hours: start and end are equal, got "
                f"'{self.quiet_start:%H:%M}-{self.quiet_end:%H:%M}'"
            ) from None
        if quiet.contains(self.wake_at):
            raise SettingsError(
                f"nudges.wake_at: falls inside quiet hours '{quiet}', got '{self.wake_at:%H:%M}'"
            )
        if any(not 0 < delay < self.close_after_s for delay in self.delays_s):
            raise SettingsError(
                f"nudges.delays_s: expected positive seconds below close_after_s "
                f"({self.close_after_s:g}), got {list(self.delays_s)!r}"
            )
        # The first delay is the friendly reminder, so keep them in order whatever the input.
        object.__setattr__(self, "delays_s", tuple(sorted(self.delays_s)))
        if not 0 <= self.final_before_close_s < self.close_after_s:
            raise SettingsError(
                f"nudges.final_before_close_s: expected seconds below close_after_s "
                f"({self.close_after_s:g}), got {self.final_before_close_s!r}"
            )
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(
                f"nudges.timezone: unknown time zone, got {self.timezone!r}"
            ) from None
        object.__setattr__(self, "clock", ShopClock(quiet, self.wake_at, zone))

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any]) -> NudgePolicy:
        """Build from the ``nudges:`` mapping; missing keys keep their defaults.

        Raises :class:`SettingsError` naming the setting and quoting the bad value.
        """
        unknown = sorted(set(raw) - set(_PARSERS))
        if unknown:
            raise SettingsError(f"nudges: unknown field: {unknown[0]!r}")
        values: dict[str, Any] = {}
        for key, value in raw.items():
            values.update(_PARSERS[key](value))
        return cls(**values)


def _seconds(key: str, value: Any, *, allow_zero: bool = False) -> float:
    if type(value) not in (int, float) or value < 0 or (value == 0 and not allow_zero):
        kind = "a non-negative" if allow_zero else "a positive"
        raise SettingsError(f"nudges.{key}: expected {kind} number of seconds, got {value!r}")
    return value  # kept as given, so error messages quote it as written


def _parse_delays(value: Any) -> dict[str, Any]:
    if not isinstance(value, list) or any(
        type(item) not in (int, float) or item <= 0 for item in value
    ):
        raise SettingsError(f"nudges.delays_s: expected a list of positive seconds, got {value!r}")
    return {"delays_s": tuple(value)}


def _parse_quiet_hours(value: Any) -> dict[str, Any]:
    start, _, end = value.partition("-") if isinstance(value, str) else ("", "", "")
    start_clock, end_clock = parse_clock(start), parse_clock(end)
    if start_clock is None or end_clock is None:
        raise SettingsError(f"nudges.quiet_hours: expected 'HH:MM-HH:MM', got {value!r}")
    return {"quiet_start": start_clock, "quiet_end": end_clock}


def _parse_wake_at(value: Any) -> dict[str, Any]:
    clock = parse_clock(value) if isinstance(value, str) else None
    if clock is None:
        raise SettingsError(f"nudges.wake_at: expected 'HH:MM', got {value!r}")
    return {"wake_at": clock}


def _parse_timezone(value: Any) -> dict[str, Any]:
    if not isinstance(value, str):
        raise SettingsError(f"nudges.timezone: expected a time zone name, got {value!r}")
    return {"timezone": value}


def _parse_max_per_day(value: Any) -> dict[str, Any]:
    if type(value) is not int or value < 1:
        raise SettingsError(f"nudges.max_per_day: expected a positive integer, got {value!r}")
    return {"max_per_day": value}


_PARSERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "delays_s": _parse_delays,
    "final_before_close_s": lambda v: {
        "final_before_close_s": _seconds("final_before_close_s", v, allow_zero=True)
    },
    "close_after_s": lambda v: {"close_after_s": _seconds("close_after_s", v)},
    "quiet_hours": _parse_quiet_hours,
    "wake_at": _parse_wake_at,
    "timezone": _parse_timezone,
    "max_per_day": _parse_max_per_day,
    "min_gap_s": lambda v: {"min_gap_s": _seconds("min_gap_s", v, allow_zero=True)},
    "reassign_after_s": lambda v: {"reassign_after_s": _seconds("reassign_after_s", v)},
}


# --- planning ---------------------------------------------------------------------------------


class NudgeKind(StrEnum):
    """What a follow-up is for; it picks the wording."""

    REMINDER = "reminder"  # the first nudge: a friendly reminder
    FOLLOW_UP = "follow_up"  # later ones: stock is held, it can ship soon
    CLOSING = "closing"  # final_before_close_s before the order auto-closes


@dataclass(frozen=True, slots=True)
class PlannedNudge:
    due_at: float
    attempt: int  # 1-based position in the order's plan
    kind: NudgeKind


def plan(created_at: float, policy: NudgePolicy) -> tuple[PlannedNudge, ...]:
    """Every follow-up of an order created at ``created_at``, sorted by ``due_at``.

    Each delay (and the closing nudge) is moved out of quiet hours to the next ``wake_at``; a
    closing nudge that this would push past the close time is pulled back to the previous
    ``wake_at`` instead. Nudges less than ``min_gap_s`` apart (or at the same instant) merge
    into the earlier one. A nudge over ``max_per_day`` on its local day moves to the next day's
    ``wake_at``. Nothing is due at or after the close time.

    The wording follows the position, not the delay a nudge came from: the first is the
    reminder, and whichever nudge carries the closing one (alone or merged) is the closing one.
    """
    clock = policy.clock
    closes_at = created_at + policy.close_after_s
    # (due, tie-breaker, is the closing nudge), kept in a heap because moves reorder them.
    queue = [
        (clock.next_allowed(created_at + delay), index, False)
        for index, delay in enumerate(policy.delays_s)
    ]
    if policy.final_before_close_s > 0:
        final = closes_at - policy.final_before_close_s
        moved = clock.next_allowed(final)
        if moved >= closes_at:
            moved = clock.previous_wake(final)
        if created_at < moved and not clock.is_quiet(moved):
            queue.append((moved, len(queue), True))
    heapq.heapify(queue)

    kept: list[tuple[float, bool]] = []
    per_day: Counter[date] = Counter()
    while queue:
        due, index, closing = heapq.heappop(queue)
        if due >= closes_at:
            continue
        if kept and (due == kept[-1][0] or due - kept[-1][0] < policy.min_gap_s):
            kept[-1] = (kept[-1][0], kept[-1][1] or closing)
            continue
        day = clock.local_day(due)
        if per_day[day] >= policy.max_per_day:
            moved = clock.next_allowed(clock.wake_on_next_day(due))
            heapq.heappush(queue, (moved, index, closing))
            continue
        per_day[day] += 1
        kept.append((due, closing))
    return tuple(
        PlannedNudge(due, attempt, _kind(attempt, closing))
        for attempt, (due, closing) in enumerate(kept, start=1)
    )


def _kind(attempt: int, closing: bool) -> NudgeKind:
    if closing:
        return NudgeKind.CLOSING
    return NudgeKind.REMINDER if attempt == 1 else NudgeKind.FOLLOW_UP


# --- orders -----------------------------------------------------------------------------------


class OrderStatus(StrEnum):
    CREATED = "created"
    PAID = "paid"
    SHIPPED = "shipped"
    CLOSED = "closed"


# Status only moves forward; an event that would move it back is stale and ignored.
# Closed is last: a paid order can still be closed (refunded), a closed one never reopens.
_RANK = {OrderStatus.CREATED: 0, OrderStatus.PAID: 1, OrderStatus.SHIPPED: 2, OrderStatus.CLOSED: 3}


@dataclass(frozen=True, slots=True)
class Order:
    shop: str
    order: str
    buyer: str
    conversation: str | None
    status: OrderStatus
    amount: str | None
    created_at: float
    closes_at: float
    updated_at: float
    paid_at: float | None = None


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """An ``order`` frame (or HTTP order event); ``ts`` is when it happened, if known."""

    shop: str
    order: str
    buyer: str
    status: OrderStatus
    conversation: str | None = None
    amount: str | None = None
    ts: float | None = None


@dataclass(frozen=True, slots=True)
class PlanNudges:
    """Store these nudges for the order and wake up at each ``due_at``."""

    order: str
    nudges: tuple[PlannedNudge, ...]


@dataclass(frozen=True, slots=True)
class CancelNudges:
    """Drop the order's pending nudges with outcome ``cancelled``: it was paid or closed."""

    order: str
    status: OrderStatus


Effect = PlanNudges | CancelNudges


def apply_event(
    current: Order | None, event: OrderEvent, now: float, policy: NudgePolicy
) -> tuple[Order, tuple[Effect, ...]]:
    """The order after ``event``, and what to do about its nudges.

    Returns ``current`` itself (nothing to store) for a repeated or stale event, so the same
    event twice changes nothing and an old ``created`` never reopens a paid order. The first
    ``created`` plans the nudges; leaving ``created`` cancels them. When an order is first seen
    late, the follow-ups already overdue collapse into the latest one, which fires at once.
    """
    ts = now if event.ts is None else event.ts
    if current is None:
        order = Order(
            shop=event.shop,
            order=event.order,
            buyer=event.buyer,
            conversation=event.conversation,
            status=event.status,
            amount=event.amount,
            created_at=ts,
            closes_at=ts + policy.close_after_s,
            updated_at=ts,
            paid_at=None if event.status in (OrderStatus.CREATED, OrderStatus.CLOSED) else ts,
        )
        if event.status is not OrderStatus.CREATED:
            return order, ()
        return order, (PlanNudges(order.order, _catch_up(plan(ts, policy), now)),)

    if event.status is current.status:
        # A repeat; an order card seen in the chat later may still tell us the conversation.
        filled = replace(
            current,
            conversation=current.conversation or event.conversation,
            amount=current.amount or event.amount,
        )
        return (current, ()) if filled == current else (filled, ())
    if _RANK[event.status] < _RANK[current.status]:
        return current, ()

    paid_at = current.paid_at
    if paid_at is None and event.status in (OrderStatus.PAID, OrderStatus.SHIPPED):
        paid_at = ts
    order = replace(
        current,
        status=event.status,
        conversation=current.conversation or event.conversation,
        amount=event.amount or current.amount,
        updated_at=max(current.updated_at, ts),
        paid_at=paid_at,
    )
    if current.status is not OrderStatus.CREATED:
        return order, ()
    return order, (CancelNudges(order.order, event.status),)


def _catch_up(nudges: tuple[PlannedNudge, ...], now: float) -> tuple[PlannedNudge, ...]:
    overdue = [nudge for nudge in nudges if nudge.due_at <= now]
    return tuple(overdue[-1:]) + tuple(nudge for nudge in nudges if nudge.due_at > now)


# --- deciding ---------------------------------------------------------------------------------


class Decision(Enum):
    FIRE = "fire"  # deliver the nudge now
    WAIT = "wait"  # the buyer's question is unanswered: decide again when it is answered
    DEFER = "defer"  # not now: decide again at Verdict.retry_at
    DROP = "drop"  # the buyer has an open after-sales round: never nudge a complaining buyer
    EXPIRE = "expire"  # the order has reached its close time
    CANCEL = "cancel"  # the order is paid, shipped or closed


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    retry_at: float | None = None  # set for DEFER only


def decide(
    due_at: float,
    order: Order,
    now: float,
    *,
    question_open: bool,
    after_sales_open: bool,
    policy: NudgePolicy,
) -> Verdict:
    """What to do with a pending nudge of ``order`` due at ``due_at``, at ``now``.

    Checked in this order: cancel (no longer unpaid), expire (at/after close), drop
    (after-sales open), defer (not yet due, or quiet hours: a nudge released late at night by
    an answered question must still wait for morning), wait (question open), fire.
    """
    if order.status is not OrderStatus.CREATED:
        return Verdict(Decision.CANCEL)
    if now >= order.closes_at:
        return Verdict(Decision.EXPIRE)
    if after_sales_open:
        return Verdict(Decision.DROP)
    if now < due_at:
        return Verdict(Decision.DEFER, policy.clock.next_allowed(due_at))
    if policy.clock.is_quiet(now):
        return Verdict(Decision.DEFER, policy.clock.next_allowed(now))
    if question_open:
        return Verdict(Decision.WAIT)
    return Verdict(Decision.FIRE)


# --- reassignment -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """A nudge handed to an agent, and when (if ever) the agent acted on it."""

    nudge: str
    agent: str
    delivered_at: float
    acked_at: float | None = None


def reassign_due(
    delivery: Delivery, order: Order, now: float, *, agent_online: bool, policy: NudgePolicy
) -> bool:
    """Whether another agent of the shop should take this nudge over (seed 002: 追单).

    True when the order is still unpaid and open, the agent has not acted on the nudge for
    ``reassign_after_s``, and the agent is offline now.
    """
    return (
        delivery.acked_at is None
        and not agent_online
        and order.status is OrderStatus.CREATED
        and now < order.closes_at
        and now - delivery.delivered_at >= policy.reassign_after_s
    )


def choose_agent(pending_by_agent: Mapping[str, int], *, exclude: str) -> str | None:
    """The online agent with the fewest pending nudges (ties: by name), other than ``exclude``.

    ``pending_by_agent`` holds the shop's online agents only; ``None`` when nobody else is.
    """
    candidates = [(count, agent) for agent, count in pending_by_agent.items() if agent != exclude]
    return min(candidates)[1] if candidates else None


# --- wording ----------------------------------------------------------------------------------

# Seed 001: never ask "买还是不买", never push; no 保证/绝对/肯定 and no superlatives.
_TEXTS = {
    NudgeKind.REMINDER: "您拍下的宝贝还在等待付款{amount}，方便的时候完成付款就可以啦，"
    "我们收到后会尽快为您安排发货。",
    NudgeKind.FOLLOW_UP: "您拍下的宝贝我们已经为您预留好了，付款后可以尽早为您打包发出，"
    "有任何疑问随时联系我。",
    NudgeKind.CLOSING: "您的订单付款期限快到了，到期后系统会自动取消。如果还需要这件宝贝，"
    "记得及时完成付款，有疑问随时联系我。",
}


def nudge_text(order: Order, kind: NudgeKind) -> str:
    """A polite 催付 line for the agent to send.

    The fallback wording until the phrase library's ``nudge`` category supplies one.
    """
    amount = f"（订单金额 {order.amount} 元）" if order.amount else ""
    return "亲，您好！" + _TEXTS[kind].format(amount=amount)


# --- outcomes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FiredNudge:
    shop: str
    order: str
    fired_at: float


@dataclass(frozen=True, slots=True)
class DayOutcome:
    nudged: int  # unpaid orders whose first nudge fired that day
    paid: int  # of those, how many were paid after that first nudge


def daily_outcomes(
    fired: Iterable[FiredNudge], orders: Mapping[tuple[str, str], Order], policy: NudgePolicy
) -> dict[tuple[str, date], DayOutcome]:
    """Nudged and then-paid orders per (shop, local day of the order's first fired nudge).

    ``orders`` is keyed by (shop, order id); a fired nudge whose order is missing is skipped.
    """
    first: dict[tuple[str, str], float] = {}
    for item in fired:
        key = (item.shop, item.order)
        first[key] = min(first.get(key, item.fired_at), item.fired_at)
    nudged: Counter[tuple[str, date]] = Counter()
    paid: Counter[tuple[str, date]] = Counter()
    for (shop, order_id), fired_at in first.items():
        order = orders.get((shop, order_id))
        if order is None:
            continue
        cohort = (shop, policy.clock.local_day(fired_at))
        nudged[cohort] += 1
        if order.paid_at is not None and order.paid_at >= fired_at:
            paid[cohort] += 1
    return {cohort: DayOutcome(count, paid[cohort]) for cohort, count in sorted(nudged.items())}
