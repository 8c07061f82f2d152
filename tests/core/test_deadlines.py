"""Process deadlines and the idle-agent rule on a fake clock (times passed in, never read)."""

from __future__ import annotations

import random

import pytest

from server.core.deadlines import (
    DEFAULT_DEADLINES,
    Clock,
    Deadlines,
    IdleAlert,
    IdleWatch,
    Outcome,
    asks_refund,
    confirms_order,
    parse_deadlines,
    promises_wait,
)
from server.errors import SettingsError

T0 = 1_780_000_000.0


def clocks() -> Deadlines:
    return Deadlines(parse_deadlines(None))


@pytest.mark.parametrize(
    ("kind", "due_s"),
    [("order_confirm", 600), ("refund", 1800), ("wait_promise", 120), ("unshipped", 172800)],
)
def test_each_deadline_met_at_its_due_time_and_missed_just_after(kind, due_s):
    book = clocks()
    clock = book.start(kind, "c1", "alice", T0)
    assert clock == Clock(kind, "c1", "alice", T0, T0 + due_s)
    assert book.next_wake() == T0 + due_s
    assert book.advance(T0 + due_s) == []  # due at, not before: still open
    assert book.done(kind, "c1", T0 + due_s) == Outcome(clock, True, T0 + due_s)
    assert book.advance(T0 + 10 * due_s) == [] and book.next_wake() is None

    late = book.start(kind, "c2", "bob", T0)
    assert book.advance(T0 + due_s + 0.001) == [Outcome(late, False, T0 + due_s)]
    assert book.done(kind, "c2", T0 + due_s + 1) is None  # a miss is reported once


def test_a_second_start_keeps_the_first_due_time_and_missed_come_in_due_order():
    book = clocks()
    first = book.start("refund", "c1", "alice", T0)
    assert book.start("refund", "c1", "alice", T0 + 500) is None  # first still runs
    assert book.open[("refund", "c1")] is first
    promise = book.start("wait_promise", "c1", "alice", T0 + 100)
    order = book.start("order_confirm", "c2", "bob", T0)
    missed = book.advance(T0 + 3600)
    assert [(o.clock.kind, o.at) for o in missed] == [
        ("wait_promise", T0 + 220),
        ("order_confirm", T0 + 600),
        ("refund", T0 + 1800),
    ]
    assert missed[1].clock is order and promise.due_at == T0 + 220


def test_a_restarted_clock_leaves_no_stale_miss():
    book = clocks()
    book.start("wait_promise", "c1", "alice", T0)
    book.done("wait_promise", "c1", T0 + 60)
    again = book.start("wait_promise", "c1", "alice", T0 + 100)
    assert book.next_wake() == T0 + 220
    assert book.advance(T0 + 221) == [Outcome(again, False, T0 + 220)]


def test_deadlines_are_configurable_and_bad_values_name_the_key():
    assert parse_deadlines({"refund": 900})["refund"] == 900.0
    assert set(parse_deadlines({})) == set(DEFAULT_DEADLINES)
    for raw, message in [
        ([], "deadlines: expected a mapping, got []"),
        ({"ship": 1}, "deadlines: unknown deadline: 'ship'"),
        ({"refund": 0}, "deadlines.refund: expected a positive number of seconds, got 0"),
        ({"refund": "30m"}, "deadlines.refund: expected a positive number of seconds, got '30m'"),
    ]:
        with pytest.raises(SettingsError) as caught:
            parse_deadlines(raw)
        assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("好的,幫您挑選最適合的幾款,請您稍等", True),  # seed 000, as written
        ("好的亲，请稍等，我帮您查一下", True),
        ("亲稍候哦，马上帮您看库存", True),
        ("我问一下仓库，等一下回复您", True),
        ("快递可能要稍等两天才到哦", False),  # the parcel, not the chat
        ("好的亲，已经帮您备注了", False),
    ],
)
def test_the_please_wait_promise(text, expected):
    assert promises_wait(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我拍错了，能退款吗", True),
        ("不想买了", True),
        ("这个怎么申请售后", True),
        ("我想换货换个颜色", True),
        ("什么时候发货", False),
    ],
)
def test_refund_and_after_sales_requests(text, expected):
    assert asks_refund(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("亲，跟您核对一下收货地址：", True),
        ("麻烦您确认下订单信息是否正确", True),
        ("好的亲，已经发货了", False),
    ],
)
def test_order_confirmation_lines(text, expected):
    assert confirms_order(text) is expected


def test_idle_alert_needs_online_waiting_buyers_and_the_whole_span():
    watch = IdleWatch(after_s=600)
    watch.online("alice", T0)
    assert watch.advance(T0 + 3600) == []  # nobody waiting: not an alert
    watch.active("alice", T0 + 3600)
    watch.waiting("alice", 2, T0 + 3000)  # waiting before the last activity: idle from it
    assert watch.advance(T0 + 3600 + 599) == []
    assert watch.advance(T0 + 4200) == [IdleAlert("alice", T0 + 3600, T0 + 4200, 2)]
    assert watch.advance(T0 + 9000) == []  # once per span
    assert watch.active("alice", T0 + 3600 + 7200) == 7200  # the span, for the ledger
    assert watch.active("alice", T0 + 3600 + 7300) is None  # no alert, no span


def test_idle_counts_from_when_buyers_began_waiting_not_from_an_old_activity():
    watch = IdleWatch(after_s=600)
    watch.online("alice", T0)  # away all night, nobody waiting: not idle
    watch.waiting("alice", 1, T0 + 36000)
    assert watch.next_wake() == T0 + 36600
    assert watch.advance(T0 + 36599) == []
    assert watch.advance(T0 + 36600) == [IdleAlert("alice", T0 + 36000, T0 + 36600, 1)]
    assert watch.active("alice", T0 + 37000) == 1000  # the span since the buyer came
    watch.waiting("alice", 2, T0 + 37100)  # still waiting: the count changes, not the start
    assert watch.next_wake() == T0 + 37600


def test_an_idle_span_ends_at_logout_and_offline_agents_never_alert():
    watch = IdleWatch(after_s=600)
    watch.online("bob", T0)
    watch.waiting("bob", 1, T0)
    assert [a.agent for a in watch.advance(T0 + 600)] == ["bob"]
    assert watch.offline("bob", T0 + 1000) == 1000
    assert watch.advance(T0 + 5000) == []
    assert watch.offline("bob", T0 + 6000) is None
    watch.online("bob", T0 + 7000)  # a new session starts a new span
    assert watch.advance(T0 + 7599) == []
    assert watch.advance(T0 + 7600) == [IdleAlert("bob", T0 + 7000, T0 + 7600, 1)]


def test_the_next_idle_alert_is_the_earliest_one_armed_after_any_sequence_of_events():
    # The watch keeps a heap with lazy deletion; a scan of every agent is the reference.
    rng = random.Random(17)
    watch = IdleWatch(after_s=600)
    agents = [f"a{n}" for n in range(6)]
    now = 0.0
    for _ in range(3000):
        now += rng.uniform(0, 120)
        agent, event = rng.choice(agents), rng.randrange(5)
        if event == 0:
            watch.online(agent, now)
        elif event == 1:
            watch.waiting(agent, rng.choice((0, 0, 1, 3)), now)
        elif event == 2:
            watch.active(agent, now)
        elif event == 3:
            watch.offline(agent, now)
        else:
            watch.advance(now)
        expected = min(
            (
                state.idle_since + 600
                for state in watch.agents.values()
                if state.online and state.waiting and not state.alerted
            ),
            default=None,
        )
        assert watch.next_wake() == expected
    assert len(watch._due) <= 4 * len(agents) + 65  # superseded entries do not pile up
