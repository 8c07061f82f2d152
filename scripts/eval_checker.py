"""Measure the wording checker: labelled drafts, labelled real lines, block rate on real replies.

Three measurements, each printed as a table:

1. **Drafts** (always): recall per category and clean replies blocked/flagged on the drafts of
   ``tests/data/checker/``: ``dev_drafts.jsonl`` (what rules are developed against, with the old
   ``labelled.jsonl`` as a regression set) and the held-out sets, never tuned on:
   ``test_drafts.jsonl`` (written before the cue rules), ``test2_drafts.jsonl`` (long polite
   replies as real agents write them) and ``test3_drafts.jsonl`` (a curt chat voice), both
   written before round 2 changed a rule.
2. **Real lines by reference** (needs ``../shared``): ``real_labels.jsonl`` labels real agent
   lines by (file, line, part) only, never their text. A line is in the test split when the first
   byte of sha1("file:line") is odd, else in dev (a rule fixed before any result was seen).
   Precision and recall per category on both splits.
3. **Block rate on every real agent reply** (needs ``../shared``): ECD Taobao responses (checked
   as ``taobao``), the JDDC dev answers and the agent lines of the JDDC dev contexts (as ``jd``);
   every blocked line is listed with its rule, for review.

    .venv/bin/python scripts/eval_checker.py [--data DIR] [--drafts-only]

Parts 2 and 3 are skipped, with a message, when the data folder is absent.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.core.checker import CATEGORIES, CheckContext, RuleSet, load_rules  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "real"
LABELS = ROOT / "tests" / "data" / "checker"
DRAFT_SETS = (
    "labelled.jsonl",
    "dev_drafts.jsonl",
    "test_drafts.jsonl",
    "test2_drafts.jsonl",
    "test3_drafts.jsonl",
)
_JD_SPLIT = re.compile(r"<sep>|!@@@!")
# Masked personal data ("[数字x]") and the corpus's emoticon codes ("#E-s33").
_JD_MASK = re.compile(
    r"\[(?:数字|订单|地址|姓名|电话|金额|日期|时间|站点|组织机构|邮箱|身份证号|商品)x?\]|#E-s\d+"
)


@dataclass(frozen=True, slots=True)
class RealLine:
    """One real agent message: where it is (file, 1-based line, part of the line) and its text."""

    file: str
    line: int
    part: int
    platform: str
    text: str

    @property
    def split(self) -> str:
        return split_of(self.file, self.line)


def split_of(file: str, line: int) -> str:
    """``test`` or ``dev``: fixed by a hash of the reference, not by anything in the line."""
    return "test" if hashlib.sha1(f"{file}:{line}".encode()).digest()[0] % 2 else "dev"


def context_of(row: dict) -> CheckContext:
    return CheckContext(
        platform=row["platform"],
        free_shipping=row.get("free_shipping", False),
        cash_on_delivery=row.get("cash_on_delivery", False),
    )


def found_categories(rules: RuleSet, text: str, context: CheckContext) -> dict[str, str]:
    """Category → worst severity found in ``text``."""
    found: dict[str, str] = {}
    for violation in rules.check(text, context):
        if found.get(violation.category) != "block":
            found[violation.category] = violation.severity
    return found


@dataclass(slots=True)
class Score:
    """Counts for one set: per category expected/caught/flagged-wrongly, clean blocked/flagged."""

    expected: Counter[str]
    caught: Counter[str]
    false_flags: Counter[str]  # flagged in the category on a line not labelled with it
    clean: int = 0
    clean_blocked: int = 0
    clean_flagged: int = 0

    def recall(self, category: str) -> float | None:
        total = self.expected[category]
        return self.caught[category] / total if total else None

    def precision(self, category: str) -> float | None:
        flagged = self.caught[category] + self.false_flags[category]
        return self.caught[category] / flagged if flagged else None


def score(rules: RuleSet, rows: Iterable[tuple[str, CheckContext, list[str]]]) -> Score:
    result = Score(Counter(), Counter(), Counter())
    for text, context, expect in rows:
        found = found_categories(rules, text, context)
        for category in expect:
            result.expected[category] += 1
            result.caught[category] += category in found
        for category in set(found) - set(expect):
            result.false_flags[category] += 1
        if not expect:
            result.clean += 1
            result.clean_blocked += "block" in found.values()
            result.clean_flagged += bool(found)
    return result


def read_drafts(path: Path) -> list[tuple[str, CheckContext, list[str]]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [(row["text"], context_of(row), row["expect"]) for row in rows]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def print_score(title: str, result: Score) -> None:
    print(f"\n== {title}")
    print(f"{'category':<12}{'lines':>7}{'caught':>8}{'recall':>9}{'precision':>11}")
    for category in CATEGORIES:
        print(
            f"{category:<12}{result.expected[category]:>7}{result.caught[category]:>8}"
            f"{_percent(result.recall(category)):>9}{_percent(result.precision(category)):>11}"
        )
    total, caught = sum(result.expected.values()), sum(result.caught.values())
    print(f"{'all':<12}{total:>7}{caught:>8}{_percent(caught / total if total else None):>9}")
    print(
        f"clean: {result.clean}, blocked {result.clean_blocked}, "
        f"flagged (any severity) {result.clean_flagged}"
    )


def _jd_messages(file: str, lines: list[str], prefix: str) -> Iterator[RealLine]:
    for number, line in enumerate(lines, start=1):
        if not line.startswith(prefix):
            continue
        for part, message in enumerate(_JD_SPLIT.split(line[len(prefix) :])):
            message = _JD_MASK.sub("", message).strip()
            if message and message != "NULL" and not message.startswith("<session"):
                yield RealLine(file, number, part, "jd", message)


def real_lines(data: Path) -> Iterator[RealLine]:
    """Every real agent reply: ECD responses (column 1 == "1"), JDDC answers and context lines."""
    for path in sorted(data.glob("ecd_sample_*.tsv")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            columns = line.split("\t")
            if len(columns) > 1 and columns[0] == "1":
                reply = columns[-1].replace(" ", "")
                if reply:
                    yield RealLine(path.name, number, 0, "taobao", reply)
    for name, prefix in (("jddc2019_dev_answer.txt", ""), ("jddc2019_dev_question.txt", "A:\t")):
        path = data / name
        if path.exists():
            yield from _jd_messages(name, path.read_text(encoding="utf-8").splitlines(), prefix)


def evaluate_real(rules: RuleSet, data: Path) -> None:
    lines = list(real_lines(data))
    by_reference = {(line.file, line.line, line.part): line for line in lines}
    labels = [
        json.loads(row)
        for row in (LABELS / "real_labels.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    for split in ("dev", "test"):
        rows = []
        for label in labels:
            line = by_reference.get((label["file"], label["line"], label["part"]))
            if line is None:
                print(f"  missing real line: {label['file']}:{label['line']}:{label['part']}")
            elif line.split == split:
                rows.append((line.text, CheckContext(platform=line.platform), label["expect"]))
        title = f"real lines labelled by reference, {split} split ({len(rows)})"
        print_score(title, score(rules, rows))
    blocked = []
    counts: Counter[str] = Counter()
    for line in lines:
        counts[line.file] += 1
        rules_hit = sorted(
            {v.rule for v in rules.check(line.text, CheckContext(platform=line.platform))
             if v.severity == "block"}
        )  # fmt: skip
        if rules_hit:
            blocked.append((line, rules_hit))
    print(f"\n== every real agent reply: {len(lines)} ({dict(counts)})")
    print(f"blocked: {len(blocked)} ({len(blocked) / len(lines):.2%}; target <= 0.30%)")
    for line, rules_hit in blocked:
        print(f"  {line.file}:{line.line}:{line.part} [{', '.join(rules_hit)}] {line.text[:80]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--drafts-only", action="store_true", help="skip the real data")
    args = parser.parse_args()
    rules = load_rules(ROOT / "phrases" / "banned")
    for name in DRAFT_SETS:
        if (LABELS / name).exists():
            print_score(f"drafts: {name}", score(rules, read_drafts(LABELS / name)))
    if args.drafts_only:
        return 0
    if not args.data.is_dir():
        print(f"\nskipped the real data: nothing at {args.data}")
        return 0
    evaluate_real(rules, args.data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
