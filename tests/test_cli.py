"""The command line: `kefu check`, `kefu suggest` and `kefu lint` as a user runs them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).parent.parent


def kefu(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        input=stdin, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


def test_check_json_reads_stdin_line_by_line():
    result = kefu(
        "check", "--json", "--platform", "tmall", stdin="加我微信吧\n\n亲，马上为您发货\n"
    )
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0
    assert [line["text"] for line in lines] == ["加我微信吧", "亲，马上为您发货"]
    assert lines[0]["ok"] is False
    assert lines[0]["violations"][0] | {"message": "", "suggestion": None} == {
        "rule": "offsite.wechat", "category": "offsite", "severity": "block", "start": 2,
        "end": 4, "match": "微信", "message": "", "suggestion": None,
    }  # fmt: skip
    assert lines[1] == {
        "type": "check_result",
        "ok": True,
        "violations": [],
        "text": "亲，马上为您发货",
    }


def test_check_exits_1_when_a_draft_is_blocked():
    assert kefu("check", "全网最低价").returncode == 1
    assert kefu("check", "亲，马上为您发货").returncode == 0


def test_check_explain_prints_the_cues_and_why_each_rule_fired_or_not():
    result = kefu("check", "--explain", "货到付款的话运费您出", "--cash-on-delivery")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "✗ 货到付款的话运费您出",
        "    [block] commitment.cash_on_delivery (commitment) 「货到付款的话运费您出」"
        " → 支持货到付款: 已开通货到付款却拒绝、不包邮或关闭货到付款订单属于违背承诺，"
        "拒绝扣4分，关闭订单扣6分",
        # Only the families of rules in force on Taobao: 包邮 is not promised here and the
        # credit-card rules are Tmall's and JD's, so shipping_fee and surcharge are not listed.
        "    cue cod: 货到付 货到付款",
        "    cue charge: 到付 您出",
        "    cue payment_context: 付款",
        "    cue return_context: 运费",
        "    why commitment.cash_on_delivery: cod + charge: composed",
        # 到付款 ends where 货到付款 does: one cue, the longer word. Both cod cues compose;
        # 到付 inside 货到付款 is no charge. One highlight once joined.
        "    why commitment.cash_on_delivery: 货到付款的话运费您出: fired (block)",
        "    why commitment.cash_on_delivery: 货到付款的话运费您出: fired (block)",
    ]
    plain = kefu("check", "--json", "--explain", "货到付款的话运费您出")
    (line,) = [orjson.loads(line) for line in plain.stdout.splitlines()]
    assert (line["ok"], line["explain"]["events"]) == (True, [])  # no COD offered: not in force


def test_suggest_json():
    result = kefu("suggest", "--json", stdin="能开发票吗\n")
    (line,) = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert line["type"] == "suggestions" and line["text"] == "能开发票吗"
    assert line["items"][0]["category"] == "invoice" and len(line["items"]) == 3
    # The items the server sends (protocol.suggestion_items), scores rounded the same way.
    assert set(line) == {"type", "items", "text"}
    assert [item["score"] for item in line["items"]] == [
        round(item["score"], 3) for item in line["items"]
    ]


def test_lint_passes_on_the_shipped_library():
    result = kefu("lint", "phrases/")
    assert (result.returncode, result.stdout) == (0, "phrases: ok\n")


def test_lint_fails_on_a_phrase_that_says_add_me_on_wechat(tmp_path):
    shutil.copytree(ROOT / "phrases" / "banned", tmp_path / "banned")
    shutil.copy(ROOT / "tests" / "data" / "lint" / "wechat.yaml", tmp_path)
    result = kefu("lint", str(tmp_path))
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        f"{tmp_path}/wechat.yaml:1: "
        "phrase 'after_sales.contact' is blocked by rule 'offsite.wechat'\n",
        "1 problem(s)\n",
    )


def test_qa_learn_writes_the_shops_examples(tmp_path):
    out = tmp_path / "shop.json"
    result = kefu("qa", "tests/data/qa/jd.jsonl", "--platform", "jd", "--learn", str(out))
    assert result.returncode == 0, result.stderr
    document = orjson.loads(out.read_bytes())
    assert document["pairs"] == 9
    assert document["examples"] == [
        {"tokens": ["在"], "phrase": "welcome.greet"},
        {"tokens": ["有", "优惠"], "phrase": "bargain.coupon"},
    ]
    assert "学习：9 组买家消息与回复，2 组对应到话术" in result.stderr
