"""Traditional → simplified Chinese, character by character, for the text normalisers.

The checker's ``compact`` and the suggester's ``fold`` both read buyers and agents who type
traditional characters; this is the one table they share, built once per process.
"""

from __future__ import annotations

from functools import cache

import opencc

_CJK_FIRST, _CJK_END = 0x3400, 0xA000


@cache
def simplified_cjk() -> dict[str, str]:
    """Traditional → simplified for each CJK character, from one OpenCC call over the blocks.

    OpenCC converts phrases, but code-point order forms no phrase, so the output has the same
    length; we check that rather than trust it.
    """
    block = "".join(map(chr, range(_CJK_FIRST, _CJK_END))) + "".join(
        map(chr, range(0xF900, 0xFB00))
    )
    converted = opencc.OpenCC("t2s").convert(block)
    if len(converted) != len(block):  # pragma: no cover - guards an OpenCC upgrade
        converted = "".join(opencc.OpenCC("t2s").convert(char) or char for char in block)
    return {
        old: new for old, new in zip(block, converted, strict=True) if old != new and len(new) == 1
    }
