"""`kefu qa` throughput: lines per second over a synthetic 100,000-line JSONL export.

The export is generated here: 20 agents, conversations of three to eight buyer questions each
answered after 5-300 s, spread over one day (some rounds start outside the counting window),
times half as epoch seconds and half as ISO 8601 strings. Every line's text is different
(numbers, sizes, colours, order ids), and about one agent reply in ten breaks a rule, so the
checker cannot be answered from a cache and takes its slow path as often as real chats would.

Measured in process, as the CLI runs it after start-up: read and validate every line, replay it
through the tracker, check every agent reply, build the JSON report. The baseline, in the same
run, is decoding the same file with orjson alone. The CLI as a user runs it (a fresh process,
rule packs loaded, JSON printed) is reported too.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from server.core.checker import load_rules
from server.qa import run_qa
from server.settings import DEFAULT_TIMERS

ROOT = Path(__file__).resolve().parent.parent
ZONE = ZoneInfo("Asia/Shanghai")
DAY_START = datetime(2025, 3, 10, 7, 0, tzinfo=ZONE).timestamp()  # 07:00, before the window
TARGET_LINES_PER_S = 100_000

_QUESTIONS = (
    "这件{color}的有{size}码吗", "身高{n}厘米穿什么码", "能便宜{n}块吗", "今天{n}点前下单能发吗",
    "发什么快递，{city}几天到", "订单{order}怎么还没发货", "{color}和{color2}哪个显白",
    "可以开发票吗，抬头是{city}{n}公司", "买{n}件有优惠吗", "质量怎么样，会起球吗",
)  # fmt: skip
_ANSWERS = (
    "亲，{color}{size}码有货的哦，今天{n}点前下单当天发出", "亲，身高{n}建议选{size}码，偏大一码",
    "亲，已经是活动价了，满{n}减{n2}可以叠加哦", "亲，默认{city}发中通，一般{n}天左右到",
    "订单{order}已经安排，预计今天{n}点前发出", "亲，{color}更百搭，{color2}更显白哦",
    "可以开的亲，下单时备注抬头{city}{n}公司即可", "亲，这款是纯棉的，洗{n}次也不起球",
    "好的亲，已经帮您备注好了，订单{order}请核对", "亲，{n}件以上可以联系我们申请团购价",
)  # fmt: skip
_BAD_ANSWERS = (
    "亲，加我微信{n}发您优惠券", "这是全网最低价了亲，第{n}名的销量", "好评返现{n}元哦亲",
    "不知道呢亲，{n}号再问吧", "保证{n}天到，绝对不会晚",
)  # fmt: skip
_FILL = {
    "color": ("黑色", "白色", "燕麦色", "雾霾蓝", "酒红"),
    "color2": ("杏色", "灰色", "藏青", "墨绿"),
    "size": ("S", "M", "L", "XL", "XXL"),
    "city": ("杭州", "广州", "成都", "沈阳", "昆明", "苏州"),
}


def _text(rng: random.Random, template: str) -> str:
    fill = {key: rng.choice(values) for key, values in _FILL.items()}
    return template.format(
        n=rng.randint(1, 9999), n2=rng.randint(1, 99), order=rng.randint(10**11, 10**12), **fill
    )


def _ts(rng: random.Random, ts: float) -> float | str:
    if rng.random() < 0.5:
        return round(ts, 3)
    return datetime.fromtimestamp(ts, ZONE).isoformat(timespec="seconds")


def synthetic_export(path: Path, lines: int, seed: int = 3) -> int:
    """Write about ``lines`` chat lines; returns how many."""
    rng = random.Random(seed)
    rows: list[bytes] = []
    conversation = 0
    while len(rows) < lines:
        conversation += 1
        agent = f"agent{rng.randint(1, 20):02d}"
        ts = DAY_START + rng.uniform(0, 17 * 3600)
        for _ in range(rng.randint(3, 8)):
            question = {"conversation": f"c{conversation}", "from": "buyer",
                        "text": _text(rng, rng.choice(_QUESTIONS)), "ts": _ts(rng, ts)}  # fmt: skip
            ts += rng.expovariate(1 / 40) + 5
            answers = _BAD_ANSWERS if rng.random() < 0.1 else _ANSWERS
            answer = {"conversation": f"c{conversation}", "from": "agent", "agent": agent,
                      "text": _text(rng, rng.choice(answers)), "ts": _ts(rng, ts)}  # fmt: skip
            rows += [orjson.dumps(question), orjson.dumps(answer)]
            ts += rng.uniform(20, 600)
    path.write_bytes(b"\n".join(rows) + b"\n")
    return len(rows)


def _best(function: object, repeats: int) -> float:
    """The fastest of ``repeats`` runs, in seconds: the least disturbed by the noisy machine."""
    assert callable(function)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return min(times)


def run(quick: bool) -> list[dict]:
    count = 20_000 if quick else 100_000
    repeats = 2 if quick else 3
    rules = load_rules(ROOT / "phrases" / "banned")
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export.jsonl"
        lines = synthetic_export(export, count)

        def qa() -> None:
            report = run_qa(
                [export], rules=rules, platform="taobao", timers=DEFAULT_TIMERS,
                timezone="Asia/Shanghai", target_rate=0.9, columns={},
            )  # fmt: skip
            report.to_json()

        def decode_only() -> None:
            with export.open("rb") as stream:
                for raw in stream:
                    orjson.loads(raw)

        qa_s = _best(qa, repeats)
        decode_s = _best(decode_only, repeats)
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "server", "qa", str(export), "--json"],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        cli_s = time.perf_counter() - began
    rate = lines / qa_s
    return [
        {
            "figure": f"kefu qa throughput, {lines:,}-line synthetic export (in process)",
            "value": round(rate),
            "unit": "lines/s",
            "baseline": round(lines / decode_s),
            "baseline_label": "orjson decoding the same lines alone",
            "target": f">= {TARGET_LINES_PER_S:,} lines/s",
            "met": rate >= TARGET_LINES_PER_S,
        },
        {
            "figure": f"kefu qa --json end to end, {lines:,} lines (fresh process)",
            "value": round(cli_s, 2),
            "unit": "s",
            "baseline": None,
            "baseline_label": None,
            "target": "report only",
            "met": True,
        },
    ]


if __name__ == "__main__":
    for figure in run(quick="--quick" in sys.argv):
        print(figure)
