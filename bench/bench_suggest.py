"""Suggester speed: per-message latency (shipped and synthetic 2,000-phrase libraries), tokenizer
start-up, index build. Baselines are measured in the same run: jieba.lcut alone on the same
messages, and jieba's own dictionary load (the suggester cuts with rjieba, jieba's algorithm
compiled; jieba stays the reference a machine's speed is read against). Start-up is the
segmenter's dictionary, the user words and the fold table (server/core/fold.py), built cold.

The messages are varied buyer lines: the labelled set's (written in buyers' words, with the
consoles' cards, masks and typos), plus every real buyer message of ../shared/data/real when it is
there (read in place by scripts/eval_suggest.py, never copied).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import jieba

from bench.common import buyer_messages, real_buyer_messages
from server.core.fold import fold_table
from server.core.phrases import Phrase, PhraseLibrary, load_library
from server.core.suggest import SuggestContext, Suggester
from server.core.tokenize import DEFAULT_USERDICT, Tokenizer, get_tokenizer

ROOT = Path(__file__).resolve().parents[1]


def run(quick: bool) -> list[dict]:
    rounds = 3 if quick else 20
    # Varied buyer lines: the labelled set's, and the real ones where ../shared holds them.
    messages = buyer_messages() + real_buyer_messages()
    shipped = load_library(ROOT / "phrases")
    synthetic = synthetic_library(shipped, 2000)
    get_tokenizer()  # warm: start-up is measured on its own below

    started = time.perf_counter()
    suggester = Suggester(shipped)
    build_ms = (time.perf_counter() - started) * 1000
    big = Suggester(synthetic)
    context = SuggestContext(platform="tmall", usage={shipped.phrases[0].id: 12})
    jieba_tokenizer = jieba.Tokenizer()
    jieba_tokenizer.initialize()

    lcut_us = median_us(messages, rounds, jieba_tokenizer.lcut)
    shipped_us = median_us(messages, rounds, lambda m: suggester.suggest(m, context))
    synthetic_us = median_us(messages, rounds, lambda m: big.suggest(m, context))

    startup = []
    for _ in range(1 if quick else 3):
        fold_table.cache_clear()
        startup.append(Tokenizer(DEFAULT_USERDICT).startup_s * 1000)
    jieba_only = []
    for _ in range(1 if quick else 3):
        started = time.perf_counter()
        jieba.Tokenizer().initialize()
        jieba_only.append((time.perf_counter() - started) * 1000)

    baseline = "jieba.lcut alone, same messages"
    return [
        figure("suggest, shipped library", shipped_us, "us", lcut_us, baseline, 100),
        figure("suggest, synthetic 2,000 phrases", synthetic_us, "us", lcut_us, baseline, 300),
        figure(
            "tokenizer start-up",
            statistics.median(startup),
            "ms",
            statistics.median(jieba_only),
            "jieba dictionary load alone",
            1500,
        ),
        figure("index build, shipped library", build_ms, "ms", None, None, 500),
    ]


def figure(
    name: str, value: float, unit: str, baseline: float | None, label: str | None, limit: float
) -> dict:
    return {
        "figure": name,
        "value": round(value, 2),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 2),
        "baseline_label": label,
        "target": f"<= {limit:g} {unit}",
        "met": value <= limit,
    }


def median_us(messages: list[str], rounds: int, call: Callable[[str], object]) -> float:
    for message in messages:  # warm caches
        call(message)
    samples = []
    for _ in range(rounds):
        for message in messages:
            started = time.perf_counter()
            call(message)
            samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def synthetic_library(seed: PhraseLibrary, size: int) -> PhraseLibrary:
    """``size`` phrases built from the shipped ones: same categories, vocabulary and lengths,
    keywords and examples recombined so postings grow like a real, larger library's would."""
    rng = random.Random(7)
    keywords = [k for p in seed.phrases for k in p.keywords]
    examples = [e for p in seed.phrases for e in p.examples]
    phrases = []
    for n in range(size):
        model = seed.phrases[n % len(seed.phrases)]
        phrases.append(
            Phrase(
                id=f"{model.id}_{n}",
                category=model.category,
                text=model.text,
                keywords=(*model.keywords[:3], *rng.sample(keywords, 3)),
                examples=(*model.examples[:2], rng.choice(examples)),
                platforms=model.platforms,
                order_states=model.order_states,
                file="synthetic.yaml",
                line=n + 1,
            )
        )
    return PhraseLibrary(tuple(phrases), "synthetic")


if __name__ == "__main__":
    for row in run(quick=False):
        print(row)
