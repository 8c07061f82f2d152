"""The fines and points ledger over hand-worked months (fake times: every event carries its own)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from server.core.penalties import (
    DEFAULT_RULES,
    Idle,
    Ledger,
    Missed,
    Verdict,
    Wait,
    parse_penalties,
)
from server.errors import SettingsError

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(local: str) -> float:
    """Epoch seconds of a Shanghai wall-clock time."""
    return datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).timestamp()


def ledger(rules=DEFAULT_RULES) -> Ledger:
    return Ledger(rules, "Asia/Shanghai")


def items(report: dict, agent: str) -> dict[str, tuple[int, int, int]]:
    row = next(r for r in report["agents"] if r["agent"] == agent)
    return {i["rule"]: (i["count"], i["yuan"], i["points"]) for i in row["items"]}


def test_a_hand_worked_month_of_every_default_rule():
    book = ledger()
    events = [
        # Four replies over 2 minutes (seed 002 fines the fourth: "超过3次"), one of them also
        # over 5 minutes (seed 004) and over 30 minutes (002); one over 2 hours (002: ¥200 only).
        Wait("alice", at("2026-03-02 10:00:00"), 121),
        Wait("alice", at("2026-03-03 10:00:00"), 299),
        Wait("alice", at("2026-03-04 10:00:00"), 301),
        Wait("alice", at("2026-03-05 10:00:00"), 1801),
        Wait("alice", at("2026-03-06 10:00:00"), 7201),
        # Exactly at a limit is not over it.
        Wait("alice", at("2026-03-07 10:00:00"), 120),
        Idle("alice", at("2026-03-08 12:00:00"), 7200),  # 2小时以上包括2小时
        Idle("alice", at("2026-03-09 12:00:00"), 7199),
        Missed("alice", at("2026-03-10 10:10:00"), "order_confirm"),
        Missed("alice", at("2026-03-10 10:30:00"), "refund"),
        Missed("alice", at("2026-03-10 10:32:00"), "wait_promise"),  # a clock, not a fine
        Verdict("alice", at("2026-03-11 09:00:00"), "tmall", (("terse.particle", "terse"),)),
        Verdict(
            "alice",
            at("2026-03-11 09:05:00"),
            "tmall",
            (("rude.contempt", "rude"), ("offsite.wechat", "offsite")),
            "overridden",
        ),
        Verdict("alice", at("2026-03-11 09:10:00"), "tmall", (("rude.insult", "rude"),), "fixed"),
        Verdict(
            "alice",
            at("2026-03-11 09:20:00"),
            "tmall",
            (("commitment.free_shipping", "commitment"),),
        ),
    ]
    for event in events:
        book.record(event)
    report = book.report("2026-03")
    assert items(report, "alice") == {
        "reply_over_2min": (5, 50, 0),
        "reply_over_30min": (1, 100, 0),
        "reply_over_2h": (1, 200, 0),
        "answer_over_5min": (3, 60, 0),
        "idle": (1, 200, 0),
        "order_confirm_missed": (1, 10, 0),
        "refund_missed": (1, 30, 0),
        "terse": (1, 10, 0),
        "rude": (1, 100, 0),
        "commitment.free_shipping": (1, 0, 4),
        "offsite.wechat": (1, 0, 6),
    }
    row = report["agents"][0]
    assert (row["yuan"], row["points"]) == (760, 10)
    assert row["next"] is None
    assert row["text"] == "本月已罚 ¥760，扣 10 分"
    assert report["shop"] == {
        "yuan": 760,
        "points": 10,
        "points_platform": "tmall",
        "points_limit": 12,
        "points_left": 2,
        "limit_reached": False,
        "text": "本月共罚 ¥760；天猫扣分 10/12",
    }


def test_three_late_replies_are_not_fined_the_fourth_is_once():
    book = ledger()
    for day in range(1, 4):
        book.record(Wait("bob", at(f"2026-05-0{day} 10:00:00"), 130))
    row = book.report("2026-05")["agents"][0]
    assert row["items"] == [{"rule": "reply_over_2min", "count": 3, "yuan": 0, "points": 0}]
    assert row["next"] == {"rule": "reply_over_2min", "remaining": 1, "yuan": 50, "over_s": 120}
    assert row["text"] == "本月已罚 ¥0；再有 1 次超过 2 分钟将罚 ¥50"
    for day in range(4, 9):
        book.record(Wait("bob", at(f"2026-05-0{day} 10:00:00"), 130))
    row = book.report("2026-05")["agents"][0]
    assert row["items"] == [{"rule": "reply_over_2min", "count": 8, "yuan": 50, "points": 0}]
    assert row["text"] == "本月已罚 ¥50"


def test_the_issue_example_text():
    book = ledger()
    for minute in range(5):
        book.record(
            Verdict(
                "carol", at(f"2026-06-01 10:0{minute}:00"), "taobao", (("terse.short", "terse"),)
            )
        )
    for day in (2, 3, 4):
        book.record(Wait("carol", at(f"2026-06-0{day} 10:00:00"), 150))
    assert (
        book.report("2026-06")["agents"][0]["text"] == "本月已罚 ¥50；再有 1 次超过 2 分钟将罚 ¥50"
    )


def test_months_are_counted_in_asia_shanghai():
    book = ledger()
    # 2026-03-31 23:59 in Shanghai is 15:59 UTC; 2026-04-01 00:00:30 is still March 31 in UTC.
    book.record(Wait("dan", at("2026-03-31 23:59:00"), 400))
    book.record(Wait("dan", at("2026-04-01 00:00:30"), 400))
    assert datetime.fromtimestamp(at("2026-04-01 00:00:30"), ZoneInfo("UTC")).day == 31
    assert book.months() == ["2026-03", "2026-04"]
    for month in ("2026-03", "2026-04"):
        assert items(book.report(month), "dan")["answer_over_5min"] == (1, 20, 0)
    # Three late replies in March and one in April never make four in a month.
    for day in (10, 11):
        book.record(Wait("dan", at(f"2026-03-{day} 10:00:00"), 130))
    assert items(book.report("2026-03"), "dan")["reply_over_2min"] == (3, 0, 0)
    assert items(book.report("2026-04"), "dan")["reply_over_2min"] == (1, 0, 0)


def test_an_override_counts_and_a_fixed_block_does_not():
    book = ledger()
    when = at("2026-07-01 09:00:00")
    book.record(Verdict("eve", when, "tmall", (("offsite.qq", "offsite"),), "fixed"))
    book.record(Verdict("eve", when, "tmall", (("terse.particle", "terse"),), "fixed"))
    assert book.report("2026-07")["agents"] == []
    book.record(Verdict("eve", when, "tmall", (("terse.particle", "terse"),), "overridden"))
    assert items(book.report("2026-07"), "eve") == {"terse": (1, 10, 0)}


def test_points_only_on_their_platform_and_the_limit():
    book = ledger()
    when = at("2026-08-01 09:00:00")
    book.record(Verdict("fay", when, "taobao", (("invoice.refuse", "invoice"),)))
    assert book.report("2026-08")["agents"] == []
    book.record(Verdict("fay", when, "tmall", (("invoice.refuse", "invoice"),)))
    book.record(Verdict("gus", when, "tmall", (("privacy.mobile", "privacy"),)))
    report = book.report("2026-08", agent="gus")
    assert [r["agent"] for r in report["agents"]] == ["gus"]
    assert report["shop"]["points"] == 12  # the limit is the shop's, whoever is asked about
    assert report["shop"]["limit_reached"] is True
    assert report["shop"]["text"] == (
        "本月共罚 ¥0；天猫扣分 12/12：已达 12 分，将限制天猫营销活动 7 天并扣除保证金 ¥10000"
    )


def test_a_line_counts_once_per_category():
    book = ledger()
    both = (("terse.particle", "terse"), ("terse.short", "terse"))
    book.record(Verdict("hal", at("2026-09-01 09:00:00"), "jd", both))
    assert items(book.report("2026-09"), "hal") == {"terse": (1, 10, 0)}


def test_shop_settings_change_amounts_and_turn_rules_off():
    rules = parse_penalties(
        {
            "reply_over_2min": {"more_than": 0, "yuan": 5},
            "answer_over_5min": {"yuan": 0},
            "reply_over_2h": {"yuan": 0},
            "points": {"rules": {"offsite": 2}, "limit": 4},
        }
    )
    book = ledger(rules)
    book.record(Wait("ivy", at("2026-10-01 09:00:00"), 8000))
    book.record(Verdict("ivy", at("2026-10-01 09:00:00"), "tmall", (("offsite.qq", "offsite"),)))
    book.record(
        Verdict("ivy", at("2026-10-01 09:00:00"), "tmall", (("invoice.refuse", "invoice"),))
    )
    # The 2-hour step is off, so the 30-minute step applies; invoice points are gone.
    assert items(book.report("2026-10"), "ivy") == {
        "reply_over_2min": (1, 5, 0),
        "reply_over_30min": (1, 100, 0),
        "offsite.qq": (1, 0, 2),
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "penalties: expected a mapping, got []"),
        ({"late": {}}, "penalties: unknown rule: 'late'"),
        ({"rude": 100}, "penalties.rude: expected a mapping, got 100"),
        ({"rude": {"yuan": -1}}, "penalties.rude.yuan: expected a whole number >= 0, got -1"),
        ({"rude": {"yuan": 9.5}}, "penalties.rude.yuan: expected a whole number >= 0, got 9.5"),
        ({"rude": {"fine": 9}}, "penalties.rude: unknown field: 'fine'"),
        ({"rude": {"seed": "x"}}, "penalties.rude: unknown field: 'seed'"),
        (
            {"reply_over_2min": {"over_s": 0}},
            "penalties.reply_over_2min.over_s: expected a positive number of seconds, got 0",
        ),
        (
            {"idle": {"at_least_s": "2h"}},
            "penalties.idle.at_least_s: expected a positive number of seconds, got '2h'",
        ),
        ({"points": {"platform": "ebay"}}, "penalties.points.platform: unknown platform: 'ebay'"),
        (
            {"points": {"rules": {"offsite": True}}},
            "penalties.points.rules.offsite: expected a whole number >= 0, got True",
        ),
        ({"points": {"cap": 1}}, "penalties.points: unknown field: 'cap'"),
    ],
)
def test_a_bad_value_is_a_settings_error_naming_the_key(raw, message):
    with pytest.raises(SettingsError) as caught:
        parse_penalties(raw)
    assert str(caught.value) == message


def test_no_section_is_the_seed_defaults():
    assert parse_penalties(None) is DEFAULT_RULES
    assert parse_penalties({}) == DEFAULT_RULES
