"""The compiled rule set: one shared automaton for every term and cue, regexes only for patterns.

A check normalises the draft once (``compact``), runs the automaton over it (rule terms, regex
triggers and the terms of every cue family in force), composes cue hits into rule hits, runs the
few regexes that are in force, and only when something matched does the slower work: exceptions,
mapping back to original offsets, de-duplication. Clean drafts, the common case, stop early.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from itertools import islice, pairwise, product

import ahocorasick_rs

from server.core.checker.model import CheckContext, CueFamily, Rule, Violation
from server.core.checker.normalize import BOUNDARIES, compact, deleted_positions, original_index
from server.core.checker.offsets import astral_positions, utf16_index

_LATIN = frozenset(string.ascii_lowercase)
EXCEPTION_REACH = 32  # characters around a hit in which its exceptions are looked for
_MEANINGFUL = re.compile(f"[^{re.escape(BOUNDARIES)}]")
_DEFAULT_CONTEXT = CheckContext()

# A match in compact (or, for raw patterns, original) coordinates:
# (start, end, rule index, the term's own rewrite or None).
_Hit = tuple[int, int, int, str | None]


# What one automaton pattern means for one rule or family, a plain tuple because the check loop
# unpacks it for every match: (rule or family index, kind, the rewrite, starts with a Latin
# letter). A Latin start must not follow a Latin letter (``sb`` is not in ``usb``); the end is
# not checked, since ``vx`` followed by the WeChat id (``vxkefu888``) is the evasion to catch.
_Entry = tuple[int, int, str | None, bool]
_TERM, _TRIGGER, _CUE = 0, 1, 2  # a violation; gates the rule's regexes; a cue family's term

# Cue hits of one check: family index → (start, end) in compact coordinates, in text order.
Cues = dict[int, list[tuple[int, int]]]
UNLESS_REACH = 12  # characters around a hit (within its clause) where ``unless`` cues count
DESPITE_REACH = 4  # a ``despite`` cue ending at most this far before a hit keeps it


@dataclass(frozen=True, slots=True)
class Trace:
    """What ``RuleSet.explain`` reports: cue hits, and each rule that fired or was excepted."""

    cues: dict[str, list[str]]  # family → the cue words found, in text order
    events: list[str]  # one line per composition or hit: fired, too far, excepted by what


@dataclass(frozen=True, slots=True)
class _Plan:
    """What runs for one context: the rules in force and their always-on regexes."""

    active: tuple[bool, ...]
    families: tuple[bool, ...]  # cue families some rule in force composes or is excepted by
    composed: tuple[int, ...]  # rules in force with a composition
    patterns: tuple[tuple[int, re.Pattern[str]], ...]  # of rules without triggers: run every time
    raw_patterns: tuple[tuple[int, re.Pattern[str]], ...]  # likewise
    whole_reply: tuple[int, ...]  # rules that judge the reply as a whole


class RuleSet:
    """Compiled rule packs; :meth:`check` is a pure function of (rules, text, context)."""

    def __init__(
        self, rules: tuple[Rule, ...], version: str, families: tuple[CueFamily, ...] = ()
    ) -> None:
        self.rules = rules
        self.version = version
        self.families = families
        family_index = {family.name: index for index, family in enumerate(families)}
        # Per rule: its compositions and unless families as family indices.
        self._compose = tuple(
            tuple(tuple(family_index[name] for name in names) for names in rule.compose)
            for rule in rules
        )
        self._unless = tuple(tuple(family_index[name] for name in rule.unless) for rule in rules)
        self._despite = tuple(tuple(family_index[name] for name in rule.despite) for rule in rules)
        entries: dict[str, list[_Entry]] = {}
        for index, rule in enumerate(rules):
            for term in rule.terms:
                suggestion = term.suggestion or rule.suggestion
                latin = term.normalized[0] in _LATIN
                entries.setdefault(term.normalized, []).append((index, _TERM, suggestion, latin))
            for trigger in rule.triggers:
                # A trigger only opens the gate to regexes, which check their own boundaries.
                entries.setdefault(trigger, []).append((index, _TRIGGER, None, False))
        for index, family in enumerate(families):
            for cue in family.terms:
                entries.setdefault(cue, []).append((index, _CUE, None, cue[0] in _LATIN))
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
        return self._check(text, context, None)

    def explain(self, text: str, context: CheckContext = _DEFAULT_CONTEXT) -> Trace:
        """Which cues matched in ``text`` and why each rule fired or was excepted (for authors)."""
        trace = Trace({}, [])
        self._check(text, context, trace)
        return trace

    def _check(self, text: str, context: CheckContext, trace: Trace | None) -> list[Violation]:
        plan = self._plans.get(context) or self._plan(context)
        folded = compact(text)
        hits: list[_Hit] = []
        triggered: set[int] = set()
        cues: Cues = {}
        active, families = plan.active, plan.families
        if self._automaton is not None:
            entries = self._entries
            for pattern, start, end in self._automaton.find_matches_as_indexes(
                folded, overlapping=True
            ):
                for index, kind, suggestion, latin in entries[pattern]:
                    if latin and start and folded[start - 1] in _LATIN:
                        continue
                    if kind == _CUE:
                        if families[index]:
                            cues.setdefault(index, []).append((start, end))
                    elif not active[index]:
                        continue
                    elif kind == _TRIGGER:
                        triggered.add(index)
                    else:
                        hits.append((start, end, index, suggestion))
        if trace is not None:
            for family, spans in sorted(cues.items()):
                words = [folded[start:end] for start, end in spans]
                trace.cues[self.families[family].name] = words
        if cues:
            for index in plan.composed:
                self._add_compositions(hits, folded, cues, index, trace)
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
        return self._report(text, folded, hits, raw_hits, cues, trace)

    def _add_compositions(
        self, hits: list[_Hit], folded: str, cues: Cues, index: int, trace: Trace | None
    ) -> None:
        """Hits of rule ``index`` where one of its compositions of cue families occurs.

        Every family of an alternative must have a hit; of all combinations, those whose span
        (first start to last end) fits the rule's window, crosses no clause boundary outside
        ``across``, has no cue lying inside another and, for an ordered rule, follows the listed
        order, become hits.
        """
        rule = self.rules[index]
        for alternative in self._compose[index]:
            if not all(family in cues for family in alternative):
                continue
            fired = False
            for spans in product(*(cues[family] for family in alternative)):
                start = min(span[0] for span in spans)
                end = max(span[1] for span in spans)
                if end - start > rule.window:
                    continue
                if rule.ordered and any(a[0] > b[0] for a, b in pairwise(spans)):
                    continue
                if _nested(spans):
                    continue  # 到付 inside 货到付款 is not a second cue; 不开 + 开票 may overlap
                if _crosses(folded, start, end, rule.across):
                    continue
                hits.append((start, end, index, None))
                fired = True
            if trace is not None:
                names = " + ".join(self.families[family].name for family in alternative)
                verdict = "composed" if fired else "too far apart, out of order or across a clause"
                trace.events.append(f"{rule.id}: {names}: {verdict}")

    def _plan(self, context: CheckContext) -> _Plan:
        active = tuple(rule.applies(context) for rule in self.rules)
        in_force = [(index, rule) for index, rule in enumerate(self.rules) if active[index]]
        used = {
            family
            for index, _ in in_force
            for family in (
                *self._unless[index],
                *self._despite[index],
                *(f for alternative in self._compose[index] for f in alternative),
            )
        }
        plan = _Plan(
            active=active,
            families=tuple(index in used for index in range(len(self.families))),
            composed=tuple(index for index, rule in in_force if rule.compose),
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
        self,
        text: str,
        folded: str,
        hits: list[_Hit],
        raw_hits: list[_Hit],
        cues: Cues,
        trace: Trace | None,
    ) -> list[Violation]:
        deleted = deleted_positions(text) if len(folded) != len(text) else []
        spans: list[_Hit] = list(raw_hits)
        for start, end, index, suggestion in hits:
            rule = self.rules[index]
            exceptions = rule.exception_regex
            if exceptions is not None and _excepted(exceptions, folded, start, end):
                if trace is not None:
                    trace.events.append(f"{rule.id}: {folded[start:end]}: excepted (exception)")
                continue
            clearing = self._unless[index] and self._clearing_cue(cues, index, folded, start, end)
            if clearing:
                if trace is not None:
                    trace.events.append(
                        f"{rule.id}: {folded[start:end]}: excepted by cue {clearing}"
                    )
                continue
            if trace is not None:
                trace.events.append(f"{rule.id}: {folded[start:end]}: fired ({rule.severity})")
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

    def _clearing_cue(self, cues: Cues, index: int, folded: str, start: int, end: int) -> str:
        """``family:word`` of an unless cue of rule ``index`` near the hit, or "".

        Near means within UNLESS_REACH characters and in the same clause as the hit (a boundary
        the rule composes ``across`` does not end it). A ``despite`` cue just before the hit
        (``加我`` before ``微信``) keeps it whatever follows.
        """
        across = self.rules[index].across
        for family in self._despite[index]:
            for _, cue_end in cues.get(family, ()):
                if start - DESPITE_REACH <= cue_end <= start and not _crosses(
                    folded, cue_end, start, ""
                ):
                    return ""
        for family in self._unless[index]:
            for cue_start, cue_end in cues.get(family, ()):
                if cue_end < start - UNLESS_REACH or cue_start > end + UNLESS_REACH:
                    continue
                if not _crosses(folded, min(cue_start, start), max(cue_end, end), across):
                    return f"{self.families[family].name}:{folded[cue_start:cue_end]}"
        return ""

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


def _nested(spans: tuple[tuple[int, int], ...]) -> bool:
    """Whether one of the cue spans lies inside another (or two are the same place)."""
    return any(
        a[0] <= b[0] and b[1] <= a[1]
        for i, a in enumerate(spans)
        for j, b in enumerate(spans)
        if i != j
    )


def _crosses(folded: str, start: int, end: int, across: str) -> bool:
    """Whether ``folded[start:end]`` holds a clause boundary that is not one of ``across``."""
    return any(char in BOUNDARIES and char not in across for char in folded[start:end])


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
