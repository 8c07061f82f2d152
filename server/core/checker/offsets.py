"""UTF-16 offsets: the browser indexes strings in UTF-16 code units, Python in code points.

A code point above U+FFFF (most emoji) is one Python character but two JavaScript ones, so every
offset sent to the extension goes through here. Only this direction exists: the extension applies
the offsets itself (the one-click rewrite is ``rewrite`` in extension/content/guard.js).
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
