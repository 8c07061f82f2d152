"""Run the wording checker over real agent replies and count what it flags.

Reads the real public data in ``../shared/data/real`` (never copied into the repo):
``ecd_sample_*.tsv`` (Taobao; column 1 == "1" rows are real agent replies, words space-separated)
and ``jddc2019_dev_answer.txt`` (JD; three human agents' replies per line). Prints, per category,
how many replies are flagged and a few flagged lines to tune false alarms with.

    .venv/bin/python scripts/eval_checker.py [--data DIR] [--samples N]

Exits 0 without doing anything when the data folder is absent.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.core.checker import CATEGORIES, CheckContext, RuleSet, load_rules  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "real"
_JD_SPLIT = re.compile(r"<sep>|!@@@!")
# Masked personal data ("[数字x]") and the corpus's emoticon codes ("#E-s33").
_JD_MASK = re.compile(
    r"\[(?:数字|订单|地址|姓名|电话|金额|日期|时间|站点|组织机构|邮箱|身份证号|商品)x?\]|#E-s\d+"
)


def taobao_replies(data: Path) -> Iterator[str]:
    """The true agent replies of the ECD sample (spaces removed: the corpus is segmented)."""
    seen = set()
    for path in sorted(data.glob("ecd_sample_*.tsv")):
        for line in path.read_text(encoding="utf-8").splitlines():
            columns = line.split("\t")
            if len(columns) > 1 and columns[0] == "1":
                reply = columns[-1].replace(" ", "")
                if reply and reply not in seen:
                    seen.add(reply)
                    yield reply


def jd_replies(data: Path) -> Iterator[str]:
    """Each human agent's reply of the JDDC dev answers, one message at a time."""
    path = data / "jddc2019_dev_answer.txt"
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        for message in _JD_SPLIT.split(line):
            message = _JD_MASK.sub("", message).strip()
            if message and message != "NULL" and not message.startswith("<session"):
                yield message


def evaluate(rules: RuleSet, replies: list[str], context: CheckContext, samples: int) -> None:
    flagged: Counter[str] = Counter()
    blocked: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    for reply in replies:
        violations = rules.check(reply, context)
        for category in {v.category for v in violations}:
            flagged[category] += 1
            if len(examples[category]) < samples:
                found = [f"{v.rule}:{v.match}" for v in violations if v.category == category]
                examples[category].append(f"{reply[:60]}  <- {', '.join(found)}")
        for category in {v.category for v in violations if v.severity == "block"}:
            blocked[category] += 1
    total = len(replies)
    print(f"\n== {context.platform}: {total} real agent replies")
    print(f"{'category':<12}{'flagged':>8}{'rate':>8}{'block':>7}")
    for category in CATEGORIES:
        rate = flagged[category] / total if total else 0.0
        print(f"{category:<12}{flagged[category]:>8}{rate:>8.1%}{blocked[category]:>7}")
    for category in CATEGORIES:
        for example in examples[category]:
            print(f"  [{category}] {example}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--samples", type=int, default=5, help="flagged lines shown per category")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: no real data at {args.data}")
        return 0
    rules = load_rules(ROOT / "phrases" / "banned")
    evaluate(rules, list(taobao_replies(args.data)), CheckContext(platform="taobao"), args.samples)
    evaluate(rules, list(jd_replies(args.data)), CheckContext(platform="jd"), args.samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
