"""UTF-16 offsets: the browser indexes strings in UTF-16 code units, Python in code points.

A code point above U+FFFF (most emoji) is one Python character but two JavaScript ones, so every
offset sent to the extension goes through here.
"""

from __future__ import annotations

import re
from bisect import bisect_left

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def astral_positions(text: str) -> list[int]:
    """Python indices of the characters of ``text`` that take two UTF-16 units."""
    return [match.start() for match in _ASTRAL.finditer(text)]


def utf16_index(astral: list[int], index: int) -> int:
    """The UTF-16 offset of Python ``index``, given the text's ``astral_positions``."""
    return index + bisect_left(astral, index)


def utf16_offsets(text: str) -> list[int]:
    """The UTF-16 offset of every Python index of ``text``: ``len(text) + 1`` entries."""
    astral = astral_positions(text)
    return [utf16_index(astral, index) for index in range(len(text) + 1)]


def to_utf16(text: str, index: int) -> int:
    """The UTF-16 offset of Python index ``index`` (0..len(text)) of ``text``."""
    return utf16_index(astral_positions(text[:index]), index)


def from_utf16(text: str, offset: int) -> int:
    """The Python index at UTF-16 ``offset`` of ``text`` (clamped to ``len(text)``).

    An offset between the two halves of a surrogate pair maps to the index after the character.
    """
    index = offset
    for count, position in enumerate(astral_positions(text)):
        first_unit = position + count
        if first_unit >= offset:
            break
        if first_unit + 1 == offset:
            return position + 1
        index -= 1
    return min(index, len(text))
