"""Conversations and their reply clocks: ``receive(event, now)`` in, effects out.

A *round* starts at the first unanswered buyer message and ends at the first human agent reply:
a burst of buyer messages is one round, and ``auto`` replies never end it. Each open round walks
through its platform's thresholds (warn, due, the KPI target, overdue); one heap holds the next
threshold of every conversation, with lazy deletion, so resetting a clock is one heap push and
100,000 live conversations cost one entry each. The runtime asks :meth:`Tracker.next_wake` and
calls :meth:`Tracker.advance` when that time comes; nothing here sleeps or reads the clock.

Memory is bounded (issue 14) when the runtime gives :class:`Limits`: a conversation with no clock
running leaves memory ``idle_s`` after its last change (the runtime reloads it from the store when
a line arrives for it again), a round left unanswered for ``expire_s`` is abandoned (it counted as
missed long before) and leaves too, and ``waiting_per_agent`` / ``per_shop`` cap what one agent or
shop can hold. Both departures ride the same heap as the clocks: no scan ever walks every
conversation. An index of the open rounds per shop and agent keeps an agent's ``state`` at
O(that agent's rounds).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from server.core.kpi import KpiDay, LocalDays
from server.core.platforms import Timers
from server.errors import LimitExceeded


class TimerLevel(StrEnum):
    """What an agent's panel shows of a conversation's reply clock (a ``timer`` frame's level)."""

    WAITING = "waiting"  # a round started
    WARN = "warn"
    DUE = "due"
    OVERDUE = "overdue"
    FOLLOW_UP = "follow_up"  # the agent asked the buyer a question; the buyer stayed silent
    CLEARED = "cleared"  # the round was answered, handed over or abandoned


# A round's thresholds are the levels it shows and the KPI target, which shows none (None): in
# the order they are reached for equal offsets.
Threshold = TimerLevel | None
_ORDER: dict[Threshold, int] = {
    TimerLevel.WARN: 0,
    TimerLevel.DUE: 1,
    None: 2,
    TimerLevel.OVERDUE: 3,
}

# A threshold fired later than this reports the wait at firing time, not the threshold.
LATE_S = 1.0

# A reply that ends in a question waits for the buyer: follow up if the buyer goes silent.
_QUESTION_ENDINGS = ("?", "？", "吗", "呢", "么")


@dataclass(slots=True)
class Conversation:
    """One buyer conversation of a shop, and its open round if any."""

    shop: str
    conversation: str
    buyer: str
    platform: str
    agent: str
    round_started_at: float | None = None  # epoch s of the first unanswered buyer message
    stage: int = 0  # index of the next threshold of the open round
    decided: bool = False  # the open round already counted as a miss (target passed)
    first_round: bool = True  # no round of this conversation was answered yet
    asked_at: float | None = None  # the agent asked the buyer a question at this time
    deadline: Wake | None = None  # the heap entry that is current; others are stale
    # Neighbours in its agent's list of open rounds (:class:`Rounds`): two slots instead of an
    # entry in a dict per agent (~50 bytes of each of 100,000 open rounds). Not stored, not
    # compared, not copied by ``dataclasses.replace``.
    waiting_prev: Conversation | None = field(default=None, init=False, repr=False, compare=False)
    waiting_next: Conversation | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.shop, self.conversation)


class Wake(float):
    """A heap entry: the deadline itself, carrying its conversation. 48 bytes, where a
    ``(deadline, conversation)`` tuple and its float took 80 (issue 17); equal deadlines fire
    in either order."""

    __slots__ = ("conv",)
    conv: Conversation

    def __new__(cls, deadline: float, conv: Conversation) -> Wake:
        wake = float.__new__(cls, deadline)
        wake.conv = conv
        return wake


class Rounds:
    """One agent's open rounds: a doubly linked list through the conversations themselves."""

    __slots__ = ("head", "count")

    def __init__(self) -> None:
        self.head: Conversation | None = None
        self.count = 0

    def __iter__(self) -> Iterator[Conversation]:
        conv = self.head
        while conv is not None:
            yield conv
            conv = conv.waiting_next

    def __len__(self) -> int:
        return self.count

    def join(self, conv: Conversation) -> None:
        if self.holds(conv):
            return
        conv.waiting_prev, conv.waiting_next = None, self.head
        if self.head is not None:
            self.head.waiting_prev = conv
        self.head = conv
        self.count += 1

    def leave(self, conv: Conversation) -> bool:
        """Take ``conv`` out if it is in; True if it was."""
        if not self.holds(conv):
            return False
        before, after = conv.waiting_prev, conv.waiting_next
        if before is None:
            self.head = after
        else:
            before.waiting_next = after
        if after is not None:
            after.waiting_prev = before
        conv.waiting_prev = conv.waiting_next = None
        self.count -= 1
        return True

    def holds(self, conv: Conversation) -> bool:
        return conv.waiting_prev is not None or self.head is conv


class Conversations(Mapping[tuple[str, str], Conversation]):
    """Every conversation in memory, by ``(shop, conversation)``: one dict per shop, so no key
    tuple is kept per conversation (56 of its ~450 bytes, issue 17)."""

    __slots__ = ("by_shop",)

    def __init__(self) -> None:
        self.by_shop: dict[str, dict[str, Conversation]] = {}

    def find(self, shop: str, conversation: str) -> Conversation | None:
        convs = self.by_shop.get(shop)
        return None if convs is None else convs.get(conversation)

    def __getitem__(self, key: tuple[str, str]) -> Conversation:
        return self.by_shop[key[0]][key[1]]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and self.find(*key) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for shop, convs in self.by_shop.items():
            for conversation in convs:
                yield shop, conversation

    def __len__(self) -> int:
        return sum(map(len, self.by_shop.values()))

    def in_shop(self, shop: str) -> int:
        return len(self.by_shop.get(shop, ()))

    def add(self, conv: Conversation) -> None:
        self.by_shop.setdefault(conv.shop, {})[conv.conversation] = conv

    def remove(self, conv: Conversation) -> None:
        """Remove ``conv`` if it is the one kept under its key."""
        convs = self.by_shop.get(conv.shop)
        if convs is not None and convs.get(conv.conversation) is conv:
            del convs[conv.conversation]
            if not convs:
                del self.by_shop[conv.shop]

    def drop_shop(self, shop: str) -> list[Conversation]:
        return list(self.by_shop.pop(shop, {}).values())


class TimerChanged(NamedTuple):
    """A conversation's reply clock as ``agent``'s panel should show it now: pushed to every
    connection of the agent as a ``timer`` frame (``protocol.timer``), listed in ``state``.

    A named tuple, not a frozen dataclass: a buyer line opening a round builds one, and a frozen
    dataclass's ``__init__`` (``object.__setattr__`` per field) costs 0.6 us to its 0.17."""

    shop: str
    agent: str
    conversation: str
    buyer: str
    level: TimerLevel
    waited_s: float  # how long the buyer has waited at that moment
    target_s: float  # the platform's reply target (for a follow-up: its follow-up delay)
    started_at: float  # the round's start (for a follow-up: when the agent asked)


@dataclass(frozen=True, slots=True)
class KpiChanged:
    """An answer changed ``kpi``'s day: pushed to its agent as a ``kpi`` frame
    (``protocol.kpi``). Rendered when applied, right after the call that returned it."""

    kpi: KpiDay
    target_rate: float


@dataclass(frozen=True, slots=True)
class SaveConversation:
    conversation: Conversation


@dataclass(frozen=True, slots=True)
class SaveKpi:
    kpi: KpiDay


@dataclass(frozen=True, slots=True)
class Abandoned:
    """A round given up unanswered after ``expire_s`` (the shop's ledger counts the wait)."""

    shop: str
    agent: str
    round_started_at: float
    at: float


Effect = TimerChanged | KpiChanged | SaveConversation | SaveKpi | Abandoned


@dataclass(frozen=True, slots=True)
class Limits:
    """How long conversations stay in memory and how many one agent or shop may hold."""

    idle_s: float  # a conversation with no clock running leaves memory this long after its change
    expire_s: float  # a round unanswered this long is abandoned and leaves memory
    waiting_per_agent: int  # open rounds one agent may have
    per_shop: int  # conversations of one shop in memory


def ends_with_question(text: str) -> bool:
    return text.rstrip(" ~～。.!！").endswith(_QUESTION_ENDINGS)


class Tracker:
    """Every live conversation of the process, its clock, and today's KPIs per agent."""

    def __init__(
        self,
        timers: Mapping[str, Timers],
        timezone: str,
        target_rate: float,
        limits: Limits | None = None,
        live: bool = True,
    ) -> None:
        self.timers = dict(timers)
        self.live = live  # False (QA replays): no effects are built, only the counts kept
        self.target_rate = target_rate
        self.limits = limits  # None (QA reports, benchmarks): everything stays, nothing is capped
        self.days = LocalDays(timezone, {p: t.window for p, t in self.timers.items()})
        self.conversations = Conversations()
        self.kpis: dict[tuple[str, str, str], KpiDay] = {}
        # shop -> agent -> its open rounds
        self._waiting: dict[str, dict[str, Rounds]] = {}
        self._heap: list[Wake] = []
        self._thresholds = {p: _thresholds(t, live) for p, t in self.timers.items()}
        # The stage an open round is past once its overdue threshold fired, per platform.
        self._overdue_stage = {
            p: next(i for i, (_, k) in enumerate(t) if k is TimerLevel.OVERDUE)
            for p, t in self._thresholds.items()
        }

    # --- events -----------------------------------------------------------------------------

    def buyer_message(
        self,
        shop: str,
        conversation: str,
        buyer: str,
        platform: str,
        agent: str,
        ts: float,
        not_before: float | None = None,
    ) -> list[Effect]:
        """A buyer line written at ``ts``. For history (a line from the past, sent when the
        console opens), ``not_before`` holds back thresholds already passed until then, so the
        agent's reply from that same history can still arrive and end the round in time.

        Raises :class:`LimitExceeded` (and changes nothing) when the line would open a round
        beyond the agent's cap, or a conversation beyond the shop's."""
        known = self.conversations.find(shop, conversation)
        limits = self.limits
        if limits is not None and (
            known is None or known.round_started_at is None or known.agent != agent
        ):
            self._check_waiting(shop, agent, limits.waiting_per_agent)
        effects: list[Effect] = []
        conv = self._own(shop, conversation, buyer, platform, agent, ts, known, effects)
        if conv.asked_at is not None:
            conv.asked_at = None
            self._schedule(conv, None)
        if conv.round_started_at is None:
            self._start_round(conv, ts, effects, not_before)
        return effects

    def agent_message(
        self,
        shop: str,
        conversation: str,
        buyer: str,
        platform: str,
        agent: str,
        ts: float,
        text: str,
        auto: bool = False,
    ) -> list[Effect]:
        known = self.conversations.find(shop, conversation)
        effects: list[Effect] = []
        conv = self._own(shop, conversation, buyer, platform, agent, ts, known, effects)
        if auto:
            self._linger(conv, ts)
            return effects
        if conv.round_started_at is not None:
            self._answer(conv, ts, effects)
        if self.live and ends_with_question(text):  # a follow-up is a push, and counts nothing
            conv.asked_at = ts
            self._schedule(conv, ts + self.timers[conv.platform].follow_up_s)
            self._saved(effects, conv)
        self._linger(conv, ts)
        return effects

    def advance(self, now: float) -> list[Effect]:
        """Fire every threshold due at or before ``now``."""
        effects: list[Effect] = []
        heap = self._heap
        while heap and heap[0] <= now:
            wake = heapq.heappop(heap)
            conv = wake.conv
            if conv.deadline is not wake:
                continue  # stale: the clock was reset or cleared since
            conv.deadline = None
            deadline = float(wake)
            # On time (or nearly): report the threshold itself; long past it (history, or a
            # restart catching up), report the wait as it really is now.
            self._fire(conv, deadline if now - deadline <= LATE_S else now, effects)
        return effects

    def next_wake(self) -> float | None:
        """When :meth:`advance` next has work, dropping stale heap entries on the way."""
        heap = self._heap
        while heap and heap[0].conv.deadline is not heap[0]:
            heapq.heappop(heap)
        return float(heap[0]) if heap else None

    def restore(self, conversations: list[Conversation], kpis: list[KpiDay]) -> None:
        """Load state saved before a restart; clocks resume from the stored start times."""
        for kpi in kpis:
            self.kpis[kpi.key] = kpi
        for conv in conversations:
            self._take(conv, 0.0)  # the store keeps only conversations with a clock running

    def reload(self, conv: Conversation, now: float) -> None:
        """Take back a conversation that left memory, as the store kept it.

        Raises :class:`LimitExceeded` when its shop holds as many conversations as it may."""
        self._check_shop(conv.shop)
        self._take(conv, now)

    def _take(self, conv: Conversation, now: float) -> None:
        replaced = self.conversations.find(conv.shop, conv.conversation)
        if replaced is not None and replaced is not conv:
            self._leave(replaced)
            replaced.deadline = None  # its heap entries are stale now
        self.conversations.add(conv)
        if conv.round_started_at is not None:
            self._join(conv)
            self._schedule(conv, self._threshold_at(conv))
        elif conv.asked_at is not None:
            self._schedule(conv, conv.asked_at + self.timers[conv.platform].follow_up_s)
        else:
            self._linger(conv, now)

    def forget(self, shop: str) -> None:
        """Drop a shop's conversations and KPIs (another process took the shop over)."""
        for conv in self.conversations.drop_shop(shop):
            conv.deadline = None  # its heap entries are stale now
        self._waiting.pop(shop, None)
        for day in [day for day in self.kpis if day[0] == shop]:
            del self.kpis[day]

    def forget_days_before(self, date: str) -> None:
        """Drop KPI days before ``date`` (ISO): they are stored, and no longer change."""
        for key in [key for key in self.kpis if key[2] < date]:
            del self.kpis[key]

    # --- queries ----------------------------------------------------------------------------

    def kpi(self, shop: str, agent: str, date: str) -> KpiDay:
        return self.kpis.get((shop, agent, date)) or KpiDay(shop, agent, date)

    def kpi_today(self, shop: str, agent: str, now: float) -> KpiDay:
        return self.kpi(shop, agent, self.days.date_of(now))

    def waiting(self, shop: str, agent: str | None = None) -> Iterator[Conversation]:
        """The open rounds of a shop, or of one of its agents (in no particular order)."""
        agents = self._waiting.get(shop, {})
        if agent is not None:
            yield from agents.get(agent, ())
            return
        for rounds in agents.values():
            yield from rounds

    def waiting_count(self, shop: str, agent: str) -> int:
        return len(self._waiting.get(shop, {}).get(agent, ()))

    def timer(
        self,
        conv: Conversation,
        level: TimerLevel,
        now: float,
        started: float | None = None,
        agent: str | None = None,
    ) -> TimerChanged:
        """``conv``'s clock at ``level`` for ``agent`` (default: its own); ``started`` defaults
        to the open round's start."""
        if started is None:
            started = conv.round_started_at if conv.round_started_at is not None else now
        timers = self.timers[conv.platform]
        return TimerChanged(
            conv.shop,
            conv.agent if agent is None else agent,
            conv.conversation,
            conv.buyer,
            level,
            now - started,
            timers.follow_up_s if level is TimerLevel.FOLLOW_UP else timers.target_s,
            started,
        )

    def level_of(self, conv: Conversation) -> TimerLevel:
        """The last level an open round reached: what a reconnecting panel should show."""
        reached = [kind for _, kind in self._thresholds[conv.platform][: conv.stage]]
        shown = [kind for kind in reached if kind is not None]
        return shown[-1] if shown else TimerLevel.WAITING

    # --- internals --------------------------------------------------------------------------

    def _own(
        self,
        shop: str,
        conversation: str,
        buyer: str,
        platform: str,
        agent: str,
        now: float,
        conv: Conversation | None,
        effects: list[Effect],
    ) -> Conversation:
        """The conversation the caller found (``conv``), or a new one if none; a line reported
        by another agent hands it over."""
        if conv is None:
            self._check_shop(shop)
            conv = Conversation(shop, conversation, buyer, platform, agent)
            self.conversations.add(conv)
        elif conv.agent != agent:
            self._hand_over(conv, agent, now, effects)
        return conv

    def _hand_over(self, conv: Conversation, agent: str, now: float, effects: list[Effect]) -> None:
        old = conv.agent
        if conv.round_started_at is not None:
            # The open round moves with the conversation: so do its counts.
            started = conv.round_started_at
            if self.days.in_window(conv.platform, started):
                date = self.days.date_of(started)
                before, after = self._kpi(conv.shop, old, date), self._kpi(conv.shop, agent, date)
                before.rounds -= 1
                after.rounds += 1
                if conv.decided:
                    before.decided -= 1
                    after.decided += 1
                if conv.stage > self._overdue_stage[conv.platform]:
                    before.overdue -= 1
                    after.overdue += 1
                self._kpi_saved(effects, before)
                self._kpi_saved(effects, after)
            self._timer(effects, conv, old, TimerLevel.CLEARED, now)
            self._leave(conv)
        conv.agent = agent
        if conv.round_started_at is not None:
            self._join(conv)
            if self.live:
                self._timer(effects, conv, agent, self.level_of(conv), now)
        self._saved(effects, conv)

    def _start_round(
        self, conv: Conversation, ts: float, effects: list[Effect], not_before: float | None
    ) -> None:
        conv.round_started_at = ts
        conv.stage = 0
        conv.decided = False
        self._join(conv)
        days = self.days
        kpi = self._kpi(conv.shop, conv.agent, days.date_of(ts))
        if days.in_window(conv.platform, ts):
            kpi.rounds += 1
        else:
            kpi.outside_window += 1
        # The first threshold (every platform has the KPI target and overdue, at least).
        first = ts + self._thresholds[conv.platform][0][0]
        if not_before is not None:
            first = max(first, not_before)
        self._schedule(conv, first)
        if self.live:
            effects += (
                SaveKpi(kpi),
                SaveConversation(conv),
                self.timer(conv, TimerLevel.WAITING, ts, None, conv.agent),
            )

    def _answer(self, conv: Conversation, ts: float, effects: list[Effect]) -> None:
        started = conv.round_started_at
        assert started is not None
        waited = ts - started if ts > started else 0.0
        live = self.live
        if live:
            effects.append(self.timer(conv, TimerLevel.CLEARED, ts, None, conv.agent))
        days = self.days
        if days.in_window(conv.platform, started):
            kpi = self._kpi(conv.shop, conv.agent, days.date_of(started))
            within = waited <= self.timers[conv.platform].target_s
            kpi.record_answer(waited, conv.first_round, within, conv.decided)
            if live:
                effects += (SaveKpi(kpi), KpiChanged(kpi, self.target_rate))
        self._leave(conv)
        conv.round_started_at = None
        conv.first_round = False
        conv.decided = False
        conv.stage = 0
        conv.deadline = None  # its heap entry is stale now
        if live:
            effects.append(SaveConversation(conv))

    # Effects are built only when live: a QA replay needs the counts, not pushes or writes.

    def _timer(
        self,
        effects: list[Effect],
        conv: Conversation,
        agent: str,
        level: TimerLevel,
        at: float,
        started: float | None = None,
    ) -> None:
        if self.live:
            effects.append(self.timer(conv, level, at, started, agent))

    def _saved(self, effects: list[Effect], conv: Conversation) -> None:
        if self.live:
            effects.append(SaveConversation(conv))

    def _kpi_saved(self, effects: list[Effect], kpi: KpiDay) -> None:
        if self.live:
            effects.append(SaveKpi(kpi))

    def _fire(self, conv: Conversation, deadline: float, effects: list[Effect]) -> None:
        started = conv.round_started_at
        if started is None:
            # The only clock of an answered conversation is the follow-up re-ask; with none
            # pending, this was its time to leave memory.
            if conv.asked_at is None:
                self._evict(conv)
                return
            self._timer(effects, conv, conv.agent, TimerLevel.FOLLOW_UP, deadline, conv.asked_at)
            conv.asked_at = None
            self._saved(effects, conv)
            self._linger(conv, deadline)
            return
        if conv.stage == len(self._thresholds[conv.platform]):
            self._expire(conv, deadline, effects)
            return
        offset, kind = self._thresholds[conv.platform][conv.stage]
        conv.stage += 1
        in_window = self.days.in_window(conv.platform, started)
        if kind is None:  # the KPI target
            conv.decided = True
            if in_window:
                kpi = self._kpi(conv.shop, conv.agent, self.days.date_of(started))
                kpi.decided += 1
                self._kpi_saved(effects, kpi)
        else:
            if kind is TimerLevel.OVERDUE and in_window:
                kpi = self._kpi(conv.shop, conv.agent, self.days.date_of(started))
                kpi.overdue += 1
                self._kpi_saved(effects, kpi)
            self._timer(effects, conv, conv.agent, kind, deadline)
        self._schedule(conv, self._threshold_at(conv))
        self._saved(effects, conv)

    def _expire(self, conv: Conversation, now: float, effects: list[Effect]) -> None:
        """Abandon a round unanswered for ``expire_s``: it counted as missed at its target, its
        panel entry is cleared, and the conversation leaves memory (a new line opens a round)."""
        self._timer(effects, conv, conv.agent, TimerLevel.CLEARED, now)
        assert conv.round_started_at is not None
        effects.append(Abandoned(conv.shop, conv.agent, conv.round_started_at, now))
        self._leave(conv)
        conv.round_started_at = None
        conv.stage = 0
        conv.decided = False
        self._saved(effects, conv)
        self._evict(conv)

    def _threshold_at(self, conv: Conversation) -> float | None:
        """The open round's next threshold; past the last, when it expires (if limits say)."""
        thresholds = self._thresholds[conv.platform]
        if conv.round_started_at is None:
            return None
        if conv.stage >= len(thresholds):
            if self.limits is None:
                return None
            return conv.round_started_at + max(self.limits.expire_s, thresholds[-1][0])
        return conv.round_started_at + thresholds[conv.stage][0]

    def _linger(self, conv: Conversation, now: float) -> None:
        """A conversation with no clock running leaves memory ``idle_s`` from ``now``."""
        if conv.deadline is None and self.limits is not None:
            self._schedule(conv, now + self.limits.idle_s)

    def _evict(self, conv: Conversation) -> None:
        self.conversations.remove(conv)
        conv.deadline = None

    def _join(self, conv: Conversation) -> None:
        agents = self._waiting.get(conv.shop)
        if agents is None:
            agents = self._waiting[conv.shop] = {}
        rounds = agents.get(conv.agent)
        if rounds is None:
            rounds = agents[conv.agent] = Rounds()
        rounds.join(conv)

    def _leave(self, conv: Conversation) -> None:
        agents = self._waiting.get(conv.shop)
        if agents is None:
            return
        rounds = agents.get(conv.agent)
        if rounds is not None and rounds.leave(conv) and not rounds.count:
            del agents[conv.agent]

    def _check_waiting(self, shop: str, agent: str, cap: int) -> None:
        if self.waiting_count(shop, agent) >= cap:
            raise LimitExceeded(
                f"agent {agent!r} has {cap} waiting conversations, the most allowed"
                " (KEFU_MAX_WAITING_PER_AGENT)"
            )

    def _check_shop(self, shop: str) -> None:
        if self.limits is not None and self.conversations.in_shop(shop) >= (
            cap := self.limits.per_shop
        ):
            raise LimitExceeded(
                f"shop {shop!r} has {cap} conversations in memory, the most allowed"
                " (KEFU_MAX_CONVERSATIONS_PER_SHOP)"
            )

    def _schedule(self, conv: Conversation, deadline: float | None) -> None:
        if deadline is None:
            conv.deadline = None
        else:
            conv.deadline = wake = Wake(deadline, conv)
            heapq.heappush(self._heap, wake)

    def _kpi(self, shop: str, agent: str, date: str) -> KpiDay:
        kpi = self.kpis.get((shop, agent, date))
        if kpi is None:
            kpi = self.kpis[(shop, agent, date)] = KpiDay(shop, agent, date)
        return kpi


def _thresholds(timers: Timers, live: bool) -> tuple[tuple[float, Threshold], ...]:
    pairs: list[tuple[float, Threshold]] = [
        (timers.warn_s, TimerLevel.WARN),
        (timers.due_s, TimerLevel.DUE),
        (timers.target_s, None),
        (timers.overdue_s, TimerLevel.OVERDUE),
    ]
    if not live:  # a replay pushes nothing: only the thresholds that count are kept
        pairs = [(offset, kind) for offset, kind in pairs if kind in (None, TimerLevel.OVERDUE)]
    return tuple(sorted(pairs, key=lambda pair: (pair[0], _ORDER[pair[1]])))
