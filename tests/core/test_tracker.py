"""Reply clocks and KPIs on a fake clock: rounds, thresholds, follow-ups, handover, windows."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from server import protocol
from server.core.kpi import KpiDay, misses_left
from server.core.tracker import KpiChanged, Limits, SaveKpi, TimerChanged, Tracker
from server.settings import DEFAULT_TIMERS

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(hour: int, minute: int = 0, second: float = 0, day: int = 16) -> float:
    whole = int(second)
    local = datetime(2026, 11, day, hour, minute, whole, tzinfo=SHANGHAI)
    return local.timestamp() + (second - whole)


def tracker() -> Tracker:
    return Tracker(DEFAULT_TIMERS, "Asia/Shanghai", 0.9)


def frame(effect) -> tuple[str, dict] | None:
    """(agent, frame) of an effect that is pushed to an agent, as the service renders it."""
    if isinstance(effect, TimerChanged):
        return effect.agent, protocol.timer(effect)
    if isinstance(effect, KpiChanged):
        return effect.kpi.agent, protocol.kpi(effect.kpi, effect.target_rate)
    return None


def pushes(effects) -> list[tuple[str, str, float]]:
    """(agent, level or type, waited_s) of every push, in order."""
    return [
        (agent, pushed.get("level", pushed["type"]), pushed.get("waited_s"))
        for agent, pushed in filter(None, map(frame, effects))
    ]


def buyer(t: Tracker, ts: float, agent: str = "alice", conversation: str = "c1", platform="jd"):
    return t.buyer_message("s1", conversation, "tom", platform, agent, ts)


def reply(t: Tracker, ts: float, text: str = "您好，在的", agent: str = "alice", auto: bool = False,
          conversation: str = "c1", platform: str = "jd"):  # fmt: skip
    return t.agent_message("s1", conversation, "tom", platform, agent, ts, text, auto)


def test_a_burst_of_buyer_messages_is_one_round():
    t, start = tracker(), at(10)
    assert pushes(buyer(t, start)) == [("alice", "waiting", 0.0)]
    assert pushes(buyer(t, start + 2)) == []
    assert pushes(buyer(t, start + 5)) == []
    assert t.kpi("s1", "alice", "2026-11-16").rounds == 1
    assert pushes(reply(t, start + 8)) == [("alice", "cleared", 8.0), ("alice", "kpi", None)]
    kpi = t.kpi("s1", "alice", "2026-11-16")
    assert (kpi.rounds, kpi.answered, kpi.response_sum_s) == (1, 1, 8.0)


def test_an_auto_reply_never_answers():
    t, start = tracker(), at(10)
    buyer(t, start)
    assert pushes(reply(t, start + 1, "【自动回复】亲，客服马上就来", auto=True)) == []
    assert t.conversations[("s1", "c1")].round_started_at == start
    assert pushes(reply(t, start + 12))[0] == ("alice", "cleared", 12.0)


def test_thresholds_fire_in_order_at_their_times():
    t, start = tracker(), at(10)
    buyer(t, start)
    assert t.next_wake() == start + 20
    assert pushes(t.advance(start + 19.999)) == []
    assert pushes(t.advance(start + 20)) == [("alice", "warn", 20.0)]
    assert pushes(t.advance(start + 30)) == [("alice", "due", 30.0)]  # the JD target passes too
    assert t.kpi("s1", "alice", "2026-11-16").decided == 1
    assert pushes(t.advance(start + 179)) == []
    assert pushes(t.advance(start + 180.5)) == [("alice", "overdue", 180.0)]
    assert t.next_wake() is None
    assert t.kpi("s1", "alice", "2026-11-16").overdue == 1


def test_answering_clears_the_clock_and_stale_deadlines_never_fire():
    t, start = tracker(), at(10)
    buyer(t, start)
    reply(t, start + 5)
    assert pushes(t.advance(start + 1000)) == []
    buyer(t, start + 2000)  # a new round: its own thresholds
    assert pushes(t.advance(start + 2020)) == [("alice", "warn", 20.0)]


def test_follow_up_when_the_buyer_goes_silent_after_a_question():
    t, start = tracker(), at(10)
    buyer(t, start)
    reply(t, start + 5, "亲，您平时穿什么码呢？")
    assert pushes(t.advance(start + 904)) == []
    assert pushes(t.advance(start + 905)) == [("alice", "follow_up", 900.0)]
    # A buyer who answers cancels the re-ask.
    reply(t, start + 1000, "还需要别的颜色吗")
    buyer(t, start + 1100)
    assert [p for p in pushes(t.advance(start + 3000)) if p[1] == "follow_up"] == []


def test_a_handover_moves_the_open_round_and_its_counts():
    t, start = tracker(), at(10)
    buyer(t, start)
    t.advance(start + 31)  # warn, due, and a decided miss for alice
    effects = buyer(t, start + 40, agent="amy")  # amy's console now shows the conversation
    assert pushes(effects) == [("alice", "cleared", 40.0), ("amy", "due", 40.0)]
    alice, amy = t.kpi("s1", "alice", "2026-11-16"), t.kpi("s1", "amy", "2026-11-16")
    assert (alice.rounds, alice.decided, amy.rounds, amy.decided) == (0, 0, 1, 1)
    assert pushes(reply(t, start + 50, agent="amy"))[0] == ("amy", "cleared", 50.0)
    amy = t.kpi("s1", "amy", "2026-11-16")
    assert (amy.answered, amy.within_target, amy.decided) == (1, 0, 1)


@pytest.mark.parametrize(
    ("platform", "hour", "minute", "second", "counted"),
    [
        ("jd", 8, 59, 59, False),
        ("jd", 9, 0, 0, True),
        ("jd", 22, 59, 59, True),
        ("jd", 23, 0, 0, False),
        ("taobao", 7, 59, 59, False),
        ("taobao", 8, 0, 0, True),
        ("taobao", 23, 59, 59, True),
        ("taobao", 0, 0, 0, False),
        ("pdd", 22, 59, 59, True),
        ("pdd", 23, 0, 0, False),
    ],
)
def test_counting_windows_at_their_edges(platform, hour, minute, second, counted):
    t = tracker()
    buyer(t, at(hour, minute, second), platform=platform)
    kpi = t.kpi("s1", "alice", "2026-11-16")
    assert (kpi.rounds, kpi.outside_window) == ((1, 0) if counted else (0, 1))


def test_a_hand_worked_jd_day():
    t = tracker()
    # c1: answered in 10 s (first round of c1), then again in 25 s; c2: answered in 40 s (a
    # miss); c3: never answered (a miss once 30 s pass, overdue at 180 s); c4: at 08:30, outside
    # the window.
    buyer(t, at(9, 30), conversation="c1")
    reply(t, at(9, 30, 10), conversation="c1")
    buyer(t, at(10), conversation="c1")
    reply(t, at(10, 0, 25), conversation="c1")
    buyer(t, at(11), conversation="c2")
    t.advance(at(11, 0, 40))
    reply(t, at(11, 0, 40), conversation="c2")
    buyer(t, at(12), conversation="c3")
    buyer(t, at(8, 30), conversation="c4")
    t.advance(at(13))
    report = t.kpi("s1", "alice", "2026-11-16").report(0.9)
    assert report == {
        "agent": "alice", "date": "2026-11-16", "rounds": 4, "answered": 3,
        "avg_response_s": 25.0, "first_response_s": 25.0, "within_target_rate": 0.5,
        "overdue": 1, "longest_wait_s": 40.0, "outside_window": 1, "target_rate": 0.9,
        "misses_left": 0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("within", "decided", "target", "left"),
    [(9, 10, 0.9, 0), (10, 10, 0.9, 1), (19, 20, 0.9, 1), (95, 100, 0.9, 5), (0, 0, 0.9, 0),
     (8, 10, 0.9, 0), (3, 3, 0.5, 3)],
)  # fmt: skip
def test_misses_left(within, decided, target, left):
    assert misses_left(within, decided, target) == left


def test_restore_resumes_clocks_from_the_stored_start():
    first, start = tracker(), at(10)
    saved = [e for e in buyer(first, start) if frame(e) is None]
    conversation = next(e.conversation for e in saved if not isinstance(e, SaveKpi))
    kpi = next(e.kpi for e in saved if isinstance(e, SaveKpi))
    second = tracker()
    second.restore([conversation], [KpiDay(**{f: getattr(kpi, f) for f in KpiDay.__slots__})])
    assert second.next_wake() == start + 20  # not restart time + 20
    assert pushes(second.advance(start + 20)) == [("alice", "warn", 20.0)]
    assert pushes(second.advance(start + 100)) == [("alice", "due", 100.0)]  # 70 s late
    assert second.kpi("s1", "alice", "2026-11-16").rounds == 1


def test_history_lines_hold_back_passed_thresholds_until_the_reply_arrives():
    t, start, now = tracker(), at(10), at(10, 5)
    t.buyer_message("s1", "c1", "tom", "jd", "alice", start, not_before=now + 2)
    assert t.next_wake() == now + 2
    reply(t, start + 12)  # the agent's reply, from the same history, arrives in time
    assert pushes(t.advance(now + 2)) == []
    kpi = t.kpi("s1", "alice", "2026-11-16")
    assert (kpi.answered, kpi.within_target, kpi.overdue) == (1, 1, 0)


def test_history_lines_still_fire_every_passed_threshold_when_unanswered():
    t, start, now = tracker(), at(10), at(10, 5)
    t.buyer_message("s1", "c1", "tom", "jd", "alice", start, not_before=now + 2)
    assert pushes(t.advance(now + 2)) == [
        ("alice", "warn", 302.0), ("alice", "due", 302.0), ("alice", "overdue", 302.0),
    ]  # fmt: skip
    assert t.kpi("s1", "alice", "2026-11-16").overdue == 1


def test_forgetting_a_shop_silences_its_clocks():
    t, start = tracker(), at(10)
    buyer(t, start)
    t.buyer_message("s2", "c1", "ann", "jd", "bob", start)
    t.forget("s1")
    assert list(t.conversations) == [("s2", "c1")]
    assert t.kpi("s1", "alice", "2026-11-16").rounds == 0
    assert pushes(t.advance(start + 20)) == [("bob", "warn", 20.0)]


LIMITS = Limits(idle_s=600.0, expire_s=86400.0, waiting_per_agent=10, per_shop=100)


def test_a_conversation_leaves_after_its_follow_up_and_the_idle_time():
    t = Tracker(DEFAULT_TIMERS, "Asia/Shanghai", 0.9, LIMITS)
    start = at(10)
    buyer(t, start)
    reply(t, start + 5, "请问您要什么颜色呢？")
    follow_up = start + 5 + DEFAULT_TIMERS["jd"].follow_up_s
    assert pushes(t.advance(follow_up)) == [("alice", "follow_up", 900.0)]
    assert ("s1", "c1") in t.conversations
    assert t.next_wake() == follow_up + 600
    assert t.advance(follow_up + 600) == []
    assert ("s1", "c1") not in t.conversations and t.next_wake() is None


def test_a_handed_over_round_moves_between_the_agents_waiting_lists():
    t = Tracker(DEFAULT_TIMERS, "Asia/Shanghai", 0.9, LIMITS)
    buyer(t, at(10))
    buyer(t, at(10, second=1), agent="amy")
    assert [c.conversation for c in t.waiting("s1", "amy")] == ["c1"]
    assert (t.waiting_count("s1", "alice"), list(t.waiting("s1"))) == (
        0,
        [t.conversations[("s1", "c1")]],
    )
    reply(t, at(10, second=2), agent="amy")
    assert list(t.waiting("s1")) == []


def test_an_agents_waiting_list_keeps_every_open_round_whichever_is_answered():
    t, start = tracker(), at(10)
    for n in range(4):
        buyer(t, start + n, conversation=f"c{n}")
    reply(t, start + 5, conversation="c1")  # the middle of the list
    reply(t, start + 5, conversation="c3")  # its head (the newest round)
    reply(t, start + 5, conversation="c3")  # a second reply changes nothing
    assert sorted(c.conversation for c in t.waiting("s1", "alice")) == ["c0", "c2"]
    assert t.waiting_count("s1", "alice") == 2
    reply(t, start + 6, conversation="c0")
    reply(t, start + 6, conversation="c2")
    assert (list(t.waiting("s1")), t.waiting_count("s1", "alice")) == ([], 0)
    buyer(t, start + 7, conversation="c2")  # a new round joins again
    assert [c.conversation for c in t.waiting("s1", "alice")] == ["c2"]


def test_restoring_a_conversation_already_in_memory_replaces_it():
    t, start = tracker(), at(10)
    saved = next(e.conversation for e in buyer(t, start) if hasattr(e, "conversation"))
    again = dataclasses.replace(saved)
    t.restore([again], [])
    assert list(t.waiting("s1", "alice")) == [again] and t.conversations[("s1", "c1")] is again
    assert pushes(t.advance(start + 20)) == [("alice", "warn", 20.0)]  # once, not twice


def test_past_kpi_days_are_forgotten_and_today_kept():
    t = tracker()
    buyer(t, at(10, day=15))
    buyer(t, at(10, day=16), conversation="c2")
    t.forget_days_before("2026-11-16")
    assert [key[2] for key in t.kpis] == ["2026-11-16"]


def test_a_replay_tracker_counts_what_the_live_one_counts_and_builds_no_effects():
    live, replay = tracker(), Tracker(DEFAULT_TIMERS, "Asia/Shanghai", 0.9, live=False)
    start = at(10)
    script = [  # (seconds after start, sender, conversation, agent, text)
        (0, "buyer", "c1", "alice", ""), (5, "agent", "c1", "alice", "在的亲，要什么颜色呢？"),
        (30, "buyer", "c1", "alice", ""), (200, "agent", "c1", "alice", "好的"),
        (1, "buyer", "c2", "alice", ""), (40, "buyer", "c2", "bob", ""),  # handed over
        (400, "agent", "c2", "bob", "久等了"), (2, "buyer", "c3", "bob", ""),  # never answered
    ]  # fmt: skip
    for t in (live, replay):
        for offset, sender, conversation, agent, text in sorted(script, key=lambda s: s[0]):
            effects = t.advance(start + offset - 0.001)
            if sender == "buyer":
                effects += t.buyer_message("s1", conversation, "tom", "jd", agent, start + offset)
            else:
                effects += reply(t, start + offset, text, agent, conversation=conversation)
            assert (effects == []) is (t is replay)
        t.advance(start + 3600)
    assert replay.kpis == live.kpis and len(replay.kpis) == 2
    assert live.kpi("s1", "bob", "2026-11-16").overdue == 2  # c2 answered late, c3 never
