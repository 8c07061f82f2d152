"""Recall per category and false alarms over the labelled drafts in tests/data/checker."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from server.core.checker import CATEGORIES, CheckContext, RuleSet, load_rules

ROOT = Path(__file__).resolve().parents[2]
LABELLED = ROOT / "tests" / "data" / "checker" / "labelled.jsonl"


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules(ROOT / "phrases" / "banned")


@pytest.fixture(scope="module")
def labelled() -> list[dict]:
    return [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]


def _found(rules: RuleSet, row: dict) -> dict[str, str]:
    """Category → worst severity found in the row's draft."""
    context = CheckContext(
        platform=row["platform"],
        free_shipping=row.get("free_shipping", False),
        cash_on_delivery=row.get("cash_on_delivery", False),
    )
    found: dict[str, str] = {}
    for violation in rules.check(row["text"], context):
        if found.get(violation.category) != "block":
            found[violation.category] = violation.severity
    return found


def test_the_set_is_big_enough_and_covers_every_category(labelled: list[dict]) -> None:
    violating = [row for row in labelled if row["expect"]]
    clean = [row for row in labelled if not row["expect"]]
    per_category = Counter(category for row in violating for category in row["expect"])
    assert len(violating) >= 250
    assert len(clean) >= 80
    assert set(per_category) == set(CATEGORIES)
    assert min(per_category.values()) >= 15


def test_recall_is_at_least_95_percent_per_category_and_overall(
    rules: RuleSet, labelled: list[dict]
) -> None:
    expected: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    for row in labelled:
        found = _found(rules, row)
        for category in row["expect"]:
            expected[category] += 1
            caught[category] += category in found
    recall = {category: caught[category] / expected[category] for category in expected}
    assert {c: r for c, r in recall.items() if r < 0.95} == {}
    assert sum(caught.values()) / sum(expected.values()) >= 0.95


def test_no_clean_reply_is_blocked(rules: RuleSet, labelled: list[dict]) -> None:
    blocked = [
        (row["text"], found)
        for row in labelled
        if not row["expect"] and "block" in (found := _found(rules, row)).values()
    ]
    assert blocked == []


def test_nothing_outside_the_labels_is_flagged(rules: RuleSet, labelled: list[dict]) -> None:
    extra = [
        (row["text"], sorted(set(found) - set(row["expect"])))
        for row in labelled
        if set(found := _found(rules, row)) - set(row["expect"])
    ]
    assert extra == []
