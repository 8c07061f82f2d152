"""Wording checker speed: microseconds per check of a 200-character draft, in process.

Two kinds of drafts: normal replies (the quick phrases in phrases/*.yaml strung together) and
the labelled set's mix, which is adversarial: its clean replies are picked to hold words that
exceptions must clear (保证金, 京东快递, 不知道亲…) and one draft in five holds a violation, so
most checks take the slow path. The baseline, measured in the same run, is normalisation alone:
the translate every check pays before matching.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from server.core.checker import RuleSet, compile_rules
from server.core.checker.normalize import compact

ROOT = Path(__file__).resolve().parent.parent
PACKS = ROOT / "phrases" / "banned"
LABELLED = ROOT / "tests" / "data" / "checker" / "labelled.jsonl"
DRAFT_CHARS = 200
SYNTHETIC_TERMS = 5000


def _strung(count: int, pool: list[str], violating: list[str], seed: int) -> list[str]:
    """``count`` drafts of pool texts; with ``violating``, every fifth holds one of those."""
    rng = random.Random(seed)
    result = []
    for index in range(count):
        pieces = [rng.choice(violating)] if violating and index % 5 == 0 else []
        while sum(map(len, pieces)) < DRAFT_CHARS:
            pieces.append(rng.choice(pool))
        rng.shuffle(pieces)
        result.append("".join(pieces)[:DRAFT_CHARS])
    return result


def labelled_drafts(count: int) -> list[str]:
    """Drafts from the labelled set: tricky clean replies, one in five with a violation."""
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    clean = [row["text"] for row in rows if not row["expect"]]
    violating = [row["text"] for row in rows if row["expect"] and len(row["text"]) > 5]
    return _strung(count, clean, violating, seed=7)


def phrase_drafts(count: int) -> list[str]:
    """Drafts of normal replies: the shipped quick phrases, placeholders filled in."""
    texts = []
    for path in sorted((ROOT / "phrases").glob("*.yaml")):
        for phrase in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            texts.append(re.sub(r"\{\w+\}", "小美", phrase["text"]))
    return _strung(count, texts, [], seed=5)


def synthetic_pack(terms: int, seed: int = 11) -> str:
    """A pack of ``terms`` random 2-4 character Chinese terms in 50 rules."""
    rng = random.Random(seed)
    words = sorted(
        {
            "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(rng.randint(2, 4)))
            for _ in range(terms)
        }
    )
    lines = ["rules:"]
    per_rule = len(words) // 50 + 1
    for number, first in enumerate(range(0, len(words), per_rule)):
        chunk = ", ".join(words[first : first + per_rule])
        lines += [
            f"  - id: synthetic.rule{number}",
            "    category: rude",
            "    severity: warn",
            "    message: 合成词条",
            f"    terms: [{chunk}]",
        ]
    return "\n".join(lines) + "\n"


def timings_us(function: Callable[[str], object], texts: list[str], rounds: int) -> list[float]:
    """Microseconds per call, every text ``rounds`` times, sorted."""
    for text in texts:  # warm the per-context plan and the CPU caches
        function(text)
    samples = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for text in texts:
            began = clock()
            function(text)
            samples.append((clock() - began) / 1000)
    samples.sort()
    return samples


def percentile(samples: list[float], fraction: float) -> float:
    return samples[min(len(samples) - 1, int(len(samples) * fraction))]


def _figures(name: str, rules: RuleSet, texts: list[str], rounds: int, target: float) -> list[dict]:
    checked = timings_us(rules.check, texts, rounds)
    baseline = timings_us(compact, texts, rounds)
    median = percentile(checked, 0.5)
    return [
        {
            "figure": f"check median, 200-char drafts: {name}",
            "value": round(median, 2),
            "unit": "us",
            "baseline": round(percentile(baseline, 0.5), 2),
            "baseline_label": "normalisation alone (compact), median",
            "target": f"<= {target:g} us",
            "met": median <= target,
        },
        {
            "figure": f"check p99, 200-char drafts: {name}",
            "value": round(percentile(checked, 0.99), 2),
            "unit": "us",
            "baseline": round(percentile(baseline, 0.99), 2),
            "baseline_label": "normalisation alone (compact), p99",
            "target": "report only",
            "met": True,
        },
    ]


def run(quick: bool) -> list[dict]:
    count = 200 if quick else 1000
    rounds = 3 if quick else 10
    normal, adversarial = phrase_drafts(count), labelled_drafts(count)
    sources = {path.name: path.read_text(encoding="utf-8") for path in sorted(PACKS.glob("*.yaml"))}
    shipped = compile_rules(sources)
    synthetic = compile_rules({**sources, "zz_synthetic.yaml": synthetic_pack(SYNTHETIC_TERMS)})
    many = f"shipped packs + {SYNTHETIC_TERMS:,} synthetic terms"
    return [
        *_figures("normal replies, shipped packs", shipped, normal, rounds, 25),
        *_figures("labelled mix, shipped packs", shipped, adversarial, rounds, 25),
        *_figures(f"normal replies, {many}", synthetic, normal, rounds, 50),
        *_figures(f"labelled mix, {many}", synthetic, adversarial, rounds, 50),
    ]


if __name__ == "__main__":
    for figure in run(quick=False):
        print(figure)
