"""One automaton pass finds exactly the cue families one regex search each would."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from server.core.checker.literals import literal_factors
from server.core.cues import CueSet, top_level_branches
from server.core.intent import CUES, clean
from server.core.phrases import load_library
from server.core.suggest import fix_typos

ROOT = Path(__file__).parent.parent.parent
PATTERNS = [pattern for families in CUES.values() for pattern, _weight in families]


def repo_lines() -> list[str]:
    """Buyer-like text kept in the repo: the labelled suggestion lines and the phrase library."""
    path = ROOT / "tests" / "data" / "suggest" / "labelled.jsonl"
    lines = [json.loads(line)["text"] for line in path.read_text("utf-8").splitlines()]
    for phrase in load_library(ROOT / "phrases").phrases:
        lines += [phrase.text, *phrase.examples]
    return lines


def test_every_family_matches_exactly_where_its_pattern_searches() -> None:
    cues = CueSet(PATTERNS)
    compiled = [re.compile(pattern) for pattern in PATTERNS]
    texts = [fix_typos(clean(line).text) for line in repo_lines()]
    # Each line whole, and cut at both ends, so the anchored families meet starts and ends too.
    texts += [text[cut:] for text in texts for cut in (1, 3)] + [text[:-2] for text in texts]
    checked = 0
    for text in texts:
        expected = [family for family, pattern in enumerate(compiled) if pattern.search(text)]
        assert cues.matched(text) == expected, text
        checked += bool(expected)
    assert checked > 1000  # the comparison saw matches, not only empty answers


@pytest.mark.parametrize(
    ("pattern", "branches"),
    [
        ("退货|退款", ["退货", "退款"]),
        ("(?:优惠|流量)卷|满\\d+", ["(?:优惠|流量)卷", "满\\d+"]),
        ("[|]码|a\\|b", ["[|]码", "a\\|b"]),
        ("[]|]x|y", ["[]|]x", "y"]),
        ("[^|]z|w", ["[^|]z", "w"]),
    ],
)
def test_a_pattern_splits_only_at_its_top_level_bars(pattern: str, branches: list[str]) -> None:
    assert top_level_branches(pattern) == branches


@pytest.mark.parametrize(
    ("pattern", "factors"),
    [
        ("\\d+克", {"克"}),
        ("(?<!不)满意", {"满意"}),
        ("比.*便宜", {"便宜"}),  # of two runs, the one with the longer shortest string
        ("^(?:你好|亲)", {"你好", "亲"}),
        ("\\d+", None),
        (".{0,3}", None),
    ],
)
def test_literal_factors_are_strings_every_match_contains(
    pattern: str, factors: set[str] | None
) -> None:
    assert literal_factors(pattern) == factors


def test_anchored_lookbehind_and_ungated_branches_still_decide() -> None:
    cues = CueSet(["^在吗$", "(?<!不)满意", "\\d{3}", "发票|开票"])
    assert cues.matched("在吗") == [0]
    assert cues.matched("您在吗") == []
    assert cues.matched("很满意") == [1]
    assert cues.matched("不满意") == []
    assert cues.matched("单号123要开票") == [2, 3]
    assert cues.matched("") == []
