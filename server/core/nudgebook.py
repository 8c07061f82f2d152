"""Every unpaid order of the process and its nudges: the state machine the runtime drives.

The policy (:mod:`server.core.nudges`) says *when*; this keeps *what is where*: which nudge is
pending, which was delivered to whom and not yet acted on, which is done and how. Like the
tracker it holds one heap of deadlines with lazy deletion and hands back effects; the runtime
stores them and delivers ``nudge`` frames only after the store has committed the delivery, so a
crash can cause a redelivery (which clients drop by nudge id) but never a second firing.

A nudge's life: ``pending`` → (due; an agent is online) ``delivered`` → (``nudge_ack``) ``done``.
``done`` carries the outcome: ``sent``, ``dismissed``, ``cancelled`` (paid or closed),
``expired`` (the order closed unpaid) or ``dropped`` (the buyer opened an after-sales round).
A snooze puts a delivered nudge back to ``pending`` for the same agent.

Indexes by order, by the agent a nudge waits on, and by shop for nudges nobody was online to
take keep an agent's connect at O(that agent's nudges), never O(process). With ``idle_s`` an
order leaves memory once it is settled (paid, shipped, closed, or unpaid past its auto-close),
its nudges are done, and ``idle_s`` passed; the runtime reloads it from the store when an event
for it arrives, so a repeat or a stale event is still recognised (issue 14).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from server.core.nudges import (
    Decision,
    Delivery,
    NudgeKind,
    NudgePolicy,
    Order,
    OrderEvent,
    OrderStatus,
    PlanNudges,
    apply_event,
    choose_agent,
    decide,
    nudge_text,
    reassign_due,
)
from server.errors import BadField, LimitExceeded, NotFound, quote


class NudgeState(StrEnum):
    PENDING = "pending"  # planned, snoozed, or due with nobody online to take it
    DELIVERED = "delivered"  # pushed to ``agent``, not acted on yet
    DONE = "done"  # its ``outcome`` says how


class NudgeAction(StrEnum):
    """What an agent did with a delivered nudge (``nudge_ack``'s ``action``)."""

    SENT = "sent"  # the reminder was sent to the buyer
    DISMISSED = "dismissed"
    SNOOZED = "snoozed"  # back to pending, for the same agent, ``snooze_s`` later


class NudgeOutcome(StrEnum):
    """How a ``done`` nudge ended."""

    SENT = "sent"  # acted on: NudgeAction.SENT or DISMISSED
    DISMISSED = "dismissed"
    CANCELLED = "cancelled"  # the order was paid or closed
    EXPIRED = "expired"  # the order closed unpaid
    DROPPED = "dropped"  # the buyer opened an after-sales round


# How a nudge the policy will not fire ends (any other decision: the order was paid or closed).
_OUTCOMES = {Decision.DROP: NudgeOutcome.DROPPED, Decision.EXPIRE: NudgeOutcome.EXPIRED}

# How often a delivered, unanswered nudge is looked at again once its reassignment time passed
# while its agent stayed online (the rule only moves nudges away from offline agents).
RECHECK_S = 3600.0


# A snooze past a day outlives any reminder worth sending (and a huge one overflowed the quiet-hours
# arithmetic, leaving the nudge half-snoozed and impossible to dismiss).
MAX_SNOOZE_S = 86400.0


@dataclass(slots=True)
class Nudge:
    id: str
    shop: str
    order: str
    attempt: int
    kind: str
    due_at: float
    state: NudgeState = NudgeState.PENDING
    agent: str | None = None  # who it was delivered to (or, while snoozed, who gets it back)
    delivered_at: float | None = None
    fired_at: float | None = None  # the first delivery: what the outcome counts
    outcome: NudgeOutcome | None = None
    closed_at: float | None = None
    waiting: bool = False  # parked until the buyer's open question is answered
    wake: float | None = None  # the heap entry that is current; others are stale

    @property
    def key(self) -> tuple[str, str]:
        return (self.shop, self.id)


def nudge_id(order: str, attempt: int) -> str:
    return f"n-{order}-{attempt}"


class World(Protocol):
    """What the nudge book needs to know about conversations and agents, asked at decision time."""

    def question_open(self, shop: str, conversation: str | None) -> bool: ...
    def after_sales_open(self, shop: str, conversation: str | None) -> bool: ...
    def owner(self, shop: str, conversation: str | None) -> str | None: ...
    def online_agents(self, shop: str) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class SaveNudges:
    """Persist these nudges (copies); ``order`` too when it changed. One transaction."""

    nudges: tuple[Nudge, ...]
    order: Order | None = None


@dataclass(frozen=True, slots=True)
class OrderChange:
    """An order event's outcome: the order as it becomes, new nudges, nudges it cancels."""

    order: Order
    planned: tuple[Nudge, ...]
    closed: tuple[Nudge, ...]

    @property
    def nudges(self) -> tuple[Nudge, ...]:
        return self.planned + self.closed


@dataclass(frozen=True, slots=True)
class NudgeDue:
    """A nudge as its agent's panel shows it (a ``nudge`` frame, ``protocol.nudge``): the
    order as it was when the nudge fired."""

    nudge: str  # the nudge's id: clients drop a repeated delivery by it
    order: str
    buyer: str
    conversation: str | None
    attempt: int
    due_at: float
    amount: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Deliver:
    """Store the nudge's delivery (``Store.claim_delivery``), and push it to ``agent`` if the
    store took it: committed before pushed, and fired by one process only."""

    nudge: Nudge
    agent: str
    due: NudgeDue


Effect = SaveNudges | Deliver


class NudgeBook:
    def __init__(
        self, policy: NudgePolicy, idle_s: float | None = None, max_per_shop: int | None = None
    ) -> None:
        self.policy = policy
        self.idle_s = idle_s  # None: orders never leave memory
        self.max_per_shop = max_per_shop  # None: no cap on a shop's orders in memory
        self.orders: dict[tuple[str, str], Order] = {}
        self.nudges: dict[tuple[str, str], Nudge] = {}
        self._by_order: dict[tuple[str, str], dict[str, Nudge]] = {}
        self._delivered: dict[tuple[str, str], dict[str, Nudge]] = {}  # (shop, agent) -> id ->
        self._unassigned: dict[str, dict[str, Nudge]] = {}  # due while nobody of the shop was on
        self._per_shop: dict[str, int] = {}
        self._leaving: list[tuple[float, tuple[str, str]]] = []  # when orders may leave memory
        # Indexes for the per-message hot path: (shop, conversation) -> latest order number,
        # and -> nudges parked until that conversation's open question is answered.
        self._latest: dict[tuple[str, str], str] = {}
        self._waiting: dict[tuple[str, str], list[Nudge]] = {}
        self._heap: list[tuple[float, int, Nudge]] = []
        self._counter = 0

    # --- intake -----------------------------------------------------------------------------

    def prepare(self, event: OrderEvent, now: float) -> OrderChange | None:
        """What an order event changes, without changing anything yet: the runtime stores the
        change and only then :meth:`commit`s it, so memory never runs ahead of the store.
        ``None`` when the event changes nothing (a repeat, or older than what is known)."""
        current = self.orders.get((event.shop, event.order))
        cap = self.max_per_shop
        if current is None and cap is not None and self._per_shop.get(event.shop, 0) >= cap:
            raise LimitExceeded(
                f"shop {event.shop!r} has {cap} orders in memory, the most allowed"
                " (KEFU_MAX_ORDERS_PER_SHOP)"
            )
        if current is not None and current.buyer != event.buyer:
            raise BadField.must_be(
                "buyer", "order", f"the order's buyer, {quote(current.buyer)}", event.buyer
            )
        order, effects = apply_event(current, event, now, self.policy)
        if order is current:
            return None
        planned: list[Nudge] = []
        closed: list[Nudge] = []
        for effect in effects:
            if isinstance(effect, PlanNudges):
                planned += [
                    Nudge(
                        nudge_id(order.order, p.attempt),
                        order.shop,
                        order.order,
                        p.attempt,
                        str(p.kind),
                        p.due_at,
                    )  # fmt: skip
                    for p in effect.nudges
                ]
            else:
                closed += [
                    replace(
                        n,
                        state=NudgeState.DONE,
                        outcome=NudgeOutcome.CANCELLED,
                        closed_at=now,
                        wake=None,
                    )
                    for n in self._open_nudges(order)
                ]
        return OrderChange(order, tuple(planned), tuple(closed))

    def commit(self, change: OrderChange) -> None:
        order = change.order
        self._remember(order)
        for nudge in change.planned:
            own = replace(nudge)
            self._add(own)
            self._schedule(own, own.due_at)
        for nudge in change.closed:
            self._close(
                self.nudges[nudge.key], NudgeOutcome.CANCELLED, nudge.closed_at or order.updated_at
            )

    def _remember(self, order: Order) -> None:
        key = (order.shop, order.order)
        if key not in self.orders:
            self._per_shop[order.shop] = self._per_shop.get(order.shop, 0) + 1
        self.orders[key] = order
        if self.idle_s is not None:
            heapq.heappush(self._leaving, (self._leaves_at(order), key))
        if order.conversation is not None:
            key = (order.shop, order.conversation)
            latest = self._latest.get(key)
            if latest is None or self.orders[(order.shop, latest)].created_at <= order.created_at:
                self._latest[key] = order.order

    def _leaves_at(self, order: Order) -> float:
        assert self.idle_s is not None
        settled = order.updated_at if order.status is not OrderStatus.CREATED else order.closes_at
        return settled + self.idle_s

    def _open_nudges(self, order: Order) -> list[Nudge]:
        mine = self._by_order.get((order.shop, order.order), {})
        return [n for n in mine.values() if n.state != NudgeState.DONE]

    def _add(self, nudge: Nudge) -> None:
        self.nudges[nudge.key] = nudge
        self._by_order.setdefault((nudge.shop, nudge.order), {})[nudge.id] = nudge
        if nudge.state == NudgeState.DELIVERED and nudge.agent is not None:
            self._delivered.setdefault((nudge.shop, nudge.agent), {})[nudge.id] = nudge

    def _deliver_to(self, nudge: Nudge, agent: str) -> None:
        self._undeliver(nudge)
        nudge.state = NudgeState.DELIVERED
        nudge.agent = agent
        self._delivered.setdefault((nudge.shop, agent), {})[nudge.id] = nudge

    def _undeliver(self, nudge: Nudge) -> None:
        if nudge.state != NudgeState.DELIVERED or nudge.agent is None:
            return
        mine = self._delivered.get((nudge.shop, nudge.agent))
        if mine is not None:
            mine.pop(nudge.id, None)
            if not mine:
                del self._delivered[(nudge.shop, nudge.agent)]

    def knows(self, shop: str, order: str) -> bool:
        return (shop, order) in self.orders

    def reload(self, order: Order) -> None:
        """Take back an order that left memory (its nudges were all done), as stored."""
        self._remember(order)

    def order_nudges(self, shop: str, order: str) -> list[Nudge]:
        return list(self._by_order.get((shop, order), {}).values())

    def restore(self, orders: Iterable[Order], nudges: Iterable[Nudge]) -> None:
        for order in sorted(orders, key=lambda o: o.created_at):
            self._remember(order)
        for nudge in nudges:
            self._add(nudge)
            if nudge.state == NudgeState.PENDING:
                self._schedule(nudge, nudge.due_at)
            elif nudge.state == NudgeState.DELIVERED and nudge.delivered_at is not None:
                self._schedule(nudge, nudge.delivered_at + self.policy.reassign_after_s)

    def forget(self, shop: str) -> None:
        """Drop a shop's orders and nudges (another process took the shop over)."""
        for key in [key for key in self.nudges if key[0] == shop]:
            self.nudges.pop(key).wake = None  # its heap entries are stale now
        for index in (self.orders, self._latest, self._waiting, self._by_order, self._delivered):
            for key in [key for key in index if key[0] == shop]:
                del index[key]
        self._unassigned.pop(shop, None)
        self._per_shop.pop(shop, None)

    # --- time -------------------------------------------------------------------------------

    def next_wake(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2].wake != heap[0][0]:
            heapq.heappop(heap)
        wakes = [heap[0][0]] if heap else []
        leaving = self._leaving
        while leaving and self._stale_leave(*leaving[0]):
            heapq.heappop(leaving)
        if leaving:
            wakes.append(leaving[0][0])
        return min(wakes, default=None)

    def _stale_leave(self, at: float, key: tuple[str, str]) -> bool:
        """The order left already, or changed since: a later entry stands for it."""
        order = self.orders.get(key)
        return order is None or self._leaves_at(order) > at

    def advance(self, now: float, world: World) -> list[Effect]:
        effects: list[Effect] = []
        self._let_go(now)
        heap = self._heap
        while heap and heap[0][0] <= now:
            wake, _, nudge = heapq.heappop(heap)
            if nudge.wake != wake:
                continue
            nudge.wake = None
            if nudge.state == NudgeState.PENDING:
                effects += self._consider(nudge, now, world)
            elif nudge.state == NudgeState.DELIVERED:
                effects += self._maybe_reassign(nudge, now, world)
        return effects

    def _let_go(self, now: float) -> None:
        """Drop from memory the settled orders whose time came (see the module docstring)."""
        leaving = self._leaving
        while leaving and leaving[0][0] <= now:
            at, key = heapq.heappop(leaving)
            order = self.orders.get(key)
            if order is None or self._stale_leave(at, key):
                continue
            if self._open_nudges(order):
                assert self.idle_s is not None
                heapq.heappush(leaving, (now + self.idle_s, key))
                continue
            del self.orders[key]
            self._per_shop[order.shop] -= 1
            for nudge in self._by_order.pop(key, {}).values():
                del self.nudges[nudge.key]
            if order.conversation is not None:
                where = (order.shop, order.conversation)
                if self._latest.get(where) == order.order:
                    del self._latest[where]
                parked = [n for n in self._waiting.get(where, ()) if n.order != order.order]
                if parked:
                    self._waiting[where] = parked
                else:
                    self._waiting.pop(where, None)

    def conversation_answered(self, shop: str, conversation: str, now: float) -> None:
        """Release nudges that waited for the buyer's question to be answered."""
        for nudge in self._waiting.pop((shop, conversation), ()):
            if nudge.waiting:
                nudge.waiting = False
                self._schedule(nudge, now)

    def agent_connected(self, shop: str, agent: str, now: float, world: World) -> list[Effect]:
        """Deliver what waited for any agent of the shop to come online."""
        effects: list[Effect] = []
        for nudge in self._unassigned.pop(shop, {}).values():
            if nudge.state == NudgeState.PENDING and nudge.wake is None and not nudge.waiting:
                effects += self._consider(nudge, now, world)
        return effects

    # --- agents -----------------------------------------------------------------------------

    def ack(
        self, shop: str, agent: str, nudge_key: str, action: str, snooze_s: float | None, now: float
    ) -> SaveNudges:
        nudge = self.nudges.get((shop, nudge_key))
        if nudge is None or nudge.state != NudgeState.DELIVERED:
            raise NotFound(f"no nudge waiting for an answer: {nudge_key!r}")
        if action == NudgeAction.SNOOZED:
            if snooze_s is None or not 0 < snooze_s <= MAX_SNOOZE_S:
                raise BadField.must_be(
                    "snooze_s",
                    "nudge_ack",
                    f"more than 0 and at most {MAX_SNOOZE_S:g} seconds",
                    snooze_s,
                )
            self._undeliver(nudge)
            nudge.state = NudgeState.PENDING
            nudge.agent = agent
            nudge.due_at = self.policy.clock.next_allowed(now + snooze_s)
            self._schedule(nudge, nudge.due_at)
        else:
            self._close(nudge, NudgeOutcome(action), now)
        return SaveNudges((replace(nudge),))

    def latest_order(self, shop: str, conversation: str) -> Order | None:
        """The buyer's most recent order in this conversation, if one is known."""
        number = self._latest.get((shop, conversation))
        return self.orders[(shop, number)] if number is not None else None

    def delivered_to(self, shop: str, agent: str) -> list[Nudge]:
        """Nudges delivered to ``agent`` and not acted on: sent again after a reconnect."""
        mine = self._delivered.get((shop, agent), {})
        return sorted(mine.values(), key=lambda n: (n.due_at, n.id))

    def due(self, nudge: Nudge) -> NudgeDue:
        """``nudge`` as its agent's panel shows it, with its order as it is now."""
        order = self.orders[(nudge.shop, nudge.order)]
        return NudgeDue(
            nudge.id,
            order.order,
            order.buyer,
            order.conversation,
            nudge.attempt,
            nudge.due_at,
            order.amount,
            nudge_text(order, NudgeKind(nudge.kind)),
        )

    # --- internals --------------------------------------------------------------------------

    def _consider(self, nudge: Nudge, now: float, world: World) -> list[Effect]:
        order = self.orders[(nudge.shop, nudge.order)]
        verdict = decide(
            nudge.due_at,
            order,
            now,
            question_open=world.question_open(order.shop, order.conversation),
            after_sales_open=world.after_sales_open(order.shop, order.conversation),
            policy=self.policy,
        )
        decision = verdict.decision
        if decision is Decision.FIRE:
            return self._fire(nudge, order, now, world)
        if decision is Decision.DEFER:
            assert verdict.retry_at is not None
            self._schedule(nudge, verdict.retry_at)
            return []
        if decision is Decision.WAIT:
            nudge.waiting = True
            self._waiting.setdefault((order.shop, order.conversation or ""), []).append(nudge)
            self._schedule(nudge, order.closes_at)  # expire even if never answered
            return []
        outcome = _OUTCOMES.get(decision, NudgeOutcome.CANCELLED)
        self._close(nudge, outcome, now)
        return [SaveNudges((replace(nudge),))]

    def _fire(self, nudge: Nudge, order: Order, now: float, world: World) -> list[Effect]:
        online = world.online_agents(nudge.shop)
        # The conversation's agent; once it left memory, whoever had the order's last nudge.
        owner = (
            nudge.agent or world.owner(order.shop, order.conversation) or self._last_agent(nudge)
        )
        if owner in online:
            agent: str | None = owner
        else:
            pending = {a: len(self.delivered_to(nudge.shop, a)) for a in online}
            agent = choose_agent(pending, exclude="")
        if agent is None:
            # Nobody online: agent_connected() delivers it to the first one.
            self._unassigned.setdefault(nudge.shop, {})[nudge.id] = nudge
            return []
        self._deliver_to(nudge, agent)
        nudge.delivered_at = now
        if nudge.fired_at is None:
            nudge.fired_at = now
        self._schedule(nudge, now + self.policy.reassign_after_s)
        return [Deliver(replace(nudge), agent, self.due(nudge))]

    def _last_agent(self, nudge: Nudge) -> str | None:
        earlier = [n for n in self.order_nudges(nudge.shop, nudge.order) if n.agent is not None]
        return max(earlier, key=lambda n: n.attempt).agent if earlier else None

    def _maybe_reassign(self, nudge: Nudge, now: float, world: World) -> list[Effect]:
        """Seed 002: an unpaid order whose agent is offline and silent for 24 h moves on."""
        assert nudge.agent is not None and nudge.delivered_at is not None
        order = self.orders[(nudge.shop, nudge.order)]
        if now >= order.closes_at:
            self._close(nudge, NudgeOutcome.EXPIRED, now)
            return [SaveNudges((replace(nudge),))]
        online = world.online_agents(nudge.shop)
        delivery = Delivery(nudge.id, nudge.agent, nudge.delivered_at)
        if not reassign_due(
            delivery, order, now, agent_online=nudge.agent in online, policy=self.policy
        ):
            self._schedule(nudge, min(now + RECHECK_S, order.closes_at))
            return []
        pending = {a: len(self.delivered_to(nudge.shop, a)) for a in online}
        agent = choose_agent(pending, exclude=nudge.agent)
        if agent is None:
            self._schedule(nudge, min(now + RECHECK_S, order.closes_at))
            return []
        self._deliver_to(nudge, agent)
        nudge.delivered_at = now
        self._schedule(nudge, now + self.policy.reassign_after_s)
        return [Deliver(replace(nudge), agent, self.due(nudge))]

    def _close(self, nudge: Nudge, outcome: NudgeOutcome, now: float) -> None:
        self._undeliver(nudge)
        nudge.state = NudgeState.DONE
        nudge.outcome = outcome
        nudge.closed_at = now
        nudge.waiting = False
        nudge.wake = None

    def _schedule(self, nudge: Nudge, at: float) -> None:
        nudge.wake = at
        self._counter += 1
        heapq.heappush(self._heap, (at, self._counter, nudge))
