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
from functools import cache

import ahocorasick_rs

from server.core.checker.literals import literal_prefixes
from server.core.checker.model import CheckContext, CueFamily, Rule, Violation
from server.core.checker.normalize import BOUNDARIES, compact, deleted_positions, original_index
from server.core.checker.offsets import astral_positions, utf16_index
from server.core.checker.plan import EXCEPTION, SKIP, TERM, TRIGGER, Plan, Roles, build_plan

_LATIN = frozenset(string.ascii_lowercase)
EXCEPTION_REACH = 32  # characters around a hit in which its exceptions are looked for
_ANY_BOUNDARY = re.compile(f"[{re.escape(BOUNDARIES)}]")
_DEFAULT_CONTEXT = CheckContext()

# A match in compact (or, for raw patterns, original) coordinates:
# (start, end, rule index, the term's own rewrite or None).
_Hit = tuple[int, int, int, str | None]


# Cue hits of one check: family index → (start, end) in compact coordinates, in text order.
Cues = dict[int, list[tuple[int, int]]]
UNLESS_REACH = 12  # characters around a hit (within its clause) where ``unless`` cues count
# A rule whose unless cues reach across clauses (the reason a clause before the refusal:
# 定制的商品是按您的尺寸做的，不支持无理由退货) looks this far.
UNLESS_REACH_ACROSS = 24
DESPITE_REACH = 2  # a ``despite`` cue ending at most this far before a hit keeps it (加我微信)


@dataclass(frozen=True, slots=True)
class Trace:
    """What ``RuleSet.explain`` reports: cue hits, and each rule that fired or was excepted."""

    cues: dict[str, list[str]]  # family → the cue words found, in text order
    events: list[str]  # one line per composition or hit: fired, too far, excepted by what


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
        # Clause boundaries a composition of each rule may not cross (None: it may cross all).
        self._boundaries = tuple(_boundary_regex(rule.across) for rule in rules)
        # An unless cue reaches as far as the composition may, and across ``unless_across`` too.
        self._unless_boundaries = tuple(
            _boundary_regex(rule.across + rule.unless_across) for rule in rules
        )
        self._unless_reach = tuple(
            UNLESS_REACH_ACROSS if rule.unless_across else UNLESS_REACH for rule in rules
        )
        # Per rule: whether every match of its patterns starts with one of its triggers, so the
        # patterns are searched from the first trigger found, not from the start of the draft.
        self._from_trigger = tuple(_starts_with_trigger(rule) for rule in rules)
        terms: dict[str, list[tuple[int, str | None]]] = {}
        triggers: dict[str, list[int]] = {}
        cues: dict[str, list[int]] = {}
        exceptions: dict[str, list[int]] = {}
        for index, rule in enumerate(rules):
            for term in rule.terms:
                terms.setdefault(term.normalized, []).append(
                    (index, term.suggestion or rule.suggestion)
                )
            for trigger in rule.triggers:
                triggers.setdefault(trigger, []).append(index)
            for literal in rule.exception_literals:
                exceptions.setdefault(literal, []).append(index)
        for index, family in enumerate(families):
            for cue in family.terms:
                cues.setdefault(cue, []).append(index)
        words = list(dict.fromkeys([*terms, *triggers, *cues, *exceptions]))
        # A Latin term or cue must not follow a Latin letter (``sb`` is not in ``usb``); the end is
        # not checked, since ``vx`` followed by the WeChat id (``vxkefu888``) is the evasion to
        # catch. A trigger only opens the gate to regexes, which check their own boundaries.
        self._roles: tuple[Roles, ...] = tuple(
            (
                word[0] in _LATIN and (word in terms or word in cues),
                tuple(cues.get(word, ())),
                tuple(terms.get(word, ())),
                tuple(triggers.get(word, ())),
                tuple(exceptions.get(word, ())),
            )
            for word in words
        )
        self._automaton = (
            ahocorasick_rs.AhoCorasick(words, implementation=ahocorasick_rs.Implementation.DFA)
            if words
            else None
        )
        self._plans: dict[CheckContext, Plan] = {}
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
        triggered: dict[int, list[int]] = {}  # rule → where its triggers start
        cues: Cues = {}
        excepted: Cues = {}  # rule → spans of its exception literals
        if self._automaton is not None:
            cue_family, roles = plan.cue_family, plan.roles
            for pattern, start, end in self._automaton.find_matches_as_indexes(
                folded, overlapping=True
            ):
                family = cue_family[pattern]
                if family >= 0:
                    spans = cues.get(family)
                    if spans is None:
                        cues[family] = [(start, end)]
                    elif spans[-1][1] != end:
                        spans.append((start, end))
                    elif start < spans[-1][0]:
                        spans[-1] = (start, end)  # 发票 after 票: one cue, the longer word
                    continue
                if family == EXCEPTION:
                    excepted.setdefault(roles[pattern], []).append((start, end))  # type: ignore[arg-type]
                    continue
                if family == TERM:
                    index, suggestion = roles[pattern]  # type: ignore[misc]
                    hits.append((start, end, index, suggestion))
                    continue
                if family == TRIGGER:
                    triggered.setdefault(roles[pattern], []).append(start)  # type: ignore[arg-type]
                    continue
                if family == SKIP:
                    continue
                latin, families, terms, triggers, exceptions = roles[pattern]  # type: ignore[misc]
                if latin and start and folded[start - 1] in _LATIN:
                    continue
                for family in families:
                    cues.setdefault(family, []).append((start, end))
                for index, suggestion in terms:
                    hits.append((start, end, index, suggestion))
                for index in triggers:
                    triggered.setdefault(index, []).append(start)
                for index in exceptions:
                    excepted.setdefault(index, []).append((start, end))
        if cues:
            pairs = plan.pairs
            for family in cues:
                for second, index in pairs.get(family, ()):
                    if second in cues:
                        self._add_composition(hits, folded, cues, index, family, second, trace)
        if trace is not None:
            for family, spans in sorted(cues.items()):
                words = [folded[start:end] for start, end in spans]
                trace.cues[self.families[family].name] = words
        for index, regex in plan.patterns:
            _add_regex_hits(hits, regex, folded, index)
        raw_hits: list[_Hit] = []
        for index, regex in plan.raw_patterns:
            _add_regex_hits(raw_hits, regex, text, index)
        for index, starts in triggered.items():
            rule = self.rules[index]
            if self._from_trigger[index]:
                # Every match starts with a trigger: try the patterns there and nowhere else.
                for regex in rule.patterns:
                    for position in starts:
                        found = regex.match(folded, position)
                        if found is not None and found.end() > position:
                            hits.append((position, found.end(), index, None))
            else:
                for regex in rule.patterns:
                    _add_regex_hits(hits, regex, folded, index)
            for regex in rule.raw_patterns:
                _add_regex_hits(raw_hits, regex, text, index)
        if plan.whole_reply and (core := folded.strip(BOUNDARIES)):
            for index in plan.whole_reply:
                if _whole_reply_breaks(self.rules[index], core):
                    hits.append((0, len(folded), index, None))
        if not hits and not raw_hits:
            return []
        return self._report(text, folded, hits, raw_hits, cues, excepted, trace)

    def _add_composition(
        self,
        hits: list[_Hit],
        folded: str,
        cues: Cues,
        index: int,
        first: int,
        second: int,
        trace: Trace | None,
    ) -> None:
        """Hits of rule ``index`` where a cue of family ``first`` and one of ``second`` compose.

        Of all pairs, those whose span (first start to last end) fits the rule's window, cross no
        clause boundary outside ``across``, come, for an ordered rule, in the listed order and
        whose cues do not lie inside a cue of the other family (到付 inside any 货到付款 is not
        a charge; 不开 + 开票 may overlap), become hits.
        """
        rule = self.rules[index]
        window, ordered, boundaries = rule.window, rule.ordered, self._boundaries[index]
        fired = False
        firsts, seconds = cues[first], cues[second]
        for start_a, end_a in firsts:
            for start_b, end_b in seconds:
                if ordered and start_a > start_b:
                    continue
                start = start_a if start_a < start_b else start_b
                end = end_a if end_a > end_b else end_b
                if end - start > window:
                    continue
                if boundaries is not None and boundaries.search(folded, start, end):
                    continue
                if _covered(seconds, start_a, end_a) or _covered(firsts, start_b, end_b):
                    continue
                hits.append((start, end, index, None))
                fired = True
        if trace is not None:
            names = f"{self.families[first].name} + {self.families[second].name}"
            verdict = "composed" if fired else "too far apart, out of order or across a clause"
            trace.events.append(f"{rule.id}: {names}: {verdict}")

    def _plan(self, context: CheckContext) -> Plan:
        unless = tuple(
            unless + despite for unless, despite in zip(self._unless, self._despite, strict=True)
        )
        plan = build_plan(self.rules, self._roles, self._compose, unless, context)
        self._plans[context] = plan
        return plan

    def _report(
        self,
        text: str,
        folded: str,
        hits: list[_Hit],
        raw_hits: list[_Hit],
        cues: Cues,
        excepted: Cues,
        trace: Trace | None,
    ) -> list[Violation]:
        kept: list[_Hit] = []
        for hit in hits:
            start, end, index, _ = hit
            rule = self.rules[index]
            literals = excepted.get(index)
            if (
                literals is not None
                and _covered(literals, start, end)
                or rule.exception_gate is not None
                and _excepted(rule, folded, start, end)
            ):
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
            kept.append(hit)
        if not kept and not raw_hits:
            return []  # every hit excepted: the common case of a tricky clean draft
        spans: list[_Hit] = list(raw_hits)
        deleted = deleted_positions(text) if len(folded) != len(text) else []
        for start, end, index, suggestion in kept:
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

        Near means within UNLESS_REACH characters (UNLESS_REACH_ACROSS for a rule with
        ``unless_across``) and in the same clause as the hit (a boundary
        in the rule's ``across`` or ``unless_across`` does not end it). A ``despite`` cue just
        before the hit (``加我`` before ``微信``) keeps it whatever follows.
        """
        for family in self._despite[index]:
            for _, cue_end in cues.get(family, ()):
                if start - DESPITE_REACH <= cue_end <= start and not _ANY_BOUNDARY.search(
                    folded, cue_end, start
                ):
                    return ""
        reach = self._unless_reach[index]
        for family in self._unless[index]:
            for cue_start, cue_end in cues.get(family, ()):
                if cue_end < start - reach or cue_start > end + reach:
                    continue
                boundaries = self._unless_boundaries[index]
                if boundaries is None or not boundaries.search(
                    folded, min(cue_start, start), max(cue_end, end)
                ):
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


def _covered(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether one of ``spans`` covers ``start:end`` (an exception literal, a longer cue)."""
    # A loop, not any() over a generator: this runs for most hits, and the generator doubles it.
    for low, high in spans:  # noqa: SIM110
        if low <= start and end <= high:
            return True
    return False


def _starts_with_trigger(rule: Rule) -> bool:
    """Whether every match of the rule's patterns starts with one of its triggers."""
    if not rule.triggers or not rule.patterns:
        return False
    for regex in rule.patterns:
        prefixes = literal_prefixes(regex.pattern)
        if prefixes is None or not all(prefix.startswith(rule.triggers) for prefix in prefixes):
            return False
    return True


def _boundary_regex(across: str) -> re.Pattern[str] | None:
    """A regex finding the clause boundaries that are not in ``across`` (None: there are none)."""
    kept = "".join(char for char in BOUNDARIES if char not in across)
    return re.compile(f"[{re.escape(kept)}]") if kept else None


def _add_regex_hits(hits: list[_Hit], regex: re.Pattern[str], text: str, rule: int) -> None:
    # search, not finditer: most drafts hold no match, and a failed search costs a third less.
    found = regex.search(text)
    while found is not None:
        start, end = found.span()
        if end > start:
            hits.append((start, end, rule, None))
        found = regex.search(text, end if end > start else end + 1)


def _whole_reply_breaks(rule: Rule, core: str) -> bool:
    """Whether the whole reply is too short, or nothing but particles such as 哦/嗯.

    ``core`` is the compact reply without leading and trailing clause punctuation (never empty:
    nothing but punctuation or emoji is not a worded reply at all).
    """
    if (
        rule.only_chars is not None
        and core[0] in rule.only_chars
        and not core.strip(rule.only_chars + BOUNDARIES)
    ):
        return True
    return rule.shorter_than is not None and not _at_least(rule.shorter_than).match(core)


@cache
def _at_least(count: int) -> re.Pattern[str]:
    """Matches a text holding ``count`` characters that are not clause punctuation.

    Other punctuation is gone from the compact text already; the regex stops after ``count``
    of them, so a long reply costs no more than a short one.
    """
    boundary = re.escape(BOUNDARIES)
    return re.compile(f"(?:[{boundary}]*[^{boundary}]){{{count}}}")


def _excepted(rule: Rule, folded: str, start: int, end: int) -> bool:
    """Whether one of ``rule``'s exceptions covers ``folded[start:end]``.

    Only a window of EXCEPTION_REACH characters either side of the hit is searched: exceptions
    are context words, and scanning a whole 200-character draft per hit tripled the check time.
    When the exceptions' first characters are known, a class finds where one may start and only
    the exceptions starting with that character are matched there; otherwise the gate finds
    where some exception starts and the joined regex, matched there, tells how far each one
    reaches (``Rule.exception_regex``).
    """
    gate, joined = rule.exception_gate, rule.exception_regex
    assert gate is not None and joined is not None
    position = max(0, start - EXCEPTION_REACH)
    window_end = min(len(folded), end + EXCEPTION_REACH)
    if rule.exception_first is not None and rule.exception_by_char is not None:
        # Only where an exception can start and still reach the hit's end, no later than the
        # hit, and only the exceptions starting with that character and wide enough.
        by_char = rule.exception_by_char
        lowest = max(position, end - rule.exception_width)
        for candidate in rule.exception_first.finditer(folded, lowest, start + 1):
            at = candidate.start()
            for exception, width in by_char[folded[at]]:
                found = at + width >= end and exception.match(folded, at, window_end)
                if found and found.end() >= end:
                    return True
        return False
    while (found := gate.search(folded, position, window_end)) and found.start() <= start:
        captured = joined.match(folded, found.start(), window_end)
        if captured and any(captured.end(group) >= end for group in range(1, joined.groups + 1)):
            return True
        position = found.start() + 1
    return False
