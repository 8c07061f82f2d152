"""The compiled rule set: one shared automaton for every term, regexes only for patterns.

A check normalises the draft once (``compact``), runs the automaton over it, runs the few regexes
that are in force, and only when something matched does the slower work: exceptions, mapping
back to original offsets, de-duplication. Clean drafts, the common case, stop early.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from itertools import islice

import ahocorasick_rs

from server.core.checker.model import CheckContext, Rule, Violation
from server.core.checker.normalize import BOUNDARIES, compact, deleted_positions, original_index
from server.core.checker.offsets import astral_positions, utf16_index

_LATIN = frozenset(string.ascii_lowercase)
EXCEPTION_REACH = 32  # characters around a hit in which its exceptions are looked for
_MEANINGFUL = re.compile(f"[^{re.escape(BOUNDARIES)}]")
_DEFAULT_CONTEXT = CheckContext()

# A match in compact (or, for raw patterns, original) coordinates:
# (start, end, rule index, the term's own rewrite or None).
_Hit = tuple[int, int, int, str | None]


# What one automaton pattern means for one rule, a plain tuple because the check loop unpacks
# it for every match: (rule index, is a trigger (gates the rule's regexes instead of being a
# violation), the rewrite, starts with a Latin letter). A Latin start must not follow a Latin
# letter (``sb`` is not in ``usb``); the end is not checked, since ``vx`` followed by the WeChat
# id (``vxkefu888``) is the evasion to catch.
_Entry = tuple[int, bool, str | None, bool]


@dataclass(frozen=True, slots=True)
class _Plan:
    """What runs for one context: the rules in force and their always-on regexes."""

    active: tuple[bool, ...]
    patterns: tuple[tuple[int, re.Pattern[str]], ...]  # of rules without triggers: run every time
    raw_patterns: tuple[tuple[int, re.Pattern[str]], ...]  # likewise
    whole_reply: tuple[int, ...]  # rules that judge the reply as a whole


class RuleSet:
    """Compiled rule packs; :meth:`check` is a pure function of (rules, text, context)."""

    def __init__(self, rules: tuple[Rule, ...], version: str) -> None:
        self.rules = rules
        self.version = version
        entries: dict[str, list[_Entry]] = {}
        for index, rule in enumerate(rules):
            for term in rule.terms:
                suggestion = term.suggestion or rule.suggestion
                latin = term.normalized[0] in _LATIN
                entries.setdefault(term.normalized, []).append((index, False, suggestion, latin))
            for trigger in rule.triggers:
                # A trigger only opens the gate to regexes, which check their own boundaries.
                entries.setdefault(trigger, []).append((index, True, None, False))
        self._entries = tuple(tuple(group) for group in entries.values())
        self._automaton = (
            ahocorasick_rs.AhoCorasick(
                list(entries), implementation=ahocorasick_rs.Implementation.DFA
            )
            if entries
            else None
        )
        self._plans: dict[CheckContext, _Plan] = {}
        deleted_positions(compact(" "))  # build the normalisation tables now, not on a request

    def check(self, text: str, context: CheckContext = _DEFAULT_CONTEXT) -> list[Violation]:
        """Every violation in ``text``, sorted by start (UTF-16 offsets of ``text``)."""
        plan = self._plans.get(context) or self._plan(context)
        folded = compact(text)
        hits: list[_Hit] = []
        triggered: set[int] = set()
        active = plan.active
        if self._automaton is not None:
            entries = self._entries
            for pattern, start, end in self._automaton.find_matches_as_indexes(
                folded, overlapping=True
            ):
                for index, trigger, suggestion, latin in entries[pattern]:
                    if not active[index] or (latin and start and folded[start - 1] in _LATIN):
                        continue
                    if trigger:
                        triggered.add(index)
                    else:
                        hits.append((start, end, index, suggestion))
        for index, regex in plan.patterns:
            _add_regex_hits(hits, regex, folded, index)
        raw_hits: list[_Hit] = []
        for index, regex in plan.raw_patterns:
            _add_regex_hits(raw_hits, regex, text, index)
        for index in triggered:
            rule = self.rules[index]
            for regex in rule.patterns:
                _add_regex_hits(hits, regex, folded, index)
            for regex in rule.raw_patterns:
                _add_regex_hits(raw_hits, regex, text, index)
        for index in plan.whole_reply:
            if folded and _whole_reply_breaks(self.rules[index], folded):
                hits.append((0, len(folded), index, None))
        if not hits and not raw_hits:
            return []
        return self._report(text, folded, hits, raw_hits)

    def _plan(self, context: CheckContext) -> _Plan:
        active = tuple(rule.applies(context) for rule in self.rules)
        in_force = [(index, rule) for index, rule in enumerate(self.rules) if active[index]]
        plan = _Plan(
            active=active,
            patterns=tuple(
                (index, regex)
                for index, rule in in_force
                if not rule.triggers
                for regex in rule.patterns
            ),
            raw_patterns=tuple(
                (index, regex)
                for index, rule in in_force
                if not rule.triggers
                for regex in rule.raw_patterns
            ),
            whole_reply=tuple(
                index for index, rule in in_force if rule.shorter_than or rule.only_chars
            ),
        )
        self._plans[context] = plan
        return plan

    def _report(
        self, text: str, folded: str, hits: list[_Hit], raw_hits: list[_Hit]
    ) -> list[Violation]:
        deleted = deleted_positions(text) if len(folded) != len(text) else []
        spans: list[_Hit] = list(raw_hits)
        for start, end, index, suggestion in hits:
            exceptions = self.rules[index].exception_regex
            if exceptions is not None and _excepted(exceptions, folded, start, end):
                continue
            if deleted:
                start, end = original_index(deleted, start), original_index(deleted, end - 1) + 1
            spans.append((start, end, index, suggestion))
        astral = astral_positions(text)
        violations = []
        for start, end, index, suggestion in self._deduplicate(spans):
            rule = self.rules[index]
            violations.append(
                Violation(
                    rule=rule.id,
                    category=rule.category,
                    severity=rule.severity,
                    start=utf16_index(astral, start),
                    end=utf16_index(astral, end),
                    match=text[start:end],
                    message=rule.message,
                    suggestion=suggestion or rule.suggestion,
                )
            )
        return violations

    def _deduplicate(self, spans: list[_Hit]) -> list[_Hit]:
        """Drop a hit inside another of its category; join hits of one rule that overlap.

        The automaton reports overlapping matches (``微信`` inside ``加微信``, ``加我v`` and
        ``vx`` in ``加我vx``): one highlight per place, covering all of it, is what the agent
        needs. A joined highlight keeps a rewrite only if both parts had the same one.
        """
        chosen: list[_Hit] = []
        for span in sorted(spans, key=lambda hit: (hit[0], -hit[1], hit[2])):
            start, end, index, suggestion = span
            category = self.rules[index].category
            for position, (other_start, other_end, other_index, other_suggestion) in enumerate(
                chosen
            ):
                if not other_start <= start < other_end:
                    continue
                if other_index == index:
                    if end > other_end:
                        joined = other_suggestion if other_suggestion == suggestion else None
                        chosen[position] = (other_start, end, index, joined)
                    break
                if self.rules[other_index].category == category and end <= other_end:
                    break
            else:
                chosen.append(span)
        return chosen


def _add_regex_hits(hits: list[_Hit], regex: re.Pattern[str], text: str, rule: int) -> None:
    for match in regex.finditer(text):
        start, end = match.span()
        if end > start:
            hits.append((start, end, rule, None))


def _whole_reply_breaks(rule: Rule, folded: str) -> bool:
    """Whether the whole reply is too short, or nothing but particles such as 哦/嗯."""
    if not folded.strip(BOUNDARIES):
        return False  # nothing but punctuation or emoji: not a worded reply at all
    if rule.only_chars is not None and not folded.strip(rule.only_chars + BOUNDARIES):
        return True
    if rule.shorter_than is None:
        return False
    # Count meaningful characters only up to the limit: a long reply stops early.
    meaningful = _MEANINGFUL.finditer(folded)
    return sum(1 for _ in islice(meaningful, rule.shorter_than)) < rule.shorter_than


def _excepted(exceptions: re.Pattern[str], folded: str, start: int, end: int) -> bool:
    """Whether an exception covers ``folded[start:end]`` (see ``Rule.exception_regex``).

    Only a window of EXCEPTION_REACH characters either side of the hit is searched: exceptions
    are context words, and scanning a whole 200-character draft per hit tripled the check time.
    """
    position = max(0, start - EXCEPTION_REACH)
    window_end = min(len(folded), end + EXCEPTION_REACH)
    while (found := exceptions.search(folded, position, window_end)) and found.start() <= start:
        if any(found.end(group) >= end for group in range(1, exceptions.groups + 1)):
            return True
        position = found.start() + 1
    return False
