"""The characters a regex match can start with, so exceptions are only tried where they may start.

Python's regex engine scans fast only for a pattern that opens with a literal or a character
class; an exception gate is an alternation of groups (``(?:不能|无法)保证|…``), so every position
of the window pays for every alternative (2.4 µs per hit on the labelled mix). A class of the
possible first characters, searched first, finds the few positions worth a match.

This reads the parse tree of ``re`` (``re._parser``, the module the engine itself compiles
from); a construct it does not know makes it answer None, and the caller then searches as before.
"""

from __future__ import annotations

import re
from re import _constants as constants  # type: ignore[attr-defined]
from re import _parser as parser  # type: ignore[attr-defined]
from typing import Any, cast

_MAX_CLASS = 512  # a range wider than this (\w, [^,]) is not worth a first-character scan


def first_chars(source: str) -> frozenset[str] | None:
    """Every character a match of ``source`` can start with.

    None when the pattern can match the empty string or start with too many characters.
    """
    chars = _first(parser.parse(source).data)
    if not chars or None in chars:
        return None
    return frozenset(char for char in chars if char is not None)


def max_width(source: str) -> int:
    """The most characters a match of ``source`` can span (a huge number when unbounded)."""
    return int(parser.parse(source).getwidth()[1])


def char_class(chars: frozenset[str]) -> re.Pattern[str]:
    """A regex finding any of ``chars``."""
    return re.compile("[" + "".join(re.escape(char) for char in sorted(chars)) + "]")


def _first(items: list) -> set[str | None]:
    """First characters of a sequence of parsed items; None in the set: may be empty/unknown."""
    result: set[str | None] = set()
    for op, value in items:
        found = _first_of(op, value)
        if found is _UNKNOWN:
            return {None, *result}
        result |= found - {None}
        if None not in found:
            return result  # this item cannot be empty: later ones never start the match
    return {None, *result}


_UNKNOWN: set[str | None] = {None}


def _first_of(op: object, value: object) -> set[str | None]:
    if op is constants.LITERAL:
        return {chr(value)}  # type: ignore[arg-type]
    if op is constants.IN:
        return _class(value)  # type: ignore[arg-type]
    if op is constants.CATEGORY:
        return _class([(op, value)])
    if op is constants.BRANCH:
        found: set[str | None] = set()
        for branch in value[1]:  # type: ignore[index]
            found |= _first(branch.data)
        return found
    if op is constants.SUBPATTERN:
        return _first(value[-1].data)  # type: ignore[index]
    if op in (constants.MAX_REPEAT, constants.MIN_REPEAT, constants.POSSESSIVE_REPEAT):
        low, _, item = cast(tuple[int, int, Any], value)
        found = _first(item.data)
        return found | {None} if low == 0 else found
    if op is constants.AT:
        return {None}  # an anchor matches no character: what follows starts the match
    return _UNKNOWN


def _class(items: list) -> set[str | None]:
    chars = class_chars(items, _MAX_CLASS)
    return _UNKNOWN if chars is None else set(chars)


def class_chars(items: list, widest: int) -> set[str] | None:
    """The characters of a parsed character class; None for negation, categories such as \\w,
    or a range wider than ``widest``."""
    chars: set[str] = set()
    for op, value in items:
        if op is constants.LITERAL:
            chars.add(chr(value))
        elif op is constants.RANGE and value[1] - value[0] < widest:
            chars.update(chr(code) for code in range(value[0], value[1] + 1))
        elif op is constants.CATEGORY and value is constants.CATEGORY_DIGIT:
            chars.update("0123456789")  # the compact text has ASCII digits only
        else:
            return None
    return chars
