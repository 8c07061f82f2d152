"""compact() applies its table in steps (deletions, common folds, capitals, the rest): the result
must be the plain translate's, character for character, or offsets and matches would drift."""

from __future__ import annotations

import random

import pytest

from server.core.checker.normalize import (
    _NUMERAL_RUN,
    _as_digits,
    compact,
    translate_table,
)


def translated(text: str) -> str:
    """The reference: one str.translate over the whole table, then numeral runs as digits."""
    folded = text.translate(translate_table())
    return _NUMERAL_RUN.sub(_as_digits, folded)


def test_every_character_folds_as_the_table_says() -> None:
    wrong = [code for code in range(0x30000) if compact(chr(code)) != translated(chr(code))]
    assert wrong == []


def test_mixed_drafts_fold_as_the_table_says() -> None:
    rng = random.Random(19)
    pool = [chr(code) for code in rng.sample(range(0x30000), 2000)]
    pool += list("，！？；％。,.ABCxyz QQ 一二三壹貳發票微信１２ＡＢ😀\u200b①")
    drafts = ["".join(rng.choice(pool) for _ in range(rng.randint(0, 40))) for _ in range(5000)]
    assert [draft for draft in drafts if compact(draft) != translated(draft)] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("亲，發票ＯＫ！", "亲,发票ok!"),
        ("微 信：ＡＢ１２３", "微信ab123"),
        ("一三八 一二三四 五六七八", "13812345678"),
        ("张三说好的😀", "张三说好的"),
        ("SF顺丰，100％纯棉", "sf顺丰,100%纯棉"),
    ],
)
def test_compact_forms(text: str, expected: str) -> None:
    assert compact(text) == expected
