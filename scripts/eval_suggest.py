"""Measure the suggester on real buyer lines from ../shared/data/real (never copied into the repo).

    python scripts/eval_suggest.py sample --n 120 --out /work/tmp/suggest_sample.jsonl
        draws real buyer lines (JD sessions, Taobao dialogues) with their top-3 suggestions into a
        file OUTSIDE the repository; label it by hand by setting "category" on each line
        (a phrase category, or "none" when no quick phrase fits).
    python scripts/eval_suggest.py score /work/tmp/suggest_sample.jsonl
        top-1 / top-3 category accuracy over the labelled lines (those not "none"), and misses.

Exits quietly (status 0) when the real data is absent: the project's tests never need it.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.core.phrases import load_library  # noqa: E402
from server.core.suggest import SuggestContext, Suggester  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real"
_JD_TURN = re.compile(r"^(?:Q:\t(.*)|<Q\d+>(.*)</Q\d+>)$")


def jd_buyer_lines(path: Path) -> list[str]:
    """Buyer turns of the JDDC sessions, split at the '!@@@!' message separator."""
    lines: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        match = _JD_TURN.match(raw)
        if match:
            lines.extend(part for part in (match.group(1) or match.group(2)).split("!@@@!"))
    return lines


def taobao_buyer_lines(path: Path) -> list[str]:
    """First context turn of each Taobao dialogue (the buyer's), spaces of segmentation removed."""
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        columns = raw.split("\t")
        if len(columns) > 2 and columns[0] == "1":
            lines.append(columns[1].replace(" ", ""))
    return lines


def usable(line: str) -> bool:
    # Masked data, links and one-word acknowledgements say nothing about intent.
    return 4 <= len(line) <= 60 and "[" not in line and "http" not in line


def sample(n: int, out: Path, seed: int) -> None:
    pool = [("jd", line) for line in jd_buyer_lines(REAL / "jddc2019_dev_question.txt")]
    pool += [("taobao", line) for line in taobao_buyer_lines(REAL / "ecd_sample_test.tsv")]
    pool = sorted({(p, line) for p, line in pool if usable(line)})
    rng = random.Random(seed)
    suggester = Suggester(load_library(ROOT / "phrases"))
    with out.open("w", encoding="utf-8") as file:
        for platform, line in rng.sample(pool, min(n, len(pool))):
            top = suggester.suggest(line, SuggestContext(platform=platform))
            top3 = [s.phrase for s in top]
            row = {"platform": platform, "text": line, "category": "", "top3": top3}
            file.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {min(n, len(pool))} lines to {out}; set 'category' on each, then run score")


def score(labels: Path) -> None:
    suggester = Suggester(load_library(ROOT / "phrases"))
    rows = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    rows = [row for row in rows if row["category"] and row["category"] != "none"]
    top1 = top3 = 0
    misses: Counter[str] = Counter()
    for row in rows:
        context = SuggestContext(platform=row.get("platform", "taobao"))
        categories = [s.category for s in suggester.suggest(row["text"], context)]
        top1 += categories[:1] == [row["category"]]
        if row["category"] in categories:
            top3 += 1
        else:
            misses[row["category"]] += 1
            print(f"miss  {row['category']:<12} {row['text']}  -> {categories}")
    count = len(rows) or 1
    print(f"labelled {len(rows)}: top-1 {top1 / count:.1%}, top-3 {top3 / count:.1%}")
    print(f"top-3 misses by category: {dict(misses)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    draw = commands.add_parser("sample")
    draw.add_argument("--n", type=int, default=120)
    draw.add_argument("--seed", type=int, default=1)
    draw.add_argument("--out", type=Path, required=True)
    grade = commands.add_parser("score")
    grade.add_argument("labels", type=Path)
    args = parser.parse_args()
    if not REAL.is_dir():
        print(f"no real data at {REAL}; nothing to measure")
        return
    if args.command == "sample":
        if ROOT in args.out.resolve().parents:
            parser.error("write the sample outside the repository: it holds real chat text")
        sample(args.n, args.out, args.seed)
    else:
        score(args.labels)


if __name__ == "__main__":
    main()
