"""Normalisation that defeats evasions, with a way back to the original characters.

``compact(text)`` applies a precomputed table that, character by character:

- turns traditional characters into simplified ones (OpenCC's tables),
- folds compatibility forms (full-width letters and digits, circled digits) and ASCII case,
- turns Chinese numerals (一, 壹, 幺 …) into ASCII digits, so ``一三八`` reads as ``138``,
- deletes what evaders put between characters: spaces, symbols, emoji, most punctuation.

Clause punctuation (，。！？；) and ``%`` are kept: a term never matches across a clause, and
``100%`` keeps its sign. Every mapping is one character to one or none, so the compact text maps
back to the original with :func:`original_index`. Code points past the table (CJK extension B and
up) are left as they are.

``str.translate`` with a table for all of Unicode looks every character up from Python (35 ns a
character, 7 us per 200-character draft), though in a draft almost every character maps to
itself. So the table is applied as what each kind of change costs: one regex substitution deletes
every deleted character, ``str.replace`` folds the full-width clause punctuation every draft has,
another substitution lowers ASCII capitals, and only a draft holding a rarer folded character
(traditional, full-width letters, circled digits…) pays for the translate, over what is left. The
result is the translate's, character for character (tests/core/test_checker_normalize.py).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from functools import cache

from server.core.simplified import simplified_cjk

# Clause boundaries survive normalisation (after folding full-width forms to ASCII).
BOUNDARIES = ",。!?;%"
_EMOJI_FIRST, _TABLE_SIZE = 0x1F000, 0x1FC00  # the emoji and symbol blocks end the table
_NUMERALS = {
    "〇": "0",
    "零": "0",
    "幺": "1",  # how 1 is read aloud in phone numbers
    **{numeral: str(value) for value, numeral in enumerate("一二三四五六七八九", start=1)},
    **{numeral: str(value) for value, numeral in enumerate("壹贰叁肆伍陆柒捌玖", start=1)},
}
_DELETED_CATEGORIES = frozenset(
    {
        "Zs",
        "Zl",
        "Zp",
        "Cc",
        "Cf",
        "Mn",
        "Me",
        "So",
        "Sk",
        "Sm",
        "Pd",
        "Pc",
        "Ps",
        "Pe",
        "Pi",
        "Pf",
        "Po",
    }
)

TranslateTable = Sequence[int | str | None]


def _fold(char: str, simplified: dict[str, str]) -> str | None:
    """The compact form of one character: one character, or None to delete it."""
    folded = simplified.get(char, char)
    compat = unicodedata.normalize("NFKC", folded)
    if len(compat) == 1:
        folded = compat
    lower = folded.lower()
    if len(lower) == 1:
        folded = lower
    if folded in _NUMERALS:
        return folded  # kept: only a run of numerals is a number (see compact)
    digit = unicodedata.decimal(folded, None)
    if digit is not None:
        return str(digit)
    if folded in BOUNDARIES:
        return folded
    if unicodedata.category(folded) in _DELETED_CATEGORIES:
        return None
    return folded


@cache
def translate_table() -> TranslateTable:
    """The table ``compact`` translates with; built once per process (about 0.3 s)."""
    simplified = simplified_cjk()
    table: list[int | str | None] = list(range(_TABLE_SIZE))
    for code in range(0x10000):
        char = chr(code)
        folded = _fold(char, simplified)
        if folded != char:
            table[code] = folded
    # Emoji, all deleted. The other astral planes stay as they are: their symbols are rare, and
    # one deletion range keeps ``deleted_positions`` fast.
    for code in range(_EMOJI_FIRST, _TABLE_SIZE):
        table[code] = None
    return table


# Two or more Chinese numerals in a row (after deletions) read as digits: 一三八… is a phone
# number, but the 三 of the name 张三 next to a real number must not lengthen it.
# Written as one class then a repeat, not ``{2,}``: a regex opening with a repeat gets no fast
# scan for its first character (1.8 us against 0.8 per 200-character draft).
_NUMERAL_RUN = re.compile(f"[{''.join(_NUMERALS)}][{''.join(_NUMERALS)}]+")
_NUMERAL_DIGITS = str.maketrans(_NUMERALS)


def compact(text: str) -> str:
    """``text`` normalised for matching (see the module docstring)."""
    deleted, common, capitals, rare = _steps()
    folded = deleted.sub("", text)
    for full_width, folded_form in common:
        if full_width in folded:
            folded = folded.replace(full_width, folded_form)
    if capitals.search(folded):
        folded = capitals.sub(_lower, folded)
    if rare.search(folded):
        folded = folded.translate(translate_table())
    return _NUMERAL_RUN.sub(_as_digits, folded) if _NUMERAL_RUN.search(folded) else folded


# The folds every draft needs, done with str.replace: full-width clause punctuation and %.
_COMMON = "，！？；％"


_Steps = tuple[re.Pattern[str], tuple[tuple[str, str], ...], re.Pattern[str], re.Pattern[str]]


@cache
def _steps() -> _Steps:
    """The table as steps: deletions, common folds, ASCII capitals, and every other fold.

    Applying the translate after the others gives its own result because what they produce
    (``,`` ``!`` ``a`` …) the table keeps as it is: checked when the steps are built.
    """
    table = translate_table()
    common = tuple((char, str(table[ord(char)])) for char in _COMMON)
    made = [folded for _, folded in common] + [chr(code) for code in range(ord("a"), ord("z") + 1)]
    if any(table[ord(char)] != ord(char) for char in made):  # pragma: no cover - a table change
        raise AssertionError("the normalisation table folds what the fast steps produce")
    rare = [
        re.escape(chr(code))
        for code, folded in enumerate(table)
        if isinstance(folded, str)
        and folded != chr(code)
        and chr(code) not in _COMMON
        and not "A" <= chr(code) <= "Z"
    ]
    return _deleted_chars(), common, re.compile("[A-Z][A-Z]*"), re.compile(f"[{''.join(rare)}]")


def _lower(capitals: re.Match[str]) -> str:
    return capitals.group().lower()


def _as_digits(run: re.Match[str]) -> str:
    return run.group().translate(_NUMERAL_DIGITS)


@cache
def _deleted_chars() -> re.Pattern[str]:
    """A regex class of the characters ``compact`` deletes, as ranges of code points.

    The engine compiles the BMP part into a bitmap but checks astral ranges one by one, which is
    one reason the table deletes astral characters in a single block (1 us per 200 characters).
    """
    table = translate_table()
    ranges = []
    code = 0
    while code < len(table):
        if table[code] is None:
            first = code
            while code + 1 < len(table) and table[code + 1] is None:
                code += 1
            ranges.append(f"{re.escape(chr(first))}-{re.escape(chr(code))}")
        code += 1
    return re.compile(f"[{''.join(ranges)}]")


def deleted_positions(text: str) -> list[int]:
    """Indices of the characters of ``text`` that ``compact`` deletes, in order."""
    return [match.start() for match in _deleted_chars().finditer(text)]


def original_index(deleted: list[int], index: int) -> int:
    """The index in the original text of character ``index`` of the compact text.

    ``deleted`` is the original text's ``deleted_positions``: the answer is ``index`` plus the
    deletions at or before it, found by walking forward until the count stops growing.
    """
    skipped = 0
    while True:
        before = bisect_right(deleted, index + skipped)
        if before == skipped:
            return index + skipped
        skipped = before
