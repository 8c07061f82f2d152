"""The unpaid-order nudge policy, on a fake clock: every instant is built from a local wall time."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, time
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from server.core.nudges import (
    CancelNudges,
    DayOutcome,
    Decision,
    Delivery,
    FiredNudge,
    NudgeKind,
    NudgePolicy,
    Order,
    OrderEvent,
    OrderStatus,
    PlannedNudge,
    PlanNudges,
    Verdict,
    apply_event,
    choose_agent,
    daily_outcomes,
    decide,
    nudge_text,
    plan,
    reassign_due,
)
from server.core.quiet_hours import QuietHours, ShopClock
from server.errors import SettingsError

SHANGHAI = "Asia/Shanghai"
NEW_YORK = "America/New_York"
DEFAULT = NudgePolicy()
HOUR = 3600.0


def at(
    month: int, day: int, hour: int, minute: int = 0, tz: str = SHANGHAI, year: int = 2024
) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz)).timestamp()


def order_at(created_at: float, **changes: Any) -> Order:
    order = Order(
        shop="s1",
        order="o1",
        buyer="b1",
        conversation="c1",
        status=OrderStatus.CREATED,
        amount="99.00",
        created_at=created_at,
        closes_at=created_at + DEFAULT.close_after_s,
        updated_at=created_at,
    )
    return replace(order, **changes)


def event(status: OrderStatus, ts: float | None, **changes: Any) -> OrderEvent:
    return replace(OrderEvent("s1", "o1", "b1", status, conversation="c1", ts=ts), **changes)


# --- settings ---------------------------------------------------------------------------------


def test_empty_settings_give_the_documented_defaults() -> None:
    policy = NudgePolicy.from_settings({})
    assert policy == DEFAULT
    assert (policy.delays_s, policy.final_before_close_s, policy.close_after_s) == (
        (900.0, 10800.0),
        14400.0,
        259200.0,
    )
    assert (policy.quiet_start, policy.quiet_end, policy.wake_at) == (
        time(23, 0),
        time(9, 0),
        time(10, 0),
    )
    assert (policy.timezone, policy.max_per_day, policy.min_gap_s) == (SHANGHAI, 3, 1800.0)
    assert policy.reassign_after_s == 86400.0


def test_settings_override_every_field() -> None:
    policy = NudgePolicy.from_settings(
        {
            "delays_s": [3600, 600],
            "final_before_close_s": 0,
            "close_after_s": 86400,
            "quiet_hours": "22:30-8:00",
            "wake_at": "9:15",
            "timezone": NEW_YORK,
            "max_per_day": 2,
            "min_gap_s": 0,
            "reassign_after_s": 7200,
        }
    )
    assert policy == NudgePolicy(
        delays_s=(600.0, 3600.0),
        final_before_close_s=0.0,
        close_after_s=86400.0,
        quiet_start=time(22, 30),
        quiet_end=time(8, 0),
        wake_at=time(9, 15),
        timezone=NEW_YORK,
        max_per_day=2,
        min_gap_s=0.0,
        reassign_after_s=7200.0,
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"quiet_hours": "25:00-9"}, "nudges.quiet_hours: expected 'HH:MM-HH:MM', got '25:00-9'"),
        ({"quiet_hours": 23}, "nudges.quiet_hours: expected 'HH:MM-HH:MM', got 23"),
        (
            {"quiet_hours": "9:00-09:00"},
            "nudges.quiet_hours: start and end are equal, got '09:00-09:00'",
        ),
        ({"wake_at": "10:60"}, "nudges.wake_at: expected 'HH:MM', got '10:60'"),
        (
            {"wake_at": "08:00"},
            "nudges.wake_at: falls inside quiet hours '23:00-09:00', got '08:00'",
        ),
        (
            {"wake_at": "23:00"},
            "nudges.wake_at: falls inside quiet hours '23:00-09:00', got '23:00'",
        ),
        ({"timezone": "Mars/Base"}, "nudges.timezone: unknown time zone, got 'Mars/Base'"),
        ({"timezone": "../etc/passwd"}, "nudges.timezone: unknown time zone, got '../etc/passwd'"),
        ({"timezone": 8}, "nudges.timezone: expected a time zone name, got 8"),
        (
            {"delays_s": [900, -5]},
            "nudges.delays_s: expected a list of positive seconds, got [900, -5]",
        ),
        ({"delays_s": "900"}, "nudges.delays_s: expected a list of positive seconds, got '900'"),
        ({"delays_s": [True]}, "nudges.delays_s: expected a list of positive seconds, got [True]"),
        (
            {"delays_s": [900, 300000]},
            "nudges.delays_s: expected positive seconds below close_after_s (259200), "
            "got [900, 300000]",
        ),
        (
            {"final_before_close_s": 259200},
            "nudges.final_before_close_s: expected seconds below close_after_s (259200), "
            "got 259200",
        ),
        (
            {"final_before_close_s": -1},
            "nudges.final_before_close_s: expected a non-negative number of seconds, got -1",
        ),
        (
            {"close_after_s": 0},
            "nudges.close_after_s: expected a positive number of seconds, got 0",
        ),
        (
            {"close_after_s": "3d"},
            "nudges.close_after_s: expected a positive number of seconds, got '3d'",
        ),
        ({"max_per_day": 0}, "nudges.max_per_day: expected a positive integer, got 0"),
        ({"max_per_day": 2.5}, "nudges.max_per_day: expected a positive integer, got 2.5"),
        (
            {"min_gap_s": -60},
            "nudges.min_gap_s: expected a non-negative number of seconds, got -60",
        ),
        (
            {"reassign_after_s": 0},
            "nudges.reassign_after_s: expected a positive number of seconds, got 0",
        ),
        ({"delay_s": [900]}, "nudges: unknown field: 'delay_s'"),
    ],
)
def test_settings_errors_name_the_setting_and_quote_the_value(
    raw: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        NudgePolicy.from_settings(raw)
    assert str(caught.value) == message


# --- quiet hours --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clock", "quiet"),
    [
        (time(22, 59, 59), False),
        (time(23, 0), True),
        (time(0, 0), True),
        (time(3, 0), True),
        (time(8, 59, 59), True),
        (time(9, 0), False),
        (time(12, 0), False),
    ],
)
def test_quiet_hours_cross_midnight(clock: time, quiet: bool) -> None:
    assert QuietHours(time(23, 0), time(9, 0)).contains(clock) is quiet


@pytest.mark.parametrize(
    ("clock", "quiet"), [(time(12, 59), False), (time(13, 0), True), (time(14, 0), False)]
)
def test_quiet_hours_within_one_day(clock: time, quiet: bool) -> None:
    assert QuietHours(time(13, 0), time(14, 0)).contains(clock) is quiet


def test_quiet_hours_refuse_an_empty_window() -> None:
    with pytest.raises(ValueError, match="quiet hours start and end are equal: 09:00"):
        QuietHours(time(9, 0), time(9, 0))


# --- planning -----------------------------------------------------------------------------------


def test_order_at_2255_collapses_both_delays_into_one_nudge_at_ten() -> None:
    # 23:10 and 01:55 are both quiet; both move to 10:00 and merge, keeping the friendly wording.
    assert plan(at(5, 10, 22, 55), DEFAULT) == (
        PlannedNudge(at(5, 11, 10, 0), 1, NudgeKind.REMINDER),
        PlannedNudge(at(5, 13, 18, 55), 2, NudgeKind.CLOSING),
    )


def test_order_at_0850_pulls_a_night_closing_nudge_back_to_the_last_morning() -> None:
    # Closes 05-13 08:50; the closing nudge (04:50) is quiet and 10:00 would be too late.
    assert plan(at(5, 10, 8, 50), DEFAULT) == (
        PlannedNudge(at(5, 10, 9, 5), 1, NudgeKind.REMINDER),
        PlannedNudge(at(5, 10, 11, 50), 2, NudgeKind.FOLLOW_UP),
        PlannedNudge(at(5, 12, 10, 0), 3, NudgeKind.CLOSING),
    )


def test_nudges_closer_than_min_gap_merge_into_the_earlier_one() -> None:
    # 07:05 moves to 10:00, ten minutes after the 09:50 follow-up: one nudge, friendly wording.
    assert plan(at(5, 10, 6, 50), DEFAULT) == (
        PlannedNudge(at(5, 10, 9, 50), 1, NudgeKind.REMINDER),
        PlannedNudge(at(5, 12, 10, 0), 2, NudgeKind.CLOSING),
    )


def test_closing_wording_wins_a_merge() -> None:
    policy = replace(DEFAULT, delays_s=(900.0, 10800.0, 241200.0))
    # The 67 h follow-up (17:00 on 05-13) and the closing nudge (18:00) are 1 h apart: both kept.
    assert plan(at(5, 10, 22, 0), policy) == (
        PlannedNudge(at(5, 10, 22, 15), 1, NudgeKind.REMINDER),
        PlannedNudge(at(5, 11, 10, 0), 2, NudgeKind.FOLLOW_UP),
        PlannedNudge(at(5, 13, 17, 0), 3, NudgeKind.FOLLOW_UP),
        PlannedNudge(at(5, 13, 18, 0), 4, NudgeKind.CLOSING),
    )
    # With a 2 h gap they merge at the earlier time, with the closing wording.
    wide_gap = replace(policy, min_gap_s=2 * HOUR)
    assert plan(at(5, 10, 22, 0), wide_gap)[2:] == (
        PlannedNudge(at(5, 13, 17, 0), 3, NudgeKind.CLOSING),
    )


def test_daily_cap_moves_the_extra_nudge_to_the_next_wake_at() -> None:
    policy = replace(
        DEFAULT, delays_s=(600.0, 1200.0, 1800.0, 2400.0), final_before_close_s=0.0, min_gap_s=0.0
    )
    assert plan(at(5, 10, 12, 0), policy) == (
        PlannedNudge(at(5, 10, 12, 10), 1, NudgeKind.REMINDER),
        PlannedNudge(at(5, 10, 12, 20), 2, NudgeKind.FOLLOW_UP),
        PlannedNudge(at(5, 10, 12, 30), 3, NudgeKind.FOLLOW_UP),
        PlannedNudge(at(5, 11, 10, 0), 4, NudgeKind.FOLLOW_UP),
    )


def test_nothing_is_planned_at_or_after_the_close_time() -> None:
    policy = replace(DEFAULT, close_after_s=4 * HOUR, delays_s=(900.0,), final_before_close_s=0.0)
    # Created 22:50, closes 02:50: the delay is quiet and the next 10:00 is past the close.
    assert plan(at(5, 10, 22, 50), policy) == ()
    # Created 06:00, closes 10:00: the delay moves to 10:00 exactly, the close time itself.
    assert plan(at(5, 10, 6, 0), policy) == ()
    assert plan(at(5, 10, 20, 0), policy) == (
        PlannedNudge(at(5, 10, 20, 15), 1, NudgeKind.REMINDER),
    )


def test_dst_days_keep_wall_clock_times_in_new_york() -> None:
    policy = replace(DEFAULT, timezone=NEW_YORK, final_before_close_s=0.0)
    # The night clocks spring forward (03-10) and fall back (11-03): still 10:00 local.
    assert plan(at(3, 9, 22, 55, NEW_YORK), policy) == (
        PlannedNudge(at(3, 10, 10, 0, NEW_YORK), 1, NudgeKind.REMINDER),
    )
    assert at(3, 10, 10, 0, NEW_YORK) - at(3, 9, 22, 55, NEW_YORK) == 10 * HOUR + 5 * 60
    assert plan(at(11, 2, 22, 55, NEW_YORK), policy) == (
        PlannedNudge(at(11, 3, 10, 0, NEW_YORK), 1, NudgeKind.REMINDER),
    )
    assert at(11, 3, 10, 0, NEW_YORK) - at(11, 2, 22, 55, NEW_YORK) == 12 * HOUR + 5 * 60


def test_dst_cap_move_lands_on_next_days_local_wake_at() -> None:
    policy = replace(
        DEFAULT,
        timezone=NEW_YORK,
        delays_s=(600.0, 1200.0),
        final_before_close_s=0.0,
        min_gap_s=0.0,
        max_per_day=1,
    )
    assert plan(at(3, 9, 12, 0, NEW_YORK), policy) == (
        PlannedNudge(at(3, 9, 12, 10, NEW_YORK), 1, NudgeKind.REMINDER),
        PlannedNudge(at(3, 10, 10, 0, NEW_YORK), 2, NudgeKind.FOLLOW_UP),
    )


def test_a_wake_at_skipped_by_dst_that_lands_in_quiet_hours_moves_one_more_day() -> None:
    zone = ZoneInfo(NEW_YORK)
    clock = ShopClock(QuietHours(time(2, 45), time(5, 0)), time(2, 30), zone)
    # 02:30 does not exist on 03-10; it resolves to 03:30, which is quiet.
    assert clock.next_allowed(at(3, 10, 3, 0, NEW_YORK)) == at(3, 11, 2, 30, NEW_YORK)


# --- order events -------------------------------------------------------------------------------


def test_a_new_unpaid_order_plans_its_nudges() -> None:
    created = at(5, 10, 8, 50)
    order, effects = apply_event(
        None, event(OrderStatus.CREATED, created, amount="99.00"), created, DEFAULT
    )
    assert order == order_at(created)
    assert effects == (PlanNudges("o1", plan(created, DEFAULT)),)


def test_an_order_first_seen_late_fires_only_the_latest_overdue_nudge() -> None:
    created = at(5, 10, 8, 50)
    _, effects = apply_event(None, event(OrderStatus.CREATED, created), at(5, 10, 12, 0), DEFAULT)
    assert effects == (
        PlanNudges(
            "o1",
            (
                PlannedNudge(at(5, 10, 11, 50), 2, NudgeKind.FOLLOW_UP),
                PlannedNudge(at(5, 12, 10, 0), 3, NudgeKind.CLOSING),
            ),
        ),
    )


def test_an_event_without_ts_happens_now() -> None:
    now = at(5, 10, 8, 50)
    order, _ = apply_event(None, event(OrderStatus.CREATED, None), now, DEFAULT)
    assert (order.created_at, order.closes_at, order.updated_at) == (now, now + 259200.0, now)


def test_the_same_event_twice_changes_nothing() -> None:
    created = at(5, 10, 8, 50)
    order, _ = apply_event(None, event(OrderStatus.CREATED, created), created, DEFAULT)
    again, effects = apply_event(order, event(OrderStatus.CREATED, created), created + 5, DEFAULT)
    assert again is order
    assert effects == ()


def test_a_repeat_fills_in_conversation_and_amount_without_replanning() -> None:
    created = at(5, 10, 8, 50)
    order, _ = apply_event(
        None, event(OrderStatus.CREATED, created, conversation=None), created, DEFAULT
    )
    assert (order.conversation, order.amount) == (None, None)
    again, effects = apply_event(
        order, event(OrderStatus.CREATED, created + 60, amount="12.50"), created + 60, DEFAULT
    )
    assert again == replace(order, conversation="c1", amount="12.50")
    assert effects == ()


@pytest.mark.parametrize("status", [OrderStatus.PAID, OrderStatus.SHIPPED])
def test_paid_or_shipped_cancels_pending_nudges_and_records_payment(status: OrderStatus) -> None:
    created = at(5, 10, 8, 50)
    order = order_at(created)
    after, effects = apply_event(order, event(status, created + HOUR), created + HOUR, DEFAULT)
    assert after == replace(order, status=status, updated_at=created + HOUR, paid_at=created + HOUR)
    assert effects == (CancelNudges("o1", status),)


def test_a_paid_event_stamped_before_the_last_update_still_counts() -> None:
    # Sources disagree on clocks: payment is a fact even when its ts is older than our record.
    created = at(5, 10, 8, 50)
    order = order_at(created, conversation=None, updated_at=created + 2 * HOUR)
    after, effects = apply_event(
        order, event(OrderStatus.PAID, created + HOUR), created + 3 * HOUR, DEFAULT
    )
    assert after == replace(
        order, status=OrderStatus.PAID, conversation="c1", paid_at=created + HOUR
    )
    assert effects == (CancelNudges("o1", OrderStatus.PAID),)


def test_closed_cancels_pending_nudges_without_payment() -> None:
    created = at(5, 10, 8, 50)
    order = order_at(created)
    after, effects = apply_event(
        order, event(OrderStatus.CLOSED, created + HOUR), created + HOUR, DEFAULT
    )
    assert after == replace(order, status=OrderStatus.CLOSED, updated_at=created + HOUR)
    assert effects == (CancelNudges("o1", OrderStatus.CLOSED),)


def test_an_older_created_event_never_reopens_a_paid_order() -> None:
    created = at(5, 10, 8, 50)
    paid = replace(order_at(created), status=OrderStatus.PAID, paid_at=created + HOUR)
    after, effects = apply_event(
        paid, event(OrderStatus.CREATED, created), created + 2 * HOUR, DEFAULT
    )
    assert after is paid
    assert effects == ()


def test_paid_then_shipped_keeps_the_payment_time_and_cancels_nothing_new() -> None:
    created = at(5, 10, 8, 50)
    paid = replace(order_at(created), status=OrderStatus.PAID, paid_at=created + HOUR)
    after, effects = apply_event(
        paid, event(OrderStatus.SHIPPED, created + 5 * HOUR), created + 5 * HOUR, DEFAULT
    )
    assert after == replace(paid, status=OrderStatus.SHIPPED, updated_at=created + 5 * HOUR)
    assert effects == ()


def test_a_late_paid_event_after_close_is_ignored() -> None:
    created = at(5, 10, 8, 50)
    closed = replace(order_at(created), status=OrderStatus.CLOSED)
    after, effects = apply_event(closed, event(OrderStatus.PAID, created), created + HOUR, DEFAULT)
    assert after is closed
    assert effects == ()


def test_a_first_event_that_is_already_paid_plans_nothing() -> None:
    now = at(5, 10, 12, 0)
    order, effects = apply_event(None, event(OrderStatus.PAID, now), now, DEFAULT)
    assert (order.status, order.paid_at, effects) == (OrderStatus.PAID, now, ())


# --- deciding -----------------------------------------------------------------------------------


def verdict(
    due: float, order: Order, now: float, *, question: bool = False, after_sales: bool = False
) -> Verdict:
    return decide(
        due, order, now, question_open=question, after_sales_open=after_sales, policy=DEFAULT
    )


def test_a_due_nudge_fires() -> None:
    order = order_at(at(5, 10, 8, 50))
    assert verdict(at(5, 10, 9, 5), order, at(5, 10, 9, 5)) == Verdict(Decision.FIRE)


def test_a_nudge_not_yet_due_is_deferred_to_its_due_time() -> None:
    order = order_at(at(5, 10, 8, 50))
    assert verdict(at(5, 10, 11, 50), order, at(5, 10, 9, 5)) == Verdict(
        Decision.DEFER, at(5, 10, 11, 50)
    )


def test_a_nudge_waits_on_an_open_question_and_fires_once_answered() -> None:
    order = order_at(at(5, 10, 8, 50))
    due = at(5, 10, 9, 5)
    assert verdict(due, order, due, question=True) == Verdict(Decision.WAIT)
    assert verdict(due, order, at(5, 10, 9, 40), question=False) == Verdict(Decision.FIRE)


def test_an_answer_late_at_night_defers_the_nudge_to_the_morning() -> None:
    order = order_at(at(5, 10, 8, 50))
    assert verdict(at(5, 10, 11, 50), order, at(5, 10, 23, 30)) == Verdict(
        Decision.DEFER, at(5, 11, 10, 0)
    )


def test_a_complaining_buyer_is_never_nudged() -> None:
    order = order_at(at(5, 10, 8, 50))
    due = at(5, 10, 9, 5)
    assert verdict(due, order, due, question=True, after_sales=True) == Verdict(Decision.DROP)


@pytest.mark.parametrize("status", [OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.CLOSED])
def test_a_nudge_of_an_order_no_longer_unpaid_is_cancelled(status: OrderStatus) -> None:
    order = order_at(at(5, 10, 8, 50), status=status)
    due = at(5, 10, 9, 5)
    assert verdict(due, order, due, after_sales=True) == Verdict(Decision.CANCEL)


def test_a_nudge_expires_at_the_close_time() -> None:
    order = order_at(at(5, 10, 14, 0))
    due = at(5, 13, 10, 0)
    assert verdict(due, order, order.closes_at - 1, question=True) == Verdict(Decision.WAIT)
    assert verdict(due, order, order.closes_at, question=True) == Verdict(Decision.EXPIRE)


# --- reassignment -------------------------------------------------------------------------------


def test_an_unacknowledged_nudge_moves_after_24_hours_while_its_agent_is_offline() -> None:
    order = order_at(at(5, 10, 8, 50))
    delivered = at(5, 10, 9, 5)
    delivery = Delivery("n1", "a1", delivered)

    def due(now: float, online: bool = False, **changes: Any) -> bool:
        return reassign_due(
            replace(delivery, **changes), order, now, agent_online=online, policy=DEFAULT
        )

    assert due(delivered + 86400 - 1) is False
    assert due(delivered + 86400) is True
    assert due(delivered + 86400, online=True) is False
    assert due(delivered + 86400, acked_at=delivered + 60) is False
    assert due(order.closes_at) is False


def test_a_paid_order_is_never_reassigned() -> None:
    order = order_at(at(5, 10, 8, 50), status=OrderStatus.PAID)
    delivery = Delivery("n1", "a1", at(5, 10, 9, 5))
    assert (
        reassign_due(delivery, order, at(5, 12, 9, 5), agent_online=False, policy=DEFAULT) is False
    )


def test_choose_agent_picks_the_least_busy_other_online_agent() -> None:
    assert choose_agent({"a1": 0, "b2": 3, "c3": 1, "d4": 1}, exclude="a1") == "c3"
    assert choose_agent({"a1": 0}, exclude="a1") is None


# --- wording ------------------------------------------------------------------------------------


def test_nudge_texts() -> None:
    order = order_at(at(5, 10, 8, 50))
    assert nudge_text(order, NudgeKind.REMINDER) == (
        "亲，您好！您拍下的宝贝还在等待付款（订单金额 99.00 元），"
        "方便的时候完成付款就可以啦，我们收到后会尽快为您安排发货。"
    )
    assert nudge_text(replace(order, amount=None), NudgeKind.REMINDER) == (
        "亲，您好！您拍下的宝贝还在等待付款，方便的时候完成付款就可以啦，"
        "我们收到后会尽快为您安排发货。"
    )
    assert nudge_text(order, NudgeKind.FOLLOW_UP) == (
        "亲，您好！您拍下的宝贝我们已经为您预留好了，付款后可以尽早为您打包发出，"
        "有任何疑问随时联系我。"
    )
    assert nudge_text(order, NudgeKind.CLOSING) == (
        "亲，您好！您的订单付款期限快到了，到期后系统会自动取消。"
        "如果还需要这件宝贝，记得及时完成付款，有疑问随时联系我。"
    )


@pytest.mark.parametrize("kind", list(NudgeKind))
def test_nudge_texts_never_push(kind: NudgeKind) -> None:
    text = nudge_text(order_at(0.0), kind)
    assert len(text) >= 5
    for banned in ("买还是不买", "保证", "绝对", "肯定", "百分百", "最", "第一", "不"):
        assert banned not in text


# --- outcomes -----------------------------------------------------------------------------------


def test_daily_outcomes_count_each_order_once_on_its_first_nudge_day() -> None:
    day1, day2 = at(5, 10, 9, 5), at(5, 11, 10, 0)
    orders = {
        ("s1", "o1"): order_at(at(5, 10, 8, 50), status=OrderStatus.PAID, paid_at=day2 + HOUR),
        ("s1", "o2"): order_at(at(5, 10, 8, 50), order="o2"),
        ("s1", "o3"): order_at(
            at(5, 10, 8, 0), order="o3", status=OrderStatus.PAID, paid_at=day1 - 1
        ),
        ("s2", "o1"): order_at(
            at(5, 10, 22, 55), shop="s2", status=OrderStatus.SHIPPED, paid_at=day2
        ),
    }
    fired = [
        FiredNudge("s1", "o1", day1),
        FiredNudge("s1", "o1", day2),  # a second nudge leaves o1 in its first day's cohort
        FiredNudge("s1", "o2", day1),
        FiredNudge("s1", "o3", day1),  # paid before the nudge: not a conversion
        FiredNudge("s2", "o1", day2),
        FiredNudge("s9", "gone", day2),
    ]
    assert daily_outcomes(fired, orders, DEFAULT) == {
        ("s1", datetime(2024, 5, 10).date()): DayOutcome(nudged=3, paid=1),
        ("s2", datetime(2024, 5, 11).date()): DayOutcome(nudged=1, paid=1),
    }


# --- properties ---------------------------------------------------------------------------------

CLOCKS = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


@st.composite
def policies(draw: st.DrawFn) -> NudgePolicy:
    close_after = draw(st.integers(2 * 3600, 5 * 86400))
    start, end, wake = draw(CLOCKS), draw(CLOCKS), draw(CLOCKS)
    assume(start != end and not QuietHours(start, end).contains(wake))
    return NudgePolicy(
        delays_s=tuple(draw(st.lists(st.integers(60, close_after - 1), max_size=6))),
        final_before_close_s=draw(st.integers(0, close_after - 1)),
        close_after_s=close_after,
        quiet_start=start,
        quiet_end=end,
        wake_at=wake,
        timezone=draw(
            st.sampled_from([SHANGHAI, NEW_YORK, "Europe/London", "Australia/Lord_Howe"])
        ),
        max_per_day=draw(st.integers(1, 4)),
        min_gap_s=draw(st.sampled_from([0, 600, 1800, 7200])),
    )


# 2023-2026: covers several DST changes in each zone.
CREATED = st.floats(1672531200.0, 1798761600.0).map(lambda x: round(x, 1))


@settings(max_examples=400, deadline=None)
@given(created_at=CREATED, policy=policies())
def test_plan_properties(created_at: float, policy: NudgePolicy) -> None:
    nudges = plan(created_at, policy)
    clock = policy.clock
    dues = [nudge.due_at for nudge in nudges]
    assert dues == sorted(set(dues))
    assert [nudge.attempt for nudge in nudges] == list(range(1, len(nudges) + 1))
    assert all(created_at < due < created_at + policy.close_after_s for due in dues)
    assert not any(clock.is_quiet(due) for due in dues)
    per_day = Counter(clock.local_day(due) for due in dues)
    assert all(count <= policy.max_per_day for count in per_day.values())
    assert all(later - earlier >= policy.min_gap_s for earlier, later in pairwise(dues))


def test_default_plan_for_every_minute_of_a_day_stays_within_the_rules() -> None:
    midnight = at(5, 10, 0, 0)
    for minute in range(24 * 60):
        created = midnight + minute * 60
        nudges = plan(created, DEFAULT)
        assert 1 <= len(nudges) <= 3, minute
        assert nudges[0].kind is NudgeKind.REMINDER, minute
        assert nudges[-1].kind is NudgeKind.CLOSING, minute
