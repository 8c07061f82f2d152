"""Measure the suggester on real buyer lines from ../shared/data/real (never copied into the repo).

The labels live in ``tests/data/suggest/real_labels.jsonl`` BY REFERENCE only: ``ref`` is
``file:line:part`` (JDDC: 1-based line of a buyer turn, 0-based index of the message inside it
when the turn holds several joined by ``!@@@!``; ECD: 1-based line of the dialogue, 0-based tab
column of the buyer turn; clothing reviews: 1-based line of the CSV row, column 2),
``categories`` the phrase categories that answer it (first = primary),
or ``["none"]``. Labelling guideline: docs/suggestions.md.

Split, fixed before any result was looked at: a line is in ``dev`` when the SHA-1 of its ref is
even, else in ``test``. Tune on dev; report test.

    python scripts/eval_suggest.py score [--split dev|test|both] [--misses]
        top-1 / top-3 per primary category (lines labelled none are left out).
    python scripts/eval_suggest.py learn
        what learning from the shop's history moves: (buyer line, agent's next reply) pairs of the
        same files, replies mapped to phrases, test-split lines held back; test scored without
        and with the learned examples.
    python scripts/eval_suggest.py pool --out /work/tmp/pool.tsv
        every buyer line with its ref, to a file OUTSIDE the repository, for labelling.

Exits quietly (status 0) when the real data is absent: the project's tests never need it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.core.learn import ExampleBook, learn  # noqa: E402
from server.core.phrases import CATEGORIES, load_library  # noqa: E402
from server.core.suggest import SuggestContext, Suggester  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real"
LABELS = ROOT / "tests" / "data" / "suggest" / "real_labels.jsonl"
JD_FILES = ("jddc2019_dev_question.txt",)
ECD_FILES = ("ecd_sample_test.tsv", "ecd_sample_train.tsv")
REVIEW_FILE = "online_shopping_clothes_reviews.csv"
_JD_TURN = re.compile(r"^(?:Q:\t(.*)|<Q\d+>(.*)</Q\d+>)$")


def platform_of(ref: str) -> str:
    # The clothing reviews name 京东 throughout: JD buyers.
    return "jd" if ref.startswith(("jddc", REVIEW_FILE)) else "taobao"


def split_of(ref: str) -> str:
    return "dev" if int(hashlib.sha1(ref.encode()).hexdigest(), 16) % 2 == 0 else "test"


def buyer_lines(directory: Path = REAL) -> Iterator[tuple[str, str]]:
    """(ref, text) of every buyer message in the JDDC sessions and ECD dialogues."""
    for name in JD_FILES:
        raw_lines = (directory / name).read_text(encoding="utf-8").splitlines()
        for number, raw in enumerate(raw_lines, 1):
            match = _JD_TURN.match(raw)
            if match:
                for part, text in enumerate((match.group(1) or match.group(2)).split("!@@@!")):
                    yield f"{name}:{number}:{part}", text
    for name in ECD_FILES:
        raw_lines = (directory / name).read_text(encoding="utf-8").splitlines()
        for number, raw in enumerate(raw_lines, 1):
            columns = raw.split("\t")
            # label, context turns (buyer first, alternating, buyer last), response
            for column in range(1, len(columns) - 1, 2):
                yield f"{name}:{number}:{column}", columns[column].replace(" ", "")


def review_lines(directory: Path = REAL) -> Iterator[tuple[str, str]]:
    """(ref, text) of every clothing review (one CSV row per line: cat, label, review)."""
    raw_lines = (directory / REVIEW_FILE).read_text(encoding="utf-8").splitlines()
    for number, row in enumerate(csv.reader(raw_lines[1:]), 2):
        yield f"{REVIEW_FILE}:{number}:2", row[2].lstrip("\ufeff")


def labelled(split: str) -> list[tuple[str, str, list[str]]]:
    """(ref, text, categories) of the labelled lines of ``split`` (dev, test or both)."""
    texts = dict(buyer_lines())
    texts.update(review_lines())
    rows = []
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if split in ("both", split_of(row["ref"])):
            rows.append((row["ref"], texts[row["ref"]], row["categories"]))
    return rows


def score(
    split: str,
    show_misses: bool,
    suggester: Suggester | None = None,
    examples: ExampleBook | None = None,
) -> dict[str, float]:
    suggester = suggester or Suggester(load_library(ROOT / "phrases"))
    rows = [row for row in labelled(split) if row[2] != ["none"]]
    per: dict[str, list[int]] = {category: [0, 0, 0] for category in CATEGORIES}
    for ref, text, categories in rows:
        context = SuggestContext(platform=platform_of(ref), examples=examples)
        got = [s.category for s in suggester.suggest(text, context)]
        counts = per[categories[0]]
        counts[0] += 1
        counts[1] += bool(got[:1]) and got[0] in categories
        hit = any(category in categories for category in got)
        counts[2] += hit
        if show_misses and not hit:
            print(f"miss  {ref:<34} {'/'.join(categories):<22} -> {got}  {text[:60]}")
    total = [sum(counts[i] for counts in per.values()) for i in range(3)]
    print(f"{split}: {total[0]} lines (none left out)")
    print(f"  {'category':<12} {'lines':>5} {'top-1':>7} {'top-3':>7}")
    for category, (n, top1, top3) in per.items():
        if n:
            print(f"  {category:<12} {n:>5} {top1 / n:>7.1%} {top3 / n:>7.1%}")
    n = total[0] or 1
    print(f"  {'all':<12} {total[0]:>5} {total[1] / n:>7.1%} {total[2] / n:>7.1%}")
    return {"top1": total[1] / n, "top3": total[2] / n}


def reply_pairs(directory: Path = REAL) -> list[tuple[str, str]]:
    """(buyer message, the agent's next reply) of the JDDC context turns and ECD dialogues."""
    pairs: list[tuple[str, str]] = []
    for name in JD_FILES:
        raw_lines = (directory / name).read_text(encoding="utf-8").splitlines()
        for raw, following in zip(raw_lines, raw_lines[1:], strict=False):
            if raw.startswith("Q:\t") and following.startswith("A:\t"):
                # three agents' answers joined by <sep>: the first that answered
                replies = [r for r in following[3:].split("<sep>") if r.strip() != "NULL"]
                if replies:
                    reply = replies[0].replace("!@@@!", "，")
                    pairs.extend((part, reply) for part in raw[3:].split("!@@@!"))
    for name in ECD_FILES:
        for raw in (directory / name).read_text(encoding="utf-8").splitlines():
            columns = [c.replace(" ", "") for c in raw.split("\t")]
            if columns[0] != "1":
                continue  # each dialogue once, with its true response
            turns = columns[1:]
            pairs.extend((turns[i], turns[i + 1]) for i in range(0, len(turns) - 1, 2))
    return pairs


def learned(suggester: Suggester) -> None:
    held_back = {text for _ref, text, _categories in labelled("test")}
    pairs = [(line, reply) for line, reply in reply_pairs() if line not in held_back]
    book = learn(pairs, suggester)
    print(f"{len(pairs)} (buyer line, reply) pairs outside the test split; {len(book)} replies")
    print("close enough to a library phrase to learn from")
    print("without the shop's examples:")
    before = score("test", False, suggester)
    print("with them:")
    after = score("test", False, suggester, book)
    print(
        f"test top-1 {before['top1']:.1%} -> {after['top1']:.1%}, "
        f"top-3 {before['top3']:.1%} -> {after['top3']:.1%}"
    )


def pool(out: Path) -> None:
    with out.open("w", encoding="utf-8") as file:
        for ref, text in (*buyer_lines(), *review_lines()):
            file.write(f"{ref}\t{text}\n")
    print(f"wrote buyer lines to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("score")
    grade.add_argument("--split", choices=("dev", "test", "both"), default="both")
    grade.add_argument("--misses", action="store_true", help="print every top-3 miss")
    commands.add_parser("learn")
    draw = commands.add_parser("pool")
    draw.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not REAL.is_dir():
        print(f"no real data at {REAL}; nothing to measure")
        return
    if args.command == "pool":
        if ROOT in args.out.resolve().parents:
            parser.error("write the pool outside the repository: it holds real chat text")
        pool(args.out)
        return
    if args.command == "learn":
        learned(Suggester(load_library(ROOT / "phrases")))
        return
    for split in ("dev", "test") if args.split == "both" else (args.split,):
        score(split, args.misses)


if __name__ == "__main__":
    main()
