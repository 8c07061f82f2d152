"""Rule packs: what compiles, and the file, line and reason of every kind of broken pack."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.core.checker import compile_rules, load_rules
from server.errors import RulePackError

GOOD = """\
rules:
  - id: demo.wechat
    category: offsite
    severity: block
    message: 引导加微信
    terms: [微信]
"""


def error_of(sources: dict[str, str]) -> tuple[str, int, str]:
    with pytest.raises(RulePackError) as caught:
        compile_rules(sources)
    return caught.value.file, caught.value.line, caught.value.reason


def rule(*lines: str) -> str:
    """A pack of one rule: the GOOD rule's header lines plus ``lines`` (from line 6 on)."""
    header = ["rules:", "  - id: demo.rule", "    category: offsite", "    severity: block"]
    return "\n".join([*header, "    message: 站外", *lines]) + "\n"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (
            "rules:\n  - id: a\n    terms: [微信\n",
            4,
            "bad yaml: expected ',' or ']', but got '<stream end>'",
        ),
        (
            "rules:\n  - id: x\n\tcategory: y\n",
            3,
            "bad yaml: found character '\\t' that cannot start any token",
        ),
        ("", 0, "empty rule pack"),
        ("- 1\n", 1, "expected a mapping for the pack (a mapping with 'rules')"),
        ("rule:\n  - id: x\n", 1, "unknown field: 'rule'"),
        ("rules: {}\n", 1, "expected a list for 'rules'"),
        (
            rule("    terms: [微信]").replace("offsite", "offsight"),
            3,
            "unknown category: 'offsight'",
        ),
        (rule("    terms: [微信]").replace("block", "fatal"), 4, "unknown severity: 'fatal'"),
        (
            rule("    platforms: [taobao, amazon]", "    terms: [微信]"),
            6,
            "unknown platform: 'amazon'",
        ),
        (rule("    terms: [微信]", "    mesage: x"), 7, "unknown field: 'mesage'"),
        (rule("    terms: [微信]", "    terms: [qq]"), 7, "duplicate field: 'terms'"),
        (
            rule("    patterns: ['(微信']"),
            6,
            "bad regex '(微信': missing ), unterminated subpattern",
        ),
        (
            rule("    exception_patterns: ['[a-']", "    terms: [x]"),
            6,
            "bad regex '[a-': unterminated character set",
        ),
        (rule("    terms: ['---']"), 6, "term is empty after normalisation: '---'"),
        (rule("    terms: [微信]", "    when: {free: true}"), 7, "unknown condition: 'free'"),
        (
            rule("    terms: [微信]", "    when: {free_shipping: 1}"),
            7,
            "expected true or false for 'free_shipping'",
        ),
        (rule("    shorter_than: 0"), 6, "expected a positive whole number for 'shorter_than'"),
        (
            rule("    terms: [微信]", "    exception_patterns: ['(不)微信']"),
            7,
            "exception patterns cannot capture, use (?:...): '(不)微信'",
        ),
        (
            rule("    terms: [微信]", "    triggers: [微]"),
            7,
            "'triggers' gate patterns, and there are none",
        ),
        (
            rule("    terms: [{微信: a, qq: b}]"),
            6,
            "a term with its rewrite must be one 'term: rewrite' pair",
        ),
        (rule("    suggestion: ''", "    terms: [微信]"), 6, "expected text for 'suggestion'"),
        (
            rule(),
            2,
            "rule matches nothing: give one of terms, patterns, raw_patterns, shorter_than",
        ),
        (
            rule("    terms: [微信]").replace("    message: 站外\n", ""),
            2,
            "missing field: 'message'",
        ),
        (
            rule("    terms: [微信]").replace("demo.rule", "Demo Rule"),
            2,
            "bad rule id: 'Demo Rule'",
        ),
    ],
)
def test_broken_pack_names_file_line_and_reason(text: str, line: int, reason: str) -> None:
    file, found_line, found_reason = error_of({"broken.yaml": text})
    assert (file, found_line) == ("broken.yaml", line)
    assert found_reason.startswith(reason)


def test_duplicate_id_across_files_points_at_the_second() -> None:
    second = "# another pack\n" + GOOD
    assert error_of({"a.yaml": GOOD, "b.yaml": second}) == (
        "b.yaml",
        3,
        "duplicate rule id: 'demo.wechat' (first in a.yaml:2)",
    )


def test_error_message_has_the_editor_location() -> None:
    with pytest.raises(RulePackError, match=r"^x\.yaml:3: unknown category: 'offsight'$"):
        compile_rules({"x.yaml": rule("    terms: [微信]").replace("offsite", "offsight")})


def test_a_good_pack_compiles_with_defaults() -> None:
    rules = compile_rules({"good.yaml": GOOD})
    (only,) = rules.rules
    assert (only.id, only.platforms, only.file, only.line, only.suggestion) == (
        "demo.wechat",
        frozenset({"taobao", "tmall", "jd", "pdd"}),
        "good.yaml",
        2,
        None,
    )
    assert [v.rule for v in rules.check("加微 信")] == ["demo.wechat"]


def test_version_is_a_stable_hash_of_the_contents() -> None:
    first = compile_rules({"good.yaml": GOOD}).version
    assert compile_rules({"good.yaml": GOOD}).version == first
    assert compile_rules({"good.yaml": GOOD + "# edited\n"}).version != first
    assert compile_rules({"renamed.yaml": GOOD}).version != first
    assert len(first) == 16


def test_load_rules_reads_yaml_files_in_order(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(GOOD.replace("demo.wechat", "demo.b"), encoding="utf-8")
    (tmp_path / "a.yaml").write_text(GOOD.replace("demo.wechat", "demo.a"), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a pack", encoding="utf-8")
    assert [r.id for r in load_rules(tmp_path).rules] == ["demo.a", "demo.b"]


def test_load_rules_refuses_an_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(RulePackError, match="no rule packs"):
        load_rules(tmp_path)


def test_load_rules_refuses_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_bytes("rules: [微信]".encode("gbk"))
    with pytest.raises(RulePackError, match=r"^bad\.yaml: not utf-8 text"):
        load_rules(tmp_path)


def test_the_shipped_packs_compile_and_cover_every_category() -> None:
    from server.core.checker import CATEGORIES

    rules = load_rules(Path(__file__).resolve().parents[2] / "phrases" / "banned")
    assert {rule.category for rule in rules.rules} == set(CATEGORIES)


CUES = """\
cues:
  invoice: [发票, 开票]
  refusal: [不开, 开不了, 没有]
  fine: [没有问题]
  add: [加]
"""


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (rule("    compose: [invoice]"), 6, "a composition is a pair of cue families, got 1"),
        (
            rule("    compose: [[invoice, refusal, fine]]"),
            6,
            "a composition is a pair of cue families, got 3",
        ),
        (rule("    compose: [invoice, Refusal]"), 6, "bad cue family name: 'Refusal'"),
        (
            rule("    terms: [微信]", "    window: 5"),
            7,
            "'window' shapes 'compose', and there is none",
        ),
        (
            rule("    terms: [微信]", "    despite: [add]"),
            7,
            "'despite' shapes 'unless': there is none",
        ),
        (
            rule("    compose: [invoice, refusal]", "    across: '，x'"),
            7,
            "'across' takes clause punctuation ,。!?;%: '，x'",
        ),
        (rule("    compose: [invoice, refusal]", "    window: 0"), 7, "expected a positive whole"),
        (
            rule("    terms: [微信]", "    across: ','"),
            7,
            "'across' shapes 'compose', and there is none",
        ),
        (
            rule("    terms: [微信]", "    unless_across: ','"),
            7,
            "'unless_across' shapes 'unless': there is none",
        ),
        ("cues:\n  Bad: [x]\n", 2, "bad cue family name: 'Bad'"),
        ("cues:\n  ok: [' - ']\n", 2, "cue is empty after normalisation: ' - '"),
        ("cues: {}\nrules: []\nextra: 1\n", 3, "unknown field: 'extra'"),
    ],
)
def test_broken_cue_packs_name_file_line_and_reason(text: str, line: int, reason: str) -> None:
    file, found_line, found_reason = error_of({"cues.yaml": CUES, "broken.yaml": text})
    assert (file, found_line) == ("broken.yaml", line)
    assert found_reason.startswith(reason)


def test_a_rule_naming_an_unknown_family_points_at_the_rule() -> None:
    assert error_of({"r.yaml": rule("    compose: [invoice, refusal]")}) == (
        "r.yaml",
        2,
        "unknown cue family: 'invoice'",
    )


def test_a_cue_family_is_defined_once_across_packs() -> None:
    assert error_of({"a.yaml": CUES, "b.yaml": "# more\n" + CUES}) == (
        "b.yaml",
        3,
        "duplicate cue family: 'invoice' (first in a.yaml:2)",
    )


def test_a_composed_rule_uses_families_of_any_pack() -> None:
    composed = rule(
        "    compose: [invoice, refusal]", "    window: 8", "    unless: [fine]"
    ).replace("category: offsite", "category: invoice")
    rules = compile_rules({"a_rules.yaml": composed, "z_cues.yaml": CUES})
    assert [(v.rule, v.match) for v in rules.check("发票这边开不了")] == [
        ("demo.rule", "发票这边开不了")
    ]
    assert rules.check("发票那边的事情我们都开不了") == []  # farther apart than the window
    assert rules.check("发票没有问题") == []  # the unless cue clears it
    assert [family.name for family in rules.families] == ["invoice", "refusal", "fine", "add"]


def test_every_shipped_cue_family_is_used_by_a_rule() -> None:
    rules = load_rules(Path(__file__).resolve().parents[2] / "phrases" / "banned")
    used = {
        name
        for rule in rules.rules
        for name in (*rule.unless, *rule.despite, *(n for pair in rule.compose for n in pair))
    }
    assert [family.name for family in rules.families if family.name not in used] == []
