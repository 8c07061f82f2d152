"""`kefu qa` fines, points and polite-form notes over an export worked out by hand.

tests/data/qa/penalties.jsonl, Tmall, Asia/Shanghai (defaults: docs/penalties.md):
  March   alice c1 23:50:00 -> 23:56:00 (360 s): over 2 min (1st of March), over 5 min ¥20.
  April   alice c2 09:00:00 refund asked -> 09:00:50 "嗯" (50 s): refund answered in time; terse
                ¥10; an opening without 敬语 (note).
          alice c3 10:00:00 -> 10:02:10 "不能便宜" (130 s, over 2 min #1): terse ¥10 (4
                characters); opening without 敬语 and a refusal without an apology (notes).
                10:03:00 -> 10:05:30 "请稍等" (150 s, #2); the 10:09:00 line is 3.5 min later
                (the please-wait promise missed: a clock, no default fine).
          bob   c4 11:00:00 -> 11:40:00 (2400 s): over 2 min (#1), over 30 min ¥100, over 5 min ¥20.
          bob   c5 12:00:00 refund asked, never answered: refund missed at 12:30 ¥30; the round is
                still open at the export's end (04-03 09:12:01, 76,321 s): over 2 min (#2), over
                2 hours ¥200 (instead of the 30-minute step), over 5 min ¥20.
          alice c6 14:00:00 -> 14:00:05; 14:01:00 -> 14:01:30 "加我微信": offsite, 6 Tmall points.
          alice c7 04-03 09:00:00 -> 09:03:00 (180 s, #3), 09:10:00 -> 09:12:01 (121 s, #4):
                the fourth in April is past "超过3次": ¥50, once.
  alice April: 50 + 20 = ¥70 and 6 points; bob: 100 + 200 + 40 + 30 = ¥370; shop ¥440, 6/12.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from server.qa.polite import notes

ROOT = Path(__file__).parents[2]
EXPORT = "tests/data/qa/penalties.jsonl"


def item(rule: str, count: int, yuan: int = 0, points: int = 0) -> dict:
    return {"rule": rule, "count": count, "yuan": yuan, "points": points}


MARCH_ALICE = {
    "agent": "alice",
    "yuan": 20,
    "points": 0,
    "items": [item("reply_over_2min", 1), item("answer_over_5min", 1, 20)],
    "next": {"rule": "reply_over_2min", "remaining": 3, "yuan": 50, "over_s": 120},
    "text": "本月已罚 ¥20；再有 3 次超过 2 分钟将罚 ¥50",
}
APRIL_ALICE = {
    "agent": "alice",
    "yuan": 70,
    "points": 6,
    "items": [
        item("reply_over_2min", 4, 50),
        item("terse", 2, 20),
        item("offsite.wechat", 1, points=6),
    ],
    "next": None,
    "text": "本月已罚 ¥70，扣 6 分",
}
APRIL_BOB = {
    "agent": "bob",
    "yuan": 370,
    "points": 0,
    "items": [
        item("reply_over_2min", 2),
        item("reply_over_30min", 1, 100),
        item("reply_over_2h", 1, 200),
        item("answer_over_5min", 2, 40),
        item("refund_missed", 1, 30),
    ],
    "next": {"rule": "reply_over_2min", "remaining": 2, "yuan": 50, "over_s": 120},
    "text": "本月已罚 ¥370；再有 2 次超过 2 分钟将罚 ¥50",
}


def shop(yuan: int, points: int) -> dict:
    return {
        "yuan": yuan,
        "points": points,
        "points_platform": "tmall",
        "points_limit": 12,
        "points_left": 12 - points,
        "limit_reached": False,
        "text": f"本月共罚 ¥{yuan}；天猫扣分 {points}/12",
    }


def kefu_qa(*args: str, config: str = "") -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "KEFU_CONFIG": config}
    return subprocess.run(
        [sys.executable, "-m", "server", "qa", *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
    )  # fmt: skip


def test_kefu_qa_json_gives_the_hand_worked_penalties_per_agent():
    result = kefu_qa(EXPORT, "--platform", "tmall", "--json")
    assert result.returncode == 0, result.stderr
    document = orjson.loads(result.stdout)
    assert document["penalties"] == [
        {"month": "2026-03", "agents": [MARCH_ALICE], "shop": shop(20, 0)},
        {"month": "2026-04", "agents": [APRIL_ALICE, APRIL_BOB], "shop": shop(440, 6)},
    ]
    alice, bob = document["agents"]
    without_agent = {k: v for k, v in MARCH_ALICE.items() if k != "agent"}
    assert alice["penalties"]["months"][0] == {"month": "2026-03", **without_agent}
    assert (alice["penalties"]["yuan"], alice["penalties"]["points"]) == (90, 6)
    assert (bob["penalties"]["yuan"], bob["penalties"]["points"]) == (370, 0)
    assert (document["total"]["penalties"]["yuan"], document["total"]["penalties"]["points"]) == (
        460,
        6,
    )
    assert alice["notes"] == {"opening": 2, "refusal": 1}
    assert [e["line"] for e in alice["note_examples"]["opening"]] == [4, 6]
    assert [e["text"] for e in alice["note_examples"]["refusal"]] == ["不能便宜"]
    assert bob["notes"] == {}


def test_shop_amounts_come_from_the_config(tmp_path):
    config = tmp_path / "kefu.yaml"
    config.write_text("penalties:\n  terse: {yuan: 5}\n  refund_missed: {yuan: 0}\n")
    result = kefu_qa(EXPORT, "--platform", "tmall", "--json", config=str(config))
    assert result.returncode == 0, result.stderr
    april = orjson.loads(result.stdout)["penalties"][1]
    assert [(row["agent"], row["yuan"]) for row in april["agents"]] == [("alice", 60), ("bob", 340)]

    config.write_text("penalties:\n  terse: {yuan: ten}\n")
    result = kefu_qa(EXPORT, "--platform", "tmall", "--json", config=str(config))
    assert result.returncode != 0
    assert "penalties.terse.yuan: expected a whole number >= 0, got 'ten'" in result.stderr


def test_points_are_the_platforms_own():
    result = kefu_qa(EXPORT, "--platform", "taobao", "--json")
    april = orjson.loads(result.stdout)["penalties"][1]
    assert [(row["agent"], row["points"]) for row in april["agents"]] == [("alice", 0), ("bob", 0)]


def test_the_terminal_summary_and_the_html_report_show_them(tmp_path):
    out = tmp_path / "r.html"
    result = kefu_qa(EXPORT, "--platform", "tmall", "--html", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "罚款与扣分 2026-04：本月共罚 ¥440；天猫扣分 6/12" in lines
    assert "  bob：本月已罚 ¥370；再有 2 次超过 2 分钟将罚 ¥50" in lines
    assert "    超过 2 小时回复 ×1 ¥200" in lines
    assert "    站外引流（offsite.wechat） ×1 6分" in lines
    assert "  alice：开场没有敬语 2，拒绝时没有先致歉 1" in lines
    page = out.read_text(encoding="utf-8")
    assert "<td>2026-04</td><td>bob</td><td>¥370</td><td>0</td>" in page
    assert "本月已罚 ¥370；再有 2 次超过 2 分钟将罚 ¥50" in page
    assert "<td>全店</td><td>¥440</td><td>6</td>" in page
    assert '拒绝时没有先致歉</span><span class="text">不能便宜</span>' in page


@pytest.mark.parametrize(
    ("text", "first", "expected"),
    [
        ("您好，很高兴为您服务", True, []),
        ("在的亲", True, []),
        ("有货", True, ["opening"]),
        ("有货", False, []),  # only a conversation's first reply opens it
        ("不能便宜", False, ["refusal"]),
        ("非常抱歉，这个价格无法再低了", False, []),  # seed 001, as it asks
        ("这个价格无法再低了，抱歉", False, ["refusal"]),  # the apology must come first
        ("少不了您的赠品", False, []),
        ("不好意思亲，不支持货到付款", False, []),
        ("不行", True, ["opening", "refusal"]),
    ],
)
def test_polite_form_notes(text, first, expected):
    assert notes(text, first) == expected
