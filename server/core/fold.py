"""One pass that folds a buyer line or a phrase entry to the form the suggester reads.

:func:`fold` is a single ``str.translate`` over a table that maps each character, on its own, to
its NFKC compatibility form (full-width letters, digits and punctuation → ASCII), lower case, then
simplified (OpenCC's traditional → simplified characters from
:func:`server.core.simplified.simplified_cjk`, the table the checker's normaliser uses too).
Nothing is deleted: the suggester's cleaning decides what to drop.

Character by character, not phrase by phrase: OpenCC's phrase table (瞭解 → 了解, 藉口 → 借口,
乾隆 kept) and NFKC's composition of combining marks are not applied. Buyer lines rarely need
either, and per-character folding is one translate (~1 µs for a buyer line) where NFKC, lower
case and OpenCC's pure-Python conversion cost ~10 µs together on a traditional-character line.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import cache

from server.core.simplified import simplified_cjk

# The basic multilingual plane; a code point past it (emoji, CJK extension B) is left as it is
# (str.translate maps a character whose lookup raises IndexError to itself).
_TABLE_SIZE = 0x10000


@cache
def fold_table() -> Sequence[int | str]:
    """The table :func:`fold` translates with; built once per process (~0.1 s)."""
    simplified = simplified_cjk()
    table: list[int | str] = list(range(_TABLE_SIZE))
    for code in range(_TABLE_SIZE):
        char = chr(code)
        compatible = unicodedata.normalize("NFKC", char).lower()
        folded = "".join(simplified.get(c, c) for c in compatible)
        if folded != char:
            table[code] = folded
    return table


def fold(text: str) -> str:
    """``text`` simplified, compatibility forms folded and lower-cased, character by character."""
    return text.translate(fold_table())
