"""`kefu qa` on hand-written exports whose answers were worked out by hand (see the comments).

JD (tests/data/qa/jd.jsonl): target 30 s, overdue 180 s, counted 09:00-23:00 local.
  alice c1: 10:00:00 -> 10:00:20 (20 s, first round), 10:01:00 (+10:01:05) -> 10:01:30 (30 s,
            exactly the target: within), 10:05:00 -> 10:06:00 (60 s, miss) "全网最低价" (ad_law).
  bob   c2: 08:50 -> 08:52 (before 09:00: outside the window), 09:30:00 -> 09:33:30 (210 s,
            miss, overdue) "中通" (terse), 22:59:50 -> 23:00:30 (40 s, miss; the round started
            inside the window), 23:10 buyer (outside). c2's first round was the 08:50 one, so bob
            has no first-response time.
  carol c3: 12:00:00 buyer (no agent yet: "unknown", handed over to carol by her auto-reply),
            12:00:25 answer (25 s, first round) with WeChat and a phone number (offsite, privacy);
            12:10:00 buyer never answered: by the export's end (23:10) a miss and overdue.
  dave  c4: 14:00:00 buyer (unknown) -> 14:00:10 dave (10 s, first round) "不知道" (dismissive).
  Six malformed lines: 6, 14, 19, 25, 26, 27.
"""

from __future__ import annotations

import gc
import random
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from server.core.checker import CATEGORIES, load_rules
from server.errors import BadValue
from server.qa import parse_csv_map, run_qa
from server.qa.labels import CATEGORY_LABELS
from server.qa.lines import parse_ts, zone
from server.qa.report import HISTOGRAM_BOUNDS, histogram, percentile
from server.settings import DEFAULT_TIMERS

ROOT = Path(__file__).parents[2]
DATA = ROOT / "tests" / "data" / "qa"
JD = DATA / "jd.jsonl"
TAOBAO = DATA / "taobao.jsonl"
TAOBAO_CSV = DATA / "taobao.csv"
CSV_MAP = "conversation=会话,from=角色,agent=客服,text=内容,ts=时间"
RULES = load_rules(ROOT / "phrases" / "banned")


def report(*paths: Path, platform: str, csv_map: str = "", timezone: str = "Asia/Shanghai"):
    return run_qa(
        list(paths),
        rules=RULES,
        platform=platform,
        timers=DEFAULT_TIMERS,
        timezone=timezone,
        target_rate=0.9,
        columns=parse_csv_map(csv_map),
    ).to_json()


def kpis(summary: dict) -> tuple:
    keys = ("agent", "rounds", "answered", "unanswered", "outside_window", "avg_response_s",
            "first_response_s", "p50_response_s", "p90_response_s", "within_target_rate",
            "overdue", "longest_wait_s")  # fmt: skip
    return tuple(summary[key] for key in keys)


def test_jd_kpis_per_agent_and_in_total():
    document = report(JD, platform="jd")
    assert [kpis(a) for a in document["agents"]] == [
        ("alice", 3, 3, 0, 0, 36.667, 20.0, 30.0, 60.0, 0.6667, 0, 60.0),
        ("bob", 2, 2, 0, 2, 125.0, None, 40.0, 210.0, 0.0, 1, 210.0),
        ("carol", 2, 1, 1, 0, 25.0, 25.0, 25.0, 25.0, 0.5, 1, 25.0),
        ("dave", 1, 1, 0, 0, 10.0, 10.0, 10.0, 10.0, 1.0, 0, 10.0),
    ]
    # Answers 10, 20, 25, 30, 40, 60, 210: mean 395 / 7; first rounds 20, 25, 10.
    assert kpis(document["total"]) == (
        "全部", 8, 7, 1, 2, 56.429, 18.333, 30.0, 210.0, 0.5, 2, 210.0,
    )  # fmt: skip
    assert document["histogram"] == [
        {"le": 10.0, "count": 1}, {"le": 30.0, "count": 3}, {"le": 60.0, "count": 2},
        {"le": 180.0, "count": 0}, {"le": 300.0, "count": 1}, {"le": 900.0, "count": 0},
        {"le": None, "count": 0},
    ]  # fmt: skip
    assert (document["lines"], document["conversations"]) == (26, 4)
    assert (document["from"], document["to"]) == (
        "2025-03-10T08:50:00+08:00", "2025-03-10T23:10:00+08:00",
    )  # fmt: skip
    assert (document["target_s"], document["window"]) == (30, [9, 23])


def test_jd_violations_with_masked_examples():
    document = report(JD, platform="jd")
    checks = [
        (a["agent"], a["checked"], a["flagged"], a["blocked"], a["violations"])
        for a in document["agents"]
    ]
    assert checks == [
        ("alice", 3, 1, 1, {"ad_law": 1}),
        ("bob", 3, 1, 0, {"terse": 1}),
        ("carol", 1, 1, 1, {"offsite": 1, "privacy": 1}),  # the auto-reply is not checked
        ("dave", 1, 1, 0, {"dismissive": 1}),
    ]
    carol = document["agents"][2]
    assert carol["examples"]["offsite"] == [
        {"file": str(JD), "line": 12, "conversation": "c3", "ts": 1741579225.0,
         "text": "亲，满200减20哦，加我微信[手机号]发您优惠券", "rules": ["offsite.wechat"]},
    ]  # fmt: skip
    assert carol["examples"]["privacy"][0]["rules"] == ["privacy.mobile"]
    total = document["total"]
    assert (total["checked"], total["flagged"], total["blocked"]) == (8, 4, 2)
    assert total["violations"] == {
        "offsite": 1, "privacy": 1, "ad_law": 1, "dismissive": 1, "terse": 1,
    }  # fmt: skip


def test_malformed_lines_are_reported_with_file_and_line_number():
    document = report(JD, platform="jd")
    assert document["malformed"] == {
        "count": 6,
        "lines": [
            {"file": str(JD), "line": 6,
             "reason": "invalid json: invalid literal, expected 'null': line 1 column 1 (char 0)"},
            {"file": str(JD), "line": 14,
             "reason": "field 'from' must be 'buyer' or 'agent', got 'seller'"},
            {"file": str(JD), "line": 19, "reason": "invalid ts: 'yesterday'"},
            {"file": str(JD), "line": 25, "reason": "missing field: 'text'"},
            {"file": str(JD), "line": 26, "reason": "expected a json object, got list"},
            {"file": str(JD), "line": 27,
             "reason": "ts out of range (epoch seconds expected): 1741572000000"},
        ],
    }  # fmt: skip


def test_taobao_counts_from_08_00_to_midnight():
    # eve, target 180 s, overdue (千牛's reminder) at 100 s, counted 08:00-24:00:
    # t1 07:59:50 outside; t2 08:00:00 -> 08:02:00 (120 s: within, but overdue at 100 s);
    # t3 23:59:59 -> 00:03:00 next day (181 s: miss, overdue; counted on the 11th);
    # t4 00:00:30 outside. Every answered round is its conversation's first.
    document = report(TAOBAO, platform="taobao")
    assert [kpis(a) for a in document["agents"]] == [
        ("eve", 2, 2, 0, 2, 150.5, 150.5, 120.0, 181.0, 0.5, 2, 181.0),
    ]
    assert document["agents"][0]["checked"] == 4 and document["agents"][0]["violations"] == {}


def test_the_same_export_under_jd_counts_nothing_outside_09_to_23():
    document = report(TAOBAO, platform="jd")
    assert [kpis(a) for a in document["agents"]] == [
        ("eve", 0, 0, 0, 4, None, None, None, None, None, 0, 0.0),
    ]


def test_naive_times_are_read_in_the_given_timezone():
    # Read as UTC, the wall-clock times and the counting window are both UTC, so the same rounds
    # fall inside 08:00-24:00. Had the times been read as Shanghai time against a UTC window,
    # 07:59:50 would be 23:59:50 UTC and count.
    utc = report(TAOBAO, platform="taobao", timezone="UTC")
    assert utc["from"] == "2025-03-11T07:59:50+00:00"
    assert kpis(utc["agents"][0]) == kpis(report(TAOBAO, platform="taobao")["agents"][0])


def test_csv_with_a_column_map_gives_the_same_figures():
    from_csv = report(TAOBAO_CSV, platform="taobao", csv_map=CSV_MAP)
    from_jsonl = report(TAOBAO, platform="taobao")
    assert from_csv["agents"] == [
        {**from_jsonl["agents"][0]}  # the quoted two-line reply checks the same
    ]
    # The header is line 1 and one reply spans lines 5-6, so the short row is line 11.
    assert from_csv["malformed"]["lines"] == [
        {"file": str(TAOBAO_CSV), "line": 11, "reason": "expected 5 columns, got 3"},
    ]


def test_a_csv_without_a_mapped_column_is_reported_not_fatal():
    document = report(TAOBAO_CSV, JD, platform="jd")
    assert document["malformed"]["lines"][0] == {
        "file": str(TAOBAO_CSV), "line": 1,
        "reason": "no column 'conversation' for field 'conversation' (see --csv-map)",
    }  # fmt: skip
    assert [a["agent"] for a in document["agents"]] == ["alice", "bob", "carol", "dave"]


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("from", "csv map entry must be field=column, got 'from'"),
        ("sender=角色", "unknown csv field: 'sender'"),
    ],
)
def test_bad_csv_maps_are_refused(spec, error):
    with pytest.raises(BadValue) as caught:
        parse_csv_map(spec)
    assert str(caught.value) == error


def test_timestamps():
    shanghai = zone("Asia/Shanghai")
    assert parse_ts(1741572060, shanghai) == 1741572060.0
    assert parse_ts("1741572060.5", shanghai) == 1741572060.5
    assert parse_ts("2025-03-10 10:01:00", shanghai) == 1741572060.0
    assert parse_ts("2025-03-10T02:01:00Z", shanghai) == 1741572060.0
    with pytest.raises(BadValue) as caught:
        zone("Mars/Olympus")
    assert str(caught.value) == "unknown timezone: 'Mars/Olympus'"


def test_percentiles_are_nearest_rank_and_the_histogram_includes_its_bounds():
    assert percentile([], 50) is None
    assert [percentile([1.0, 2.0, 3.0, 4.0], p) for p in (25, 50, 90, 100)] == [1.0, 2.0, 4.0, 4.0]
    assert [count for _, count in histogram([10.0, 10.5, 900.0, 901.0])] == [1, 1, 0, 0, 0, 1, 1]


def test_the_histogram_puts_each_time_in_the_first_bucket_that_holds_it():
    rng = random.Random(17)
    times = [
        0.0,
        0,
        10,
        30.0,
        60,
        180.0,
        300,
        900,
        1e9,
        *(rng.uniform(0, 1200) for _ in range(500)),
    ]
    rng.shuffle(times)
    expected = [0] * (len(HISTOGRAM_BOUNDS) + 1)
    for value in times:
        expected[next((i for i, b in enumerate(HISTOGRAM_BOUNDS) if value <= b), -1)] += 1
    assert histogram(times) == list(zip((*HISTOGRAM_BOUNDS, None), expected, strict=True))
    assert histogram([]) == [(bound, 0) for bound in (*HISTOGRAM_BOUNDS, None)]


def test_every_category_has_a_chinese_label():
    assert set(CATEGORY_LABELS) == set(CATEGORIES)


def kefu_qa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", "qa", *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


def test_cli_json_and_terminal_summary(tmp_path):
    result = kefu_qa("tests/data/qa/jd.jsonl", "--platform", "jd", "--json")
    assert result.returncode == 0, result.stderr
    assert kpis(orjson.loads(result.stdout)["total"])[:4] == ("全部", 8, 7, 1)

    result = kefu_qa(
        "tests/data/qa/jd.jsonl", "--platform", "jd", "--html", str(tmp_path / "r.html")
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "客服质检报告：1 个文件，26 行，4 个会话，格式错误 6 行"
    assert lines[5].split() == [
        "alice", "3", "3", "0", "36.7秒", "20.0秒", "30.0秒", "1分00秒", "66.7%", "0",
        "1分00秒", "1",
    ]  # fmt: skip
    assert (
        "    [站外引流] tests/data/qa/jd.jsonl:12 亲，满200减20哦，加我微信[手机号]发您优惠券"
        in lines
    )
    assert "  tests/data/qa/jd.jsonl:19: invalid ts: 'yesterday'" in lines
    assert lines[-1] == f"HTML 报告：{tmp_path / 'r.html'}"
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!doctype html>")


def test_cli_refuses_a_missing_file_and_a_bad_timezone():
    result = kefu_qa("nowhere.jsonl")
    assert (result.returncode, result.stderr) == (2, "kefu: cannot read export: 'nowhere.jsonl'\n")
    result = kefu_qa("tests/data/qa/jd.jsonl", "--timezone", "Mars/Olympus")
    assert (result.returncode, result.stderr) == (2, "kefu: unknown timezone: 'Mars/Olympus'\n")


def test_the_collector_is_on_again_after_a_report_and_stays_off_if_it_was():
    assert gc.isenabled()
    report(JD, platform="jd")
    assert gc.isenabled()
    gc.disable()
    try:
        report(JD, platform="jd")
        assert not gc.isenabled()
    finally:
        gc.enable()
