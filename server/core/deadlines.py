"""Process deadlines as clocks, and the idle-agent rule: pure logic the tracker can drive.

A deadline starts on an event (a new order, a refund request, the agent's 请稍等, a paid order),
is due ``due_s`` later, and ends met when its done event comes in time, missed when
:meth:`Deadlines.advance` passes its due time first. Like the reply clocks, one heap holds every
due time with lazy deletion, nothing here sleeps or reads the clock, and :meth:`next_wake` tells
the runtime when to call :meth:`advance`. Defaults name their seed; docs/penalties.md.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from server.errors import SettingsError

# kind -> (due_s, seed)
DEFAULT_DEADLINES: dict[str, tuple[float, str]] = {
    "order_confirm": (600.0, "004"),  # 买家下单后，十分钟内不核对订单信息，每次扣除10元
    "refund": (1800.0, "004"),  # 应在30分钟内解决买家退款
    "wait_promise": (120.0, "000"),  # 请您稍等 … 让您久等了（最好不要超过2分钟）
    "unshipped": (172800.0, "002"),  # 48小时未发货订单都跟进
}
KINDS = tuple(DEFAULT_DEADLINES)


@dataclass(frozen=True, slots=True)
class Clock:
    kind: str
    key: str  # the conversation (order_confirm, refund, wait_promise) or the order (unshipped)
    agent: str
    started_at: float
    due_at: float


@dataclass(frozen=True, slots=True)
class Outcome:
    clock: Clock
    met: bool
    at: float  # when it was done (met) or its due time (missed)


class Deadlines:
    """Open deadline clocks of one shop, at most one per kind and key."""

    def __init__(self, due_s: Mapping[str, float]) -> None:
        self.due_s = dict(due_s)
        self.open: dict[tuple[str, str], Clock] = {}
        # (kind, key) of every clock opened or closed since the caller last cleared it: what the
        # runtime stores (an open one saved, a closed one deleted).
        self.changed: set[tuple[str, str]] = set()
        self._heap: list[tuple[float, str, str]] = []

    def start(self, kind: str, key: str, agent: str, at: float) -> Clock | None:
        """Start the clock; None when one runs already (a second start keeps the first due time)."""
        if (kind, key) in self.open:
            return None
        clock = Clock(kind, key, agent, at, at + self.due_s[kind])
        self.restore(clock)
        self.changed.add((kind, key))
        return clock

    def restore(self, clock: Clock) -> None:
        """Open a clock as it was (started before a restart), due when it was due."""
        self.open[(clock.kind, clock.key)] = clock
        heapq.heappush(self._heap, (clock.due_at, clock.kind, clock.key))

    def done(self, kind: str, key: str, at: float) -> Outcome | None:
        """The done event: met if it came by the due time (inclusive); None if no clock ran."""
        clock = self.open.pop((kind, key), None)
        if clock is None:
            return None
        self.changed.add((kind, key))
        return Outcome(clock, at <= clock.due_at, at)

    def advance(self, now: float) -> list[Outcome]:
        """Every clock due before ``now`` is missed, in due order."""
        missed = []
        while self._heap and self._heap[0][0] < now:
            due_at, kind, key = heapq.heappop(self._heap)
            clock = self.open.get((kind, key))
            if clock is None or clock.due_at != due_at:
                continue  # done already, or restarted (a stale heap entry)
            del self.open[(kind, key)]
            self.changed.add((kind, key))
            missed.append(Outcome(clock, False, due_at))
        return missed

    def next_wake(self) -> float | None:
        while self._heap:
            due_at, kind, key = self._heap[0]
            clock = self.open.get((kind, key))
            if clock is not None and clock.due_at == due_at:
                return due_at
            heapq.heappop(self._heap)
        return None


def parse_deadlines(raw: Any) -> dict[str, float]:
    """``deadlines: {kind: due_s}`` over the defaults (the ``deadlines`` section of the config)."""
    due = {kind: value for kind, (value, _) in DEFAULT_DEADLINES.items()}
    if raw is None:
        return due
    if not isinstance(raw, dict):
        raise SettingsError(f"deadlines: expected a mapping, got {raw!r}")
    for kind, value in raw.items():
        if kind not in due:
            raise SettingsError(f"deadlines: unknown deadline: {kind!r}")
        if type(value) not in (int, float) or value <= 0:
            raise SettingsError(
                f"deadlines.{kind}: expected a positive number of seconds, got {value!r}"
            )
        due[kind] = float(value)
    return due


# Seed 000: 請您稍等 … 讓您久等了. The agent promises to come back: 稍等, 稍候, 等一下 …, not the
# buyer told to wait for a delivery (稍等两天 is about the parcel, not the chat).
_WAIT_PROMISE = re.compile(
    r"(?:稍等|稍候|稍後|稍后|等一下|等一等|等等我|马上回来|馬上回來)"
    r"(?!\s*[0-9一二两三四五六七八九十几]+\s*[天日周])"
)
# Seed 004: 退款包括：拍错、重拍、不想买了; after-sales: 退货, 换货, 售后.
_REFUND_REQUEST = re.compile(
    r"退款|退钱|退貨|退货|换货|換貨|售后|售後|拍错|拍錯|重拍|不想要了|不想买了|不想買了"
)
# Seed 004: 买家下单后，发送订单信息给买家，核对订单信息无误.
_ORDER_CONFIRM = re.compile(
    r"(?:核对|核對|确认|確認)(?:一下)?.{0,6}(?:订单|訂單|地址|收货|收貨|信息|資料)"
)


def promises_wait(text: str) -> bool:
    """The agent told the buyer to wait for it (starts ``wait_promise``)."""
    return _WAIT_PROMISE.search(text) is not None


def asks_refund(text: str) -> bool:
    """A buyer line asking for a refund or after-sales service (starts ``refund``)."""
    return _REFUND_REQUEST.search(text) is not None


def confirms_order(text: str) -> bool:
    """An agent line confirming the order details with the buyer (ends ``order_confirm``)."""
    return _ORDER_CONFIRM.search(text) is not None


@dataclass(frozen=True, slots=True)
class IdleAlert:
    agent: str
    since: float  # the agent's last activity
    at: float  # when the alert fired: ``since + after_s``
    waiting: int  # buyers waiting then


@dataclass(slots=True)
class _Agent:
    online: bool = False
    last_active: float = 0.0
    waiting: int = 0
    waiting_since: float = 0.0  # when buyers began waiting (the count went above 0)
    alerted: bool = False

    @property
    def idle_since(self) -> float:
        """Idle counts from the last activity or from when buyers began waiting, the later:
        an agent away overnight with nobody waiting was not 空挂 before the first buyer came."""
        return max(self.last_active, self.waiting_since)


class IdleWatch:
    """Agents online with buyers waiting and no activity for ``after_s`` (空挂, seed 002).

    :meth:`advance` returns each idle span's alert once; the span ends at the agent's next
    activity or logout, and :meth:`active` / :meth:`offline` return its length for the ledger
    (an :class:`~server.core.penalties.Idle` event, fined from 2 hours by default).
    """

    def __init__(self, after_s: float) -> None:
        self.after_s = after_s
        self.agents: dict[str, _Agent] = {}
        # (due, agent) of every alert armed, lazily deleted like the deadline clocks' heap:
        # every buyer line asks for the next wake-up, and a scan of a big shop's agents per
        # line cost more than the rest of its penalties book.
        self._due: list[tuple[float, str]] = []

    def online(self, agent: str, at: float) -> None:
        state = self.agents.setdefault(agent, _Agent())
        if not state.online:
            state.online, state.last_active, state.alerted = True, at, False
            self._arm(agent, state)

    def waiting(self, agent: str, count: int, at: float) -> None:
        """How many buyers wait for the agent, as of ``at``."""
        state = self.agents.setdefault(agent, _Agent())
        began = count and not state.waiting
        if began:
            state.waiting_since = at
        state.waiting = count
        if began:
            self._arm(agent, state)

    def active(self, agent: str, at: float) -> float | None:
        """The agent did something; the idle span it ends, in seconds, if one was alerted."""
        state = self.agents.setdefault(agent, _Agent())
        span = self._ended(state, at)
        state.online, state.last_active, state.alerted = True, at, False
        self._arm(agent, state)
        return span

    def offline(self, agent: str, at: float) -> float | None:
        state = self.agents.setdefault(agent, _Agent())
        span = self._ended(state, at) if state.online else None
        state.online, state.alerted = False, False
        return span

    def next_wake(self) -> float | None:
        """When the next alert is due: an online agent with buyers waiting, not yet alerted."""
        due = self._due
        while due:
            at, agent = due[0]
            if self._due_at(self.agents[agent]) == at:
                return at
            heapq.heappop(due)
        return None

    def advance(self, now: float) -> list[IdleAlert]:
        alerts = []
        for agent, state in self.agents.items():
            due = state.idle_since + self.after_s
            if state.online and state.waiting and not state.alerted and due <= now:
                state.alerted = True
                alerts.append(IdleAlert(agent, state.idle_since, due, state.waiting))
        return alerts

    def _due_at(self, state: _Agent) -> float | None:
        if state.online and state.waiting and not state.alerted:
            return state.idle_since + self.after_s
        return None

    def _arm(self, agent: str, state: _Agent) -> None:
        at = self._due_at(state)
        if at is None:
            return
        if len(self._due) > 4 * len(self.agents) + 64:  # mostly superseded entries: rebuild
            self._due = [
                (due, name)
                for name, other in self.agents.items()
                if (due := self._due_at(other)) is not None
            ]
            heapq.heapify(self._due)
        heapq.heappush(self._due, (at, agent))

    @staticmethod
    def _ended(state: _Agent, at: float) -> float | None:
        return at - state.idle_since if state.alerted else None
