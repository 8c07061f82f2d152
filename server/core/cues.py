"""Which of many regex cue families a short text matches, in one automaton pass.

The intent cues are ~50 families, each an alternation of mostly plain words (``退货|退款|…``).
Searched one by one, every family walks the whole text trying every alternative at every
position: 52 searches, ~14 µs a buyer line, a third of a suggestion. Most alternatives spell a
few fixed strings, so they are spelled out (``checker.literals``) into one Aho-Corasick automaton
that finds every family they belong to in a single pass. The alternatives that have no such
spelling (an anchor, a lookbehind, ``\\d+``, ``.{0,8}``) stay regexes, one per family, searched
only when the same pass found a word every match of them contains (``checker.literals.
literal_factors``: 克 for ``\\d+克``) and the family is not found already.

A family matches exactly when its original pattern would (``re.search``): the branches of a
top-level alternation are independent, and a branch with a finite spelling matches exactly
where one of its strings occurs. tests/core/test_cues.py holds the equivalence on every line of
the labelled sets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import ahocorasick_rs

from server.core.checker.literals import literal_factors, literal_strings


class CueSet:
    """Families of patterns, numbered in the order given; :meth:`matched` names those found."""

    __slots__ = ("_automaton", "_words", "_always", "_residual")

    def __init__(self, patterns: Sequence[str]) -> None:
        # word -> (families it spells a branch of, residual regexes it gates)
        words: dict[str, tuple[list[int], list[int]]] = {}
        residual: list[tuple[int, re.Pattern[str]]] = []
        always: list[int] = []  # residuals with a branch no word gates
        for family, pattern in enumerate(patterns):
            left = []
            for branch in top_level_branches(pattern):
                strings = literal_strings(branch)
                if strings is None:
                    left.append(branch)
                    continue
                for string in strings:
                    _add(words.setdefault(string, ([], []))[0], family)
            if not left:
                continue
            gates: set[str] = set()
            for branch in left:
                factors = literal_factors(branch)
                if factors is None:
                    always.append(len(residual))
                    break
                gates |= factors
            else:
                for string in gates:
                    _add(words.setdefault(string, ([], []))[1], len(residual))
            residual.append((family, re.compile("|".join(left))))
        self._words = tuple((tuple(spelt), tuple(gated)) for spelt, gated in words.values())
        self._automaton = (
            ahocorasick_rs.AhoCorasick(
                list(words), implementation=ahocorasick_rs.Implementation.DFA
            )
            if words
            else None
        )
        self._always = tuple(always)
        self._residual = tuple(residual)

    def matched(self, text: str) -> list[int]:
        """The families ``text`` matches (each as ``re.search`` would), in ascending order."""
        found: set[int] = set()
        gated = set(self._always)
        if self._automaton is not None:
            words = self._words
            for word, _start, _end in self._automaton.find_matches_as_indexes(
                text, overlapping=True
            ):
                spelt, gates = words[word]
                found.update(spelt)
                gated.update(gates)
        for index in gated:
            family, pattern = self._residual[index]
            if family not in found and pattern.search(text):
                found.add(family)
        return sorted(found)


def _add(items: list[int], item: int) -> None:
    if item not in items:
        items.append(item)


def top_level_branches(pattern: str) -> list[str]:
    """``pattern`` split at the ``|`` that are outside every group and character class."""
    branches: list[str] = []
    depth = start = 0
    class_start = -2  # where the open character class's items begin
    in_class = escaped = False
    for position, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]" or position == class_start + 1  # []...] holds a literal ]
        elif char == "[":
            in_class, class_start = True, position + (pattern[position + 1 : position + 2] == "^")
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            branches.append(pattern[start:position])
            start = position + 1
    branches.append(pattern[start:])
    return branches
