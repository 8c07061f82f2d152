"""The real-line labels hold references and categories only, never real text."""

from __future__ import annotations

import json
import re
from pathlib import Path

from server.core.phrases import CATEGORIES

LABELS = Path(__file__).resolve().parents[2] / "tests" / "data" / "suggest" / "real_labels.jsonl"
_REF = re.compile(
    r"(jddc2019_dev_question\.txt|ecd_sample_(test|train)\.tsv|online_shopping_clothes_reviews\.csv)"
    r":\d+:\d+"
)


def test_every_label_is_a_reference_with_known_categories() -> None:
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 300
    refs = [row["ref"] for row in rows]
    assert len(set(refs)) == len(refs)
    for row in rows:
        assert set(row) == {"ref", "categories"}
        assert _REF.fullmatch(row["ref"]), row["ref"]
        categories = row["categories"]
        assert categories == ["none"] or set(categories) <= set(CATEGORIES), row
        assert len(set(categories)) == len(categories), row
