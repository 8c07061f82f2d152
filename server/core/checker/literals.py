"""A regex that can match only a few strings, as those strings: exceptions become automaton terms.

Most exception patterns are finite alternations (``(?:不能|无法|不)(?:绝对)?(?:保证|肯定)``). Tried
as regexes, every hit of their rule pays for a regex match at each place one may start; spelled
out as literals, they join the one automaton every check already runs, and an exception covering
a hit is a comparison of two spans. A pattern with a lookaround, an anchor, an open repeat or a
wide class has no such spelling and stays a regex.

This reads the parse tree of ``re`` (``re._parser``) like ``firstchars`` does; a construct it does
not know makes the answer None.
"""

from __future__ import annotations

from itertools import product
from re import _constants as constants  # type: ignore[attr-defined]
from re import _parser as parser  # type: ignore[attr-defined]
from typing import Any, cast

from server.core.checker.firstchars import class_chars

MAX_LITERALS = 512  # a pattern spelling out to more strings than this stays a regex
_MAX_CLASS = 64  # a character class wider than this is not spelled out (\w, [^,])


class _Unbounded(Exception):
    """The pattern matches too many strings, or uses a construct with no literal spelling."""


def literal_strings(source: str) -> tuple[str, ...] | None:
    """Every string ``source`` can match, in a stable order; None when there are too many."""
    try:
        strings = _sequence(parser.parse(source).data)
    except _Unbounded:
        return None
    if "" in strings:
        return None  # an exception that can be empty would cover nothing, or everything
    return tuple(sorted(strings))


def _sequence(items: list) -> set[str]:
    strings = {""}
    for op, value in items:
        choices = _item(op, value)
        strings = {head + tail for head, tail in product(strings, choices)}
        if len(strings) > MAX_LITERALS:
            raise _Unbounded
    return strings


def _item(op: object, value: object) -> set[str]:
    if op is constants.LITERAL:
        return {chr(value)}  # type: ignore[arg-type]
    if op is constants.IN:
        return _class(value)  # type: ignore[arg-type]
    if op is constants.BRANCH:
        found: set[str] = set()
        for branch in value[1]:  # type: ignore[index]
            found |= _sequence(branch.data)
        return found
    if op is constants.SUBPATTERN:
        if value[1] or value[2]:  # type: ignore[index]
            raise _Unbounded  # inline flags change what a literal means
        return _sequence(value[-1].data)  # type: ignore[index]
    if op in (constants.MAX_REPEAT, constants.MIN_REPEAT, constants.POSSESSIVE_REPEAT):
        low, high, item = cast(tuple[int, int, Any], value)
        if high is constants.MAXREPEAT or high > 4:
            raise _Unbounded
        once = _sequence(item.data)
        found = set()
        for count in range(low, high + 1):
            found |= {"".join(parts) for parts in product(once, repeat=count)}
        return found
    raise _Unbounded  # anchors, lookarounds, categories, backreferences


def _class(items: list) -> set[str]:
    chars = class_chars(items, _MAX_CLASS)
    if chars is None or len(chars) > _MAX_CLASS:
        raise _Unbounded  # negation, \\w, wide ranges
    return chars


def literal_prefixes(source: str) -> set[str] | None:
    """Strings one of which every match of ``source`` starts with; None when unknown or empty.

    The items of the pattern are spelled out from its start while they have a literal spelling;
    the first that has none ends the prefixes (``(?:开票|发票)[^,]{0,6}`` gives 开票, 发票).
    """
    prefixes = {""}
    for op, value in parser.parse(source).data:
        try:
            choices = _item(op, value)
        except _Unbounded:
            break
        longer = {head + tail for head, tail in product(prefixes, choices)}
        if len(longer) > MAX_LITERALS:
            break
        prefixes = longer
    return None if "" in prefixes else prefixes


def literal_factors(source: str) -> set[str] | None:
    """Strings one of which every match of ``source`` contains; None when unknown or empty.

    Like :func:`literal_prefixes`, from any run of items that have a literal spelling, not only
    the first: ``\\d+克`` gives 克, ``(?<!不)满意`` gives 满意, ``打开.{0,6}(?:都是|就是)`` gives
    打开. Of the runs, the one whose shortest string is longest (the rarest gate) is kept.
    """
    best: set[str] | None = None
    run = {""}
    for op, value in [*parser.parse(source).data, (None, None)]:  # None ends the last run
        try:
            choices = _item(op, value) if op is not None else None
        except _Unbounded:
            choices = None
        longer = None if choices is None else {h + t for h, t in product(run, choices)}
        if longer is not None and len(longer) <= MAX_LITERALS:
            run = longer
            continue
        if "" not in run and (best is None or min(map(len, run)) > min(map(len, best))):
            best = run
        run = {""} if choices is None else choices
    return best
