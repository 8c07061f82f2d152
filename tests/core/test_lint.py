"""`kefu lint`: the shipped library passes; each broken fixture fails with a precise message."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.core.lint import LintProblem, lint_library
from server.core.phrases import read_sources

PHRASES = Path(__file__).resolve().parents[2] / "phrases"
FIXTURES = Path(__file__).resolve().parents[1] / "data" / "lint"


def fixtures(*names: str) -> dict[str, str]:
    return {name: (FIXTURES / name).read_text(encoding="utf-8") for name in names}


def block_wechat(text: str, platform: str) -> list[tuple[str, str]]:
    """A stand-in for the wording checker: blocks 微信, warns on 亲 to show warnings pass."""
    found = [("warn", "tone.qin")] if "亲" in text else []
    if "微信" in text:
        found.append(("block", "offsite.wechat"))
    return found


def test_shipped_library_passes() -> None:
    assert lint_library(read_sources(PHRASES), block_wechat) == []


def test_shipped_library_passes_the_wording_checker() -> None:
    checker = pytest.importorskip("server.core.checker")
    packs = PHRASES / "banned"
    if not any(packs.glob("*.yaml")):
        pytest.skip("no rule packs in phrases/banned yet")
    rules = checker.load_rules(packs)

    def check(text: str, platform: str) -> list[tuple[str, str]]:
        found = rules.check(text, checker.CheckContext(platform=platform))
        return [(violation.severity, violation.rule) for violation in found]

    assert lint_library(read_sources(PHRASES), check) == []


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (
            ("bad_yaml.yaml",),
            [
                LintProblem(
                    "bad_yaml.yaml",
                    11,
                    "bad yaml: found unexpected end of stream"
                    " (while scanning a quoted scalar on line 9)",
                )
            ],
        ),
        (
            ("duplicate_a.yaml", "duplicate_b.yaml"),
            [
                LintProblem(
                    "duplicate_b.yaml",
                    8,
                    "duplicate phrase id: 'logistics.ship_time' (first in duplicate_a.yaml:1)",
                )
            ],
        ),
        (
            ("unknown_placeholder.yaml",),
            [LintProblem("unknown_placeholder.yaml", 3, "unknown placeholder: '{amout}'")],
        ),
        (
            ("unknown_category.yaml",),
            [LintProblem("unknown_category.yaml", 2, "unknown category: 'shipping'")],
        ),
        (
            ("wechat.yaml",),
            [
                LintProblem(
                    "wechat.yaml",
                    1,
                    "phrase 'after_sales.contact' is blocked by rule 'offsite.wechat'",
                )
            ],
        ),
    ],
)
def test_broken_fixture(names: tuple[str, ...], expected: list[LintProblem]) -> None:
    assert lint_library(fixtures(*names), block_wechat) == expected


def test_every_schema_problem_is_reported_in_line_order() -> None:
    assert lint_library(fixtures("schema.yaml"), None) == [
        LintProblem("schema.yaml", 7, "unknown field: 'colour'"),
        LintProblem("schema.yaml", 12, "keywords must be a non-empty list of strings"),
        LintProblem("schema.yaml", 14, "unknown platform: 'amazon'"),
        LintProblem("schema.yaml", 16, "missing field: 'examples'"),
        LintProblem(
            "schema.yaml", 16, "bad phrase id: 'Product Wash' (use lower_case.dotted_words)"
        ),
        LintProblem("schema.yaml", 21, "id must be a non-empty string, got '42'"),
        LintProblem("schema.yaml", 26, "unknown order state: 'delivered'"),
    ]


def test_without_a_checker_wording_is_not_judged() -> None:
    assert lint_library(fixtures("wechat.yaml"), None) == []


def test_a_rule_blocking_on_several_platforms_is_reported_once() -> None:
    calls: list[str] = []

    def check(text: str, platform: str) -> list[tuple[str, str]]:
        calls.append(platform)
        return block_wechat(text, platform)

    problems = lint_library(fixtures("wechat.yaml"), check)
    assert sorted(calls) == sorted(["jd", "pdd", "taobao", "tmall"] * 2)
    assert [p.message for p in problems] == [
        "phrase 'after_sales.contact' is blocked by rule 'offsite.wechat'"
    ]


def test_phrase_is_checked_only_on_its_platforms() -> None:
    source = (FIXTURES / "wechat.yaml").read_text(encoding="utf-8")
    examples = "  examples: [坏了怎么办]\n"
    source = source.replace(examples, examples + "  platforms: [jd]\n")
    seen: list[tuple[str, str]] = []

    def check(text: str, platform: str) -> list[tuple[str, str]]:
        seen.append((text[:4], platform))
        return []

    assert lint_library({"wechat.yaml": source}, check) == []
    assert seen[0] == ("亲，售后", "jd")
    assert len(seen) == 1 + 4
