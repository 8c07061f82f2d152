"""The phrase library: the shipped files, and the parser's answer to every kind of fault."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from server.core.phrases import (
    CATEGORIES,
    PLACEHOLDERS,
    PLATFORMS,
    load_library,
    parse_library,
    placeholders_in,
    read_sources,
)
from server.errors import PhraseLibraryError

PHRASES = Path(__file__).resolve().parents[2] / "phrases"

OK = """\
- id: welcome.greet
  category: welcome
  text: 您好，我是客服{agent}，很高兴为您服务。
  keywords: [你好, 在吗]
  examples: [在吗]
"""


def error_of(sources: dict[str, str]) -> str:
    with pytest.raises(PhraseLibraryError) as caught:
        parse_library(sources)
    return str(caught.value)


# --- the shipped library ---------------------------------------------------------------------


def test_shipped_library_covers_every_category() -> None:
    library = load_library(PHRASES)
    counts = Counter(phrase.category for phrase in library.phrases)
    assert len(library.phrases) >= 150
    assert set(counts) == set(CATEGORIES)
    assert min(counts.values()) >= 10


def test_shipped_phrases_read_as_polite_compliant_replies() -> None:
    # The wording checker runs over the library in test_lint; this is the floor that holds
    # even without rule packs: no banned promise, superlative, off-site contact or cashback.
    banned = re.compile(
        r"全网|最|第一|100%|百分百|保证|绝对|肯定|微信|QQ|返现|买还是不买|不知道|不清楚"
    )
    for phrase in load_library(PHRASES).phrases:
        assert len(placeholder_free(phrase.text)) >= 5, phrase.id
        assert not banned.search(phrase.text), (phrase.id, phrase.text)


def placeholder_free(text: str) -> str:
    return re.sub(r"\{[a-z_]+\}", "", text)


def test_readme_documents_every_placeholder_and_category() -> None:
    readme = (PHRASES / "README.md").read_text(encoding="utf-8")
    for name in PLACEHOLDERS:
        assert f"`{{{name}}}`" in readme, name
    for category in CATEGORIES:
        assert f"`{category}`" in readme, category


def test_phrase_records_file_line_and_defaults() -> None:
    library = parse_library({"welcome.yaml": "# greetings\n" + OK})
    (phrase,) = library.phrases
    assert (phrase.file, phrase.line) == ("welcome.yaml", 2)
    assert phrase.keywords == ("你好", "在吗")
    assert phrase.platforms == frozenset(PLATFORMS)
    assert phrase.order_states == frozenset()


def test_version_ignores_layout_but_not_content() -> None:
    version = parse_library({"a.yaml": OK}).version
    assert parse_library({"b.yaml": "# moved, with a comment\n\n" + OK}).version == version
    edited = OK.replace("很高兴为您服务", "很高兴见到您")
    assert parse_library({"a.yaml": edited}).version != version
    assert re.fullmatch(r"[0-9a-f]{16}", version)


def test_load_library_reads_yaml_files_but_not_rule_packs(tmp_path: Path) -> None:
    (tmp_path / "welcome.yaml").write_text(OK, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a library file", encoding="utf-8")
    (tmp_path / "banned").mkdir()
    (tmp_path / "banned" / "offsite.yaml").write_text("rules: []", encoding="utf-8")
    assert list(read_sources(tmp_path)) == ["welcome.yaml"]
    assert [p.id for p in load_library(tmp_path).phrases] == ["welcome.greet"]


def test_placeholders_in_text() -> None:
    assert placeholders_in("共{amount}元，订单{order}") == ["amount", "order"]


# --- faults ----------------------------------------------------------------------------------


def test_bad_yaml_reports_yamls_line() -> None:
    assert error_of({"a.yaml": OK + "- id: [unclosed\n"}) == (
        "a.yaml:7: bad yaml: expected ',' or ']', but got '<stream end>'"
        " (while parsing a flow sequence on line 6)"
    )


def test_error_carries_file_line_and_reason() -> None:
    with pytest.raises(PhraseLibraryError) as caught:
        parse_library({"a.yaml": OK.replace("welcome\n", "shipping\n")})
    assert (caught.value.file, caught.value.line, caught.value.reason) == (
        "a.yaml",
        2,
        "unknown category: 'shipping'",
    )


EXAMPLES = "  examples: [在吗]\n"
KEYWORDS = "keywords: [你好, 在吗]"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("text: 您好，我是客服{agent}", "text: 您好，我是客服{agnet}"),
            "a.yaml:3: unknown placeholder: '{agnet}'",
        ),
        (
            ("客服{agent}，", "客服{agent，"),
            "a.yaml:3: unbalanced brace in text: '您好，我是客服{agent，很高兴为您服务。'",
        ),
        (
            ("  examples: [在吗]\n", ""),
            "a.yaml:1: missing field: 'examples'",
        ),
        (
            (EXAMPLES, EXAMPLES + "  colour: red\n"),
            "a.yaml:6: unknown field: 'colour'",
        ),
        (
            (EXAMPLES, EXAMPLES + "  text: 又一个\n"),
            "a.yaml:6: duplicate field: 'text'",
        ),
        (
            ("id: welcome.greet", "id: Welcome Greet"),
            "a.yaml:1: bad phrase id: 'Welcome Greet' (use lower_case.dotted_words)",
        ),
        (
            ("id: welcome.greet", "id: 7"),
            "a.yaml:1: id must be a non-empty string, got '7'",
        ),
        (
            (KEYWORDS, "keywords: []"),
            "a.yaml:4: keywords must be a non-empty list of strings",
        ),
        (
            (KEYWORDS, "keywords: [你好, 你好]"),
            "a.yaml:4: duplicate entry in keywords: '你好'",
        ),
        (
            (KEYWORDS, "keywords: [你好, 618]"),
            "a.yaml:4: each entry of keywords must be a non-empty string, got '618'",
        ),
        (
            (EXAMPLES, EXAMPLES + "  platforms: [jd, amazon]\n"),
            "a.yaml:6: unknown platform: 'amazon'",
        ),
        (
            (EXAMPLES, EXAMPLES + "  order_states:\n    - paid\n    - lost\n"),
            "a.yaml:8: unknown order state: 'lost'",
        ),
    ],
)
def test_fault_message(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in OK
    assert error_of({"a.yaml": OK.replace(old, new)}) == message


def test_duplicate_id_across_files_names_the_first() -> None:
    assert error_of({"a.yaml": OK, "b.yaml": "# again\n" + OK}) == (
        "b.yaml:2: duplicate phrase id: 'welcome.greet' (first in a.yaml:1)"
    )


def test_top_level_must_be_a_list() -> None:
    assert error_of({"a.yaml": "id: welcome.greet\n"}) == "a.yaml:1: expected a list of phrases"
    assert error_of({"a.yaml": "- just text\n"}) == (
        "a.yaml:1: expected a phrase (a mapping with id, category, text, keywords, examples)"
    )


def test_empty_file_holds_no_phrases() -> None:
    assert parse_library({"draft.yaml": "# to do\n", "a.yaml": OK}).phrases[0].id == "welcome.greet"
