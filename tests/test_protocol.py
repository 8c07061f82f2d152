"""The renderers of server frames: the core's typed values become the exact frames of
docs/protocol.md, and the vocabulary's enums go over the wire as plain strings and numbers."""

from __future__ import annotations

import orjson
import pytest

from server import protocol
from server.core.kpi import KpiDay
from server.core.nudgebook import NudgeAction, NudgeDue, NudgeOutcome, NudgeState
from server.core.nudges import OrderStatus
from server.core.tracker import KpiChanged, TimerChanged, TimerLevel, Tracker
from server.settings import DEFAULT_TIMERS

START = 1_794_801_600.0  # 2026-11-16 12:00 in Shanghai

DUE = NudgeDue("n-o1-1", "o1", "tom", "c-tom", 1, START + 900, "199.00", "亲，还没有付款哦")
NUDGE_FIELDS = {
    "nudge": "n-o1-1",
    "order": "o1",
    "buyer": "tom",
    "conversation": "c-tom",
    "attempt": 1,
    "due_at": START + 900,
    "amount": "199.00",
    "text": "亲，还没有付款哦",
}


def opened_round() -> tuple[Tracker, TimerChanged]:
    tracker = Tracker(DEFAULT_TIMERS, "Asia/Shanghai", 0.9)
    [*_, change] = tracker.buyer_message("s1", "c-tom", "tom", "jd", "alice", START)
    assert isinstance(change, TimerChanged)
    return tracker, change


def test_a_timer_frame_has_the_fields_it_always_had():
    tracker, _ = opened_round()
    conv = tracker.conversations[("s1", "c-tom")]
    change = tracker.timer(conv, TimerLevel.WARN, START + 20.00049)
    assert protocol.timer(change) == {
        "type": "timer",
        "conversation": "c-tom",
        "buyer": "tom",
        "level": "warn",
        "waited_s": 20.0,  # rounded to the millisecond when rendered
        "target_s": DEFAULT_TIMERS["jd"].target_s,
        "started_at": START,
    }
    follow_up = tracker.timer(conv, TimerLevel.FOLLOW_UP, START + 900, started=START)
    assert protocol.timer(follow_up)["target_s"] == DEFAULT_TIMERS["jd"].follow_up_s


def test_enums_go_over_the_wire_as_plain_strings():
    _, change = opened_round()
    data = protocol.encode(protocol.timer(change))
    assert b'"level":"waiting"' in data
    decoded = orjson.loads(data)
    assert type(decoded["level"]) is str  # noqa: E721 (a plain str, not the enum)
    values = [OrderStatus.PAID, NudgeState.DONE, NudgeOutcome.EXPIRED, NudgeAction.SNOOZED]
    assert orjson.loads(protocol.encode({"values": values})) == {
        "values": ["paid", "done", "expired", "snoozed"]
    }
    assert protocol.encode({"code": protocol.CloseCode.POLICY}) == b'{"code":1008}'


def test_a_nudge_frame_and_the_state_entries_are_the_same_fields():
    assert protocol.nudge(DUE) == {"type": "nudge", **NUDGE_FIELDS}
    tracker, change = opened_round()
    kpi = tracker.kpi("s1", "alice", "2026-11-16")
    deadline = {"type": "deadline", "kind": "refund", "key": "c-tom", "state": "open"}
    state = protocol.state(
        conversations=[change],
        waiting_total=1,
        next_page=None,
        nudges=[DUE],
        nudges_total=1,
        day=kpi,
        target_rate=0.9,
        penalties={"month": "2026-11"},
        deadlines=[deadline],
    )
    timer = protocol.timer(change)
    del timer["type"]
    assert state == {
        "type": "state",
        "conversations": [timer],
        "waiting_total": 1,
        "next": None,
        "nudges": [NUDGE_FIELDS],
        "nudges_total": 1,
        "kpi": kpi.report(0.9),
        "penalties": {"month": "2026-11"},
        "deadlines": [{"kind": "refund", "key": "c-tom", "state": "open"}],
    }
    assert deadline["type"] == "deadline"  # the pushed frame is left as it was


def test_an_answer_pushes_the_kpi_as_it_is_after_that_answer():
    tracker, _ = opened_round()
    effects = tracker.agent_message("s1", "c-tom", "tom", "jd", "alice", START + 8, "在的")
    [changed] = [effect for effect in effects if isinstance(effect, KpiChanged)]
    frame = protocol.kpi(changed.kpi, changed.target_rate)
    assert frame == {"type": "kpi", **KpiDay("s1", "alice", "2026-11-16").report(0.9)} | {
        "rounds": 1,
        "answered": 1,
        "avg_response_s": 8.0,
        "first_response_s": 8.0,
        "within_target_rate": 1.0,
        "longest_wait_s": 8.0,
        "misses_left": 0,  # one miss now would be 1 of 2, below 0.9
    }


def test_ack_and_adapters_frames():
    assert protocol.ack("o1") == {"type": "ack", "ref": "o1"}
    assert protocol.ack(None, changed=False) == {"type": "ack", "ref": None, "changed": False}
    assert protocol.adapters(None) == {"type": "adapters", "version": None}
    entry = {"id": "pdd"}
    assert protocol.adapters("v1", (entry,)) == {
        "type": "adapters",
        "version": "v1",
        "adapters": [entry],
    }


def test_close_codes_come_from_the_enum():
    assert protocol.CLOSE_CODES == {
        1001: "server going away",
        1008: "policy violation: rate limit exceeded or client too slow",
        1009: "frame too big",
        1012: "the shop moved to another server process (Redis deployments): reconnect and resume",
        4401: "not authenticated",
    }
    assert protocol.CloseCode(4401) is protocol.CloseCode.NOT_AUTHENTICATED
    assert protocol.CloseCode.MOVED == 1012


@pytest.mark.parametrize(
    ("kind", "field", "vocabulary"),
    [("order", "status", OrderStatus), ("nudge_ack", "action", NudgeAction)],
)
def test_client_choices_are_the_vocabulary(kind, field, vocabulary):
    [spec] = [spec for spec in protocol.CLIENT_MESSAGES[kind] if spec.name == field]
    assert sorted(spec.choices) == sorted(vocabulary)


def test_every_agent_frame_has_one_renderer_here():
    for kind in ("timer", "kpi", "nudge", "state", "adapters", "ack"):
        assert protocol.AGENT_FRAMES[kind] is getattr(protocol, kind)
