"""The nudge book on a fake clock: intake, firing once, acks, forgetting a shop."""

from __future__ import annotations

import pytest

from server.core.nudgebook import Deliver, NudgeBook, NudgeState
from server.core.nudges import NudgePolicy, OrderEvent, OrderStatus
from server.errors import LimitExceeded

NOON = 1_794_801_600.0  # 2026-11-16 12:00 in Shanghai
POLICY = NudgePolicy.from_settings({"delays_s": [900], "final_before_close_s": 0})


class World:
    def __init__(self, online: list[str], question: bool = False) -> None:
        self.online, self.question = online, question

    def question_open(self, shop, conversation):
        return self.question

    def after_sales_open(self, shop, conversation):
        return False

    def owner(self, shop, conversation):
        return "alice"

    def online_agents(self, shop):
        return self.online


def created(book: NudgeBook, shop: str = "s1", order: str = "o1") -> None:
    event = OrderEvent(shop, order, "tom", OrderStatus.CREATED, "c1", "9.90", NOON)
    change = book.prepare(event, NOON)
    assert change is not None
    book.commit(change)


def test_a_due_nudge_fires_once_to_its_conversation_owner():
    book = NudgeBook(POLICY)
    created(book)
    assert book.next_wake() == NOON + 900
    effects = book.advance(NOON + 900, World(["alice", "amy"]))
    assert [type(e) for e in effects] == [Deliver]
    assert effects[0].agent == "alice" and effects[0].due.nudge == "n-o1-1"
    assert effects[0].nudge.fired_at == NOON + 900
    assert book.advance(NOON + 901, World(["alice"])) == []
    assert book.nudges[("s1", "n-o1-1")].state == NudgeState.DELIVERED


def test_a_repeat_changes_nothing_and_paid_cancels():
    book = NudgeBook(POLICY)
    created(book)
    assert book.prepare(OrderEvent("s1", "o1", "tom", OrderStatus.CREATED), NOON + 5) is None
    change = book.prepare(OrderEvent("s1", "o1", "tom", OrderStatus.PAID), NOON + 10)
    assert change is not None and [n.outcome for n in change.closed] == ["cancelled"]
    book.commit(change)
    assert book.nudges[("s1", "n-o1-1")].state == NudgeState.DONE
    assert book.advance(NOON + 900, World(["alice"])) == []


def test_waiting_on_a_question_then_released_when_answered():
    book = NudgeBook(POLICY)
    created(book)
    assert book.advance(NOON + 900, World(["alice"], question=True)) == []
    book.conversation_answered("s1", "c1", NOON + 950)
    effects = book.advance(NOON + 950, World(["alice"]))
    assert [type(e) for e in effects] == [Deliver]


def test_forgetting_a_shop_drops_its_orders_and_deadlines():
    book = NudgeBook(POLICY)
    created(book, "s1")
    created(book, "s2", "o2")
    book.forget("s1")
    assert list(book.orders) == [("s2", "o2")] and book.latest_order("s1", "c1") is None
    effects = book.advance(NOON + 900, World(["bob"]))
    assert [e.due.nudge for e in effects if isinstance(e, Deliver)] == ["n-o2-1"]


def paid(book: NudgeBook, at: float) -> None:
    change = book.prepare(OrderEvent("s1", "o1", "tom", OrderStatus.PAID), at)
    assert change is not None
    book.commit(change)


def test_a_paid_order_leaves_memory_once_idle_with_its_nudges():
    book = NudgeBook(POLICY, idle_s=600.0)
    created(book)
    paid(book, NOON + 60)  # the event has no ts: settled when it arrived
    assert book.next_wake() == NOON + 660  # the cancelled nudge needs no wake; leaving does
    book.advance(NOON + 659, World(["alice"]))
    assert book.knows("s1", "o1") and book.latest_order("s1", "c1") is not None
    book.advance(NOON + 660, World(["alice"]))
    assert not book.knows("s1", "o1")
    assert (book.nudges, book.latest_order("s1", "c1"), book.next_wake()) == ({}, None, None)


def test_an_unpaid_order_stays_until_past_its_close_and_its_nudges_are_done():
    book = NudgeBook(POLICY, idle_s=600.0)
    created(book)
    close = NOON + POLICY.close_after_s
    book.advance(NOON + 900, World([]))  # due, nobody online: pending, not done
    book.advance(close + 600, World([]))
    assert book.knows("s1", "o1")  # a pending nudge keeps it
    (nudge,) = book.order_nudges("s1", "o1")
    book.agent_connected("s1", "alice", close + 601, World(["alice"]))  # expires, being past close
    assert nudge.state == NudgeState.DONE
    book.advance(close + 1201, World([]))
    assert not book.knows("s1", "o1")


def test_a_shop_past_its_order_cap_gets_a_typed_error_and_others_do_not():
    book = NudgeBook(POLICY, max_per_shop=1)
    created(book)
    with pytest.raises(LimitExceeded) as raised:
        created(book, order="o2")
    assert str(raised.value) == (
        "shop 's1' has 1 orders in memory, the most allowed (KEFU_MAX_ORDERS_PER_SHOP)"
    )
    assert book.prepare(OrderEvent("s1", "o1", "tom", OrderStatus.CREATED), NOON) is None
    created(book, shop="s2", order="o2")


def test_nudges_delivered_to_an_agent_are_indexed_by_agent():
    book = NudgeBook(POLICY)
    created(book)
    created(book, order="o2")
    assert len(book.advance(NOON + 900, World(["alice"]))) == 2
    assert [n.id for n in book.delivered_to("s1", "alice")] == ["n-o1-1", "n-o2-1"]
    book.ack("s1", "alice", "n-o1-1", "snoozed", 60.0, NOON + 901)
    assert [n.id for n in book.delivered_to("s1", "alice")] == ["n-o2-1"]
    book.ack("s1", "alice", "n-o2-1", "sent", None, NOON + 902)
    assert book.delivered_to("s1", "alice") == []
